"""Counters recomputed from the rows themselves: for `stats rebuild` (repair) and `stats check`.

The recount applies the same contribution functions as the listener to every document,
delivery and status, streaming, so it is the reference the live counters are checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, exists, false, select

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
from app.stats.models import DELTAS_TABLE, MONTHLY_TABLE, STATS_TABLE

BATCH = 5000

Progress = Callable[[str, int], None]


def _stream(
    conn: Connection, stmt: Any, what: str = "", progress: Progress | None = None
) -> Iterator[Any]:
    result = conn.execute(stmt.execution_options(stream_results=True, yield_per=BATCH))
    done = 0
    for partition in result.partitions():
        yield from partition
        done += len(partition)
        if progress is not None:
            progress(what, done)


def recount(conn: Connection, progress: Progress | None = None) -> Tally:
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
        docs.c.signed_by_hub,
        docs.c.pdf_signed,
    ]
    axis = (
        exists()
        .where(dels.c.document == docs.c.id, dels.c.kind == "document", dels.c.route == AXIS)
        .label("axis")
    )
    for r in _stream(conn, select(*doc_cols, axis).where(counted), "documents", progress):
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
    for r in _stream(conn, stmt, "deliveries", progress):
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
    stmt = select(st.c.id, st.c.from_organ, st.c.code, st.c.accepted_at)
    for r in _stream(conn, stmt, "statuses", progress):
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
    """What stats_daily holds now, with the deltas not yet folded in, as a tally."""
    return _with_deltas(conn, STATS_TABLE, lambda m: m["day"])


def stored_months(conn: Connection) -> Tally:
    """What stats_monthly holds now, with the deltas not yet folded in, keyed by the first
    day of each month."""
    return _with_deltas(conn, MONTHLY_TABLE, lambda m: date(m["year"], m["month"], 1))


def _with_deltas(conn: Connection, table: Table, day: Callable[[Any], date]) -> Tally:
    """The counters of `table` plus the committed deltas the sequencer has not folded yet."""
    tally = _stored(conn, table, day)
    tally.merge(_stored(conn, DELTAS_TABLE, day))
    return tally


def _stored(conn: Connection, table: Table, day: Callable[[Any], date]) -> Tally:
    tally = Tally()
    for r in _stream(conn, select(table)):
        m = r._mapping
        for c in COLUMNS:
            if m[c]:
                tally.add(m["organ_id"], day(m), c, int(m[c]))
    return tally


@dataclass(frozen=True)
class Difference:
    organ_id: str
    period: str
    counter: str
    stored: int
    recounted: int

    def __str__(self) -> str:
        return (
            f"{self.organ_id} {self.period} {self.counter}: "
            f"stored {self.stored}, recount {self.recounted}"
        )


def _compare(have: Tally, want: Tally, label: Callable[[date], str]) -> list[Difference]:
    a_rows, b_rows = have.nonzero(), want.nonzero()
    out: list[Difference] = []
    for key in sorted(set(a_rows) | set(b_rows)):
        a, b = a_rows.get(key, {}), b_rows.get(key, {})
        for col in COLUMNS:
            if a.get(col, 0) != b.get(col, 0):
                out.append(Difference(key[0], label(key[1]), col, a.get(col, 0), b.get(col, 0)))
    return out


def differences(conn: Connection, progress: Progress | None = None) -> list[Difference]:
    """Every (organization, day or month, counter) where a stored counter and a recount disagree."""
    want = recount(conn, progress)
    days = _compare(stored(conn), want, date.isoformat)
    months = _compare(stored_months(conn), want.by_month(), lambda d: f"{d:%Y-%m}")
    return days + months


def lock_counters(conn: Connection) -> None:
    """On PostgreSQL, hold off committers (their deltas wait) while the counters are rebuilt."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "LOCK TABLE stats_deltas, stats_daily, stats_monthly IN EXCLUSIVE MODE"
        )


def rebuild(conn: Connection, progress: Progress | None = None) -> int:
    """Replace every counter with a recount, in the caller's transaction; returns rows written."""
    lock_counters(conn)
    tally = recount(conn, progress)
    conn.execute(delete(DELTAS_TABLE))  # committed before the lock: in the recount already
    conn.execute(delete(STATS_TABLE))
    conn.execute(delete(MONTHLY_TABLE))
    return apply(conn, tally)
