"""Queries on deliveries, axis receipts and the organizations a message is routed to, and
the trace writer.

(The outbox's claim and settle statements stay in `outbox.py`: they are its state machine.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import insert_rows
from app.core.timeutil import utcnow
from app.delivery.models import AxisReceipt, Delivery, TraceEvent
from app.directory.models import Organization


class TraceFields(TypedDict, total=False):
    """What a trace event carries besides its document and event name (`trace_row`)."""

    organ_id: str | None
    delivery: str | None
    detail: dict[str, object] | None
    at: datetime | None


def add_trace(session: Session, document: str, event: str, **fields: Unpack[TraceFields]) -> None:
    """One event in a document's trace (written by the pipeline's stages and the outbox)."""
    session.add(TraceEvent(**trace_row(document, event, **fields)))


def trace_row(
    document: str,
    event: str,
    *,
    organ_id: str | None = None,
    delivery: str | None = None,
    detail: dict[str, object] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A trace event as a row, for `insert_traces` (a submission writes its events at once)."""
    return {
        "document": document,
        "delivery": delivery,
        "event": event,
        "organ_id": organ_id,
        "detail": detail,
        "at": at or utcnow(),
    }


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """New deliveries in one INSERT, untracked (every column given: the caller keeps the rows)."""
    insert_rows(session, Delivery, rows)


def insert_traces(session: Session, rows: list[dict[str, Any]]) -> None:
    """Trace events in one INSERT, untracked: nothing reads them back in the transaction."""
    insert_rows(session, TraceEvent, rows)


def organizations(session: Session, organ_ids: Iterable[str]) -> dict[str, Organization]:
    wanted = list(organ_ids)
    rows = session.scalars(select(Organization).where(Organization.organ_id.in_(wanted)))
    return {o.organ_id: o for o in rows}


def local_active(session: Session, organ_ids: Iterable[str]) -> list[str]:
    """Those of `organ_ids` the hub delivers to itself (local and active)."""
    rows = session.scalars(
        select(Organization.organ_id).where(
            Organization.organ_id.in_(list(organ_ids)),
            Organization.route == "local",
            Organization.active.is_(True),
        )
    )
    return list(rows)


def deliveries_of(session: Session, document: str, *, kind: str = "document") -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.document == document, Delivery.kind == kind)
            .order_by(Delivery.organ_id)
        )
    )


def deliveries_by_document(
    session: Session, documents: Iterable[str], *, kind: str = "document"
) -> dict[str, list[Delivery]]:
    """The deliveries of many documents in one query (lists of documents: no N+1)."""
    wanted = list(set(documents))
    out: dict[str, list[Delivery]] = defaultdict(list)
    if not wanted:
        return out
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.document.in_(wanted), Delivery.kind == kind)
        .order_by(Delivery.document, Delivery.organ_id)
    )
    for d in rows:
        out[d.document].append(d)
    return out


def delivery_to(session: Session, document: str, organ_id: str) -> Delivery | None:
    return session.scalars(
        select(Delivery).where(
            Delivery.document == document,
            Delivery.kind == "document",
            Delivery.organ_id == organ_id,
        )
    ).one_or_none()


def inbox(
    session: Session,
    organ_ids: Iterable[str],
    *,
    states: tuple[str, ...],
    after: str | None,
    limit: int,
) -> list[Delivery]:
    stmt = (
        select(Delivery)
        .where(
            Delivery.organ_id.in_(list(organ_ids)),
            Delivery.mode == "pull",
            Delivery.state.in_(states),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if after:
        stmt = stmt.where(Delivery.id > after)
    return list(session.scalars(stmt))


def receipt(session: Session, axis_doc_id: str) -> AxisReceipt | None:
    return session.get(AxisReceipt, axis_doc_id)


def deliveries_page(
    session: Session, *, state: str | None, organ_id: str | None, after: str | None, limit: int
) -> list[Delivery]:
    stmt = select(Delivery).order_by(Delivery.id).limit(limit)
    if state:
        stmt = stmt.where(Delivery.state == state)
    if organ_id:
        stmt = stmt.where(Delivery.organ_id == organ_id)
    if after:
        stmt = stmt.where(Delivery.id > after)
    return list(session.scalars(stmt))
