"""Queries on documents, their statuses, reports and trace: what the pipeline and the
routers read. (The trace writer, `add_trace`, lives with its model in the delivery layer,
below documents, because the outbox writes trace events too.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app.core.db import insert_rows
from app.core.timeutil import as_utc
from app.delivery.models import Delivery, TraceEvent
from app.delivery.repository import add_trace, insert_traces, trace_row
from app.documents.models import Document, HeldDocument, StatusMessage, ValidationRecord


def insert_document(session: Session, row: dict[str, Any]) -> None:
    """The accepted document's row, untracked (the pipeline keeps a transient `Document` of
    the same values); a twin (From, DocumentId) fails on the unique index."""
    insert_rows(session, Document, [row])


def insert_status(session: Session, row: dict[str, Any]) -> None:
    """A status message's row, untracked (the caller keeps a transient `StatusMessage`)."""
    insert_rows(session, StatusMessage, [row])


def insert_report(session: Session, row: dict[str, Any]) -> None:
    """A kept validation report (`service.report_row`), untracked."""
    insert_rows(session, ValidationRecord, [row])


def trace_of(session: Session, document: str) -> list[TraceEvent]:
    return list(
        session.scalars(
            select(TraceEvent).where(TraceEvent.document == document).order_by(TraceEvent.id)
        )
    )


# An earlier (From, DocumentId), read once per submission: a Core statement built once and
# run on the session's connection (about half the CPU of the ORM path). A quarantined copy
# holds no key (SPEC 5): the real document after a forged one is not a duplicate (the partial
# unique index leaves them out the same way).
_DOCUMENTS = Document.__table__.c
_TWIN = (
    select(_DOCUMENTS.id)
    .where(
        _DOCUMENTS.from_organ == bindparam("from_organ"),
        _DOCUMENTS.document_id == bindparam("document_id"),
        _DOCUMENTS.quarantined.is_(False),
    )
    .limit(1)
)


def document_by_sender(session: Session, from_organ: str, document_id: str) -> str | None:
    """The hub id of (From, DocumentId), if that document was accepted already."""
    if session.new:  # as the ORM's autoflush would: a row added here counts
        session.flush()
    params = {"from_organ": from_organ, "document_id": document_id}
    found: str | None = session.connection().execute(_TWIN, params).scalar()
    return found


def documents_by_sender(
    session: Session, from_organ: str, document_ids: Iterable[str], *, quarantined: bool = True
) -> list[Document]:
    """The sender's documents with those DocumentIds, real ones first; `quarantined=False`
    leaves quarantined copies out (they are never targets of traffic from the axis)."""
    stmt = select(Document).where(
        Document.from_organ == from_organ, Document.document_id.in_(list(document_ids))
    )
    if not quarantined:
        stmt = stmt.where(Document.quarantined.is_(False))
    return list(session.scalars(stmt.order_by(Document.quarantined)))


def documents_by_id(session: Session, ids: Iterable[str]) -> dict[str, Document]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(wanted)))}


def statuses_by_id(session: Session, ids: Iterable[str]) -> dict[str, StatusMessage]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.scalars(select(StatusMessage).where(StatusMessage.id.in_(wanted)))
    return {s.id: s for s in rows}


def statuses_of(session: Session, document: str) -> list[StatusMessage]:
    return list(
        session.scalars(
            select(StatusMessage)
            .where(StatusMessage.document == document)
            .order_by(StatusMessage.id)
        )
    )


def latest_validation(session: Session, document: str) -> tuple[ValidationRecord | None, int]:
    """The newest report and how many reports the document has."""
    rec = session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.document == document, ValidationRecord.status.is_(None))
        .order_by(ValidationRecord.id.desc())
        .limit(1)
    ).one_or_none()
    count = session.scalar(
        select(func.count())
        .select_from(ValidationRecord)
        .where(ValidationRecord.document == document, ValidationRecord.status.is_(None))
    )
    return rec, int(count or 0)


def first_validation(
    session: Session, document: str, status: str | None = None
) -> ValidationRecord | None:
    """The report kept when the document (or its status message `status`) was accepted: it
    holds the timestamp token."""
    about = (
        ValidationRecord.status.is_(None) if status is None else ValidationRecord.status == status
    )
    return session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.document == document, about)
        .order_by(ValidationRecord.id)
        .limit(1)
    ).one_or_none()


def status_reports(session: Session, statuses: Iterable[str]) -> dict[str, ValidationRecord]:
    """The newest report of each status message (none for a status accepted unsigned)."""
    wanted = list(statuses)
    if not wanted:
        return {}
    rows = session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.status.in_(wanted))
        .order_by(ValidationRecord.id)
    )
    return {str(r.status): r for r in rows}  # ascending: the newest is the last one kept


