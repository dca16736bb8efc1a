"""Counters recomputed from the rows themselves: for `stats rebuild` (repair) and `stats check`.

The recount applies the same contribution functions as the listener to every document,
delivery and status, streaming, so it is the reference the live counters are checked against.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, false, select

from app.delivery.models import Delivery
from app.documents.models import Document, StatusMessage
from app.stats.counters import (
    AXIS,
    COLUMNS,
    DeliveryRow,
    DocRow,
    StatusRow,
    Tally,
    delivery_contribution,
    document_contribution,
    status_contribution,
)
from app.stats.listener import apply
from app.stats.models import STATS_TABLE

BATCH = 5000


def _stream(conn: Connection, stmt: Any) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(stmt)
    for partition in result.partitions():
        yield from partition


def recount(conn: Connection) -> Tally:
    """Every counter, from documents, deliveries and status messages."""
    tally = Tally()
    docs = Document.__table__
    dels = Delivery.__table__
    counted = and_(docs.c.business_type == 0, docs.c.quarantined == false())
    doc_cols = [
        docs.c.id,
        docs.c.from_organ,
        docs.c.business_type,
        docs.c.quarantined,
        docs.c.indication,
        docs.c.accepted_at,
        docs.c.origin,
    ]
    axis = (
        exists()
        .where(dels.c.document == docs.c.id, dels.c.kind == "document", dels.c.route == AXIS)
        .label("axis")
    )
    for r in _stream(conn, select(*doc_cols, axis).where(counted)):
        m = r._mapping
        doc = DocRow(**{c.name: m[c.name] for c in doc_cols})
        document_contribution(doc, bool(m["axis"]), tally, +1)

    del_cols = [
        dels.c.id.label("d_id"),
        dels.c.document,
        dels.c.kind,
        dels.c.organ_id,
        dels.c.route,
        dels.c.state,
        dels.c.available_at,
    ]
    stmt = (
        select(*del_cols, *doc_cols)
        .join_from(dels, docs, dels.c.document == docs.c.id)
        .where(dels.c.kind == "document", counted)
    )
    for r in _stream(conn, stmt):
        m = r._mapping
        doc = DocRow(**{c.name: m[c.name] for c in doc_cols})
        d = DeliveryRow(
            id=m["d_id"],
            document=m["document"],
            kind=m["kind"],
            organ_id=m["organ_id"],
            route=m["route"],
            state=m["state"],
            available_at=m["available_at"],
        )
        delivery_contribution(d, doc, tally, +1)

    st = StatusMessage.__table__
    for r in _stream(conn, select(st.c.id, st.c.from_organ, st.c.code, st.c.accepted_at)):
        m = r._mapping
        status_contribution(
            StatusRow(
                id=m["id"], from_organ=m["from_organ"], code=m["code"], accepted_at=m["accepted_at"]
            ),
            tally,
            +1,
        )
    return tally


def stored(conn: Connection) -> Tally:
    """What stats_daily holds now, as a tally."""
    tally = Tally()
    for r in _stream(conn, select(STATS_TABLE)):
        m = r._mapping
        for c in COLUMNS:
            if m[c]:
                tally.add(m["organ_id"], m["day"], c, int(m[c]))
    return tally


@dataclass(frozen=True)
class Difference:
    organ_id: str
    day: date
    counter: str
    stored: int
    recounted: int

    def __str__(self) -> str:
        return (
            f"{self.organ_id} {self.day.isoformat()} {self.counter}: "
            f"stored {self.stored}, recount {self.recounted}"
        )


def differences(conn: Connection) -> list[Difference]:
    """Every (organization, day, counter) where the stored counter and a recount disagree."""
    have = stored(conn).nonzero()
    want = recount(conn).nonzero()
    out: list[Difference] = []
    for key in sorted(set(have) | set(want)):
        a, b = have.get(key, {}), want.get(key, {})
        for col in COLUMNS:
            if a.get(col, 0) != b.get(col, 0):
                out.append(Difference(key[0], key[1], col, a.get(col, 0), b.get(col, 0)))
    return out


def lock_counters(conn: Connection) -> None:
    """On PostgreSQL, hold off committers (their upserts wait) while the counters are rebuilt."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE stats_daily IN EXCLUSIVE MODE")


def rebuild(conn: Connection) -> int:
    """Replace every counter with a recount, in the caller's transaction; returns rows written."""
    lock_counters(conn)
    tally = recount(conn)
    conn.execute(delete(STATS_TABLE))
    return apply(conn, tally)