def list_documents(
    session: Session,
    *,
    organs: set[str],
    direction: str | None,
    since: datetime | None,
    after: str | None,
    limit: int,
    document_id: str | None = None,
    from_organ: str | None = None,
) -> list[Document]:
    """Documents sent by or delivered to `organs` (all documents when empty), by id; with
    `document_id` (and `from_organ`) only those filed under that edXML DocumentId."""
    stmt = select(Document).order_by(Document.id).limit(limit)
    if document_id is not None:
        stmt = stmt.where(Document.document_id == document_id)
    if from_organ is not None:
        stmt = stmt.where(Document.from_organ == from_organ)
    if after:
        stmt = stmt.where(Document.id > after)
    if since:
        stmt = stmt.where(Document.accepted_at >= since)
    received = select(Delivery.document).where(Delivery.kind == "document")
    if organs:
        received = received.where(Delivery.organ_id.in_(organs))
    if direction == "sent":
        if organs:
            stmt = stmt.where(Document.from_organ.in_(organs))
    elif direction == "received":
        stmt = stmt.where(Document.id.in_(received))
    elif organs:
        stmt = stmt.where(Document.from_organ.in_(organs) | Document.id.in_(received))
    return list(session.scalars(stmt))


def signatures_page(
    session: Session,
    *,
    indication: str | None,
    organ_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
    pdf_indication: str | None = None,
) -> list[Document]:
    """Documents by id with their signature summary filters (the auditors' list);
    `pdf_indication="NONE"` selects documents without PDF attachments."""
    stmt = select(Document).order_by(Document.id).limit(limit)
    if indication:
        stmt = stmt.where(Document.indication == indication)
    if pdf_indication == "NONE":
        stmt = stmt.where(Document.pdf_indication.is_(None))
    elif pdf_indication:
        stmt = stmt.where(Document.pdf_indication == pdf_indication)
    if organ_id:
        stmt = stmt.where(Document.from_organ == organ_id)
    if since:
        stmt = stmt.where(Document.accepted_at >= since)
    if until:
        stmt = stmt.where(Document.accepted_at <= until)
    if after:
        stmt = stmt.where(Document.id > after)
    return list(session.scalars(stmt))


def held_page(
    session: Session,
    *,
    organ_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
) -> list[HeldDocument]:
    """Documents and status messages from the axis held now (SPEC 5.1), by id, with the
    auditors' filters."""
    stmt = (
        select(HeldDocument)
        .where(HeldDocument.state == "held")
        .order_by(HeldDocument.id)
        .limit(limit)
    )
    if organ_id:
        stmt = stmt.where(HeldDocument.from_organ == organ_id)
    if since:
        stmt = stmt.where(HeldDocument.held_since >= since)
    if until:
        stmt = stmt.where(HeldDocument.held_since <= until)
    if after:
        stmt = stmt.where(HeldDocument.id > after)
    return list(session.scalars(stmt))


def held_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(HeldDocument).where(HeldDocument.state == "held")
        )
        or 0
    )


def report_counts(session: Session, documents: list[str]) -> dict[str, int]:
    """How many validation reports each document has, in one query."""
    rows = session.execute(
        select(ValidationRecord.document, func.count())
        .where(ValidationRecord.document.in_(documents), ValidationRecord.status.is_(None))
        .group_by(ValidationRecord.document)
    ).all()
    return {doc: int(n) for doc, n in rows}


__all__ = [
    "add_trace",
    "document_by_sender",
    "documents_by_id",
    "documents_by_sender",
    "insert_document",
    "insert_report",
    "insert_status",
    "insert_traces",
    "latest_validation",
    "list_documents",
    "report_counts",
    "signatures_page",
    "status_reports",
    "statuses_by_id",
    "statuses_of",
    "trace_of",
    "trace_row",
]


@dataclass(frozen=True)
class OperationsGauges:
    """What /metrics reads from the database at each scrape (the same in every process)."""

    quarantined: int
    dead_by_route: dict[str, int]
    unacknowledged: int
    oldest_unacknowledged: datetime | None


def operations_gauges(session: Session) -> OperationsGauges:
    """Quarantined documents, dead deliveries per route, and the inbox items waiting for an
    acknowledgement (state `available`): their count and the oldest one's availability."""
    quarantined = session.scalar(
        select(func.count()).select_from(Document).where(Document.quarantined.is_(True))
    )
    dead = session.execute(
        select(Delivery.route, func.count())
        .where(Delivery.state == "dead")
        .group_by(Delivery.route)
    ).all()
    waiting, oldest = session.execute(
        select(func.count(), func.min(Delivery.available_at)).where(Delivery.state == "available")
    ).one()
    return OperationsGauges(
        quarantined=int(quarantined or 0),
        dead_by_route={str(route): int(n) for route, n in dead},
        unacknowledged=int(waiting or 0),
        oldest_unacknowledged=as_utc(oldest) if oldest is not None else None,
    )
