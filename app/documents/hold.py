"""Held documents (SPEC 5.1): the state of a document from the axis whose signature could
not be decided yet (INDETERMINATE/TRY_LATER).

    (received, TRY_LATER) ──► held ──(passes)──────────────► released   (delivered as usual)
                               │  ▲                        ► quarantined (fails, or HOLD_MAX_AGE
                               │  └─ still TRY_LATER:                    passed: answered 02)
                               │     next attempt after backoff        ► refused | duplicate
                               └─ claimed by one worker under a lease

While held nothing is routed and the axis is not answered (`updateStatus` waits for the hold
to end). Re-validation is driven by `app.documents.inbound.revalidate_held`, which runs the
item through the same stages as its first receipt; this module holds the state machine: the
backoff, the claim (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite, as the
outbox claims deliveries; a lease renewed while the re-validation runs and fenced by the claim's
token, `app.core.leases`) and the transitions, each audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import leases
from app.core.errors import HubError
from app.core.leases import Lease
from app.documents.models import HeldDocument
from app.signing import ValidationReport

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
RETRY_AFTER_SECONDS = int(BACKOFF_FIRST.total_seconds())
"""What a 503 `signature.try_later` over the API tells its caller to wait."""


class LeaseLost(Exception):
    """Another worker took this held document over (this one's lease expired): the caller
    rolls its work back."""


def is_try_later(report: ValidationReport) -> bool:
    return report.indication == "INDETERMINATE" and report.sub_indication == "TRY_LATER"


def backoff(attempts: int) -> timedelta:
    """1 min after the hold, then doubling with each re-validation, at most 1 h."""
    doubled: timedelta = BACKOFF_FIRST * 2 ** min(max(0, attempts), 12)
    return min(BACKOFF_CAP, doubled)


def expired(row: HeldDocument, now: datetime, max_age: int) -> bool:
    return now - row.held_since >= timedelta(seconds=max_age)


def hold(
    session: Session,
    *,
    axis_doc_id: str,
    axis_from: str,
    axis_to: list[str],
    from_organ: str,
    document_id: str,
    blob: str,
    size: int,
    report: ValidationReport,
    now: datetime,
) -> HeldDocument:
    row = HeldDocument(
        axis_doc_id=axis_doc_id,
        axis_from=axis_from,
        axis_to=axis_to,
        from_organ=from_organ,
        document_id=document_id,
        blob=blob,
        size=size,
        state="held",
        held_since=now,
        attempts=0,
        next_attempt_at=now + backoff(0),
        indication=report.indication,
        sub_indication=report.sub_indication,
        report=report.to_dict(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor="axis",
        action="document.held",
        target_type="held_document",
        target_id=row.id,
        details={
            "axis_doc_id": axis_doc_id,
            "from": from_organ,
            "document_id": document_id,
            "indication": report.indication,
            "sub_indication": report.sub_indication,
            "next_attempt_at": row.next_attempt_at.isoformat(),
        },
    )
    return row


def claim(
    session: Session, worker_id: str, *, now: datetime, limit: int, lease_seconds: int
) -> Lease:
    """Take due held documents (or ones whose lease expired) for this worker."""
    due = and_(
        HeldDocument.state == "held",
        HeldDocument.next_attempt_at <= now,
        or_(HeldDocument.lease_until.is_(None), HeldDocument.lease_until < now),
    )
    stmt = (
        select(HeldDocument)
        .where(due)
        .order_by(HeldDocument.next_attempt_at, HeldDocument.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    lease = leases.take(session.scalars(stmt), worker_id, now=now, lease_seconds=lease_seconds)
    session.flush()
    return lease


def claimed(session: Session, held_id: str, lease: Lease) -> HeldDocument:
    """The held document this claim holds, or LeaseLost."""
    row = session.get(HeldDocument, held_id)
    if (
        row is None
        or row.state != "held"
        or (row.claimed_by, row.lease_token) != (lease.worker_id, lease.token)
    ):
        raise LeaseLost(held_id)
    return row


def confirm_lease(session: Session, row: HeldDocument, lease: Lease) -> None:
    """Checked last, in the write transaction (on PostgreSQL with the row locked): a worker
    whose lease was taken over meanwhile must not settle the document too."""
    if leases.fenced(session, HeldDocument, row.id, lease) is None:
        raise LeaseLost(row.id)
    leases.let_go(row)
    row.claimed_by = None


def still_held(
    session: Session, row: HeldDocument, report: ValidationReport, *, now: datetime
) -> None:
    """Still no decision: the next attempt after the backoff."""
    row.attempts += 1
    row.next_attempt_at = now + backoff(row.attempts)
    row.indication, row.sub_indication = report.indication, report.sub_indication
    row.report = report.to_dict()
    session.flush()
    audit.record(
        session,
        actor=f"worker:{row.claimed_by}",
        action="document.hold_revalidated",
        target_type="held_document",
        target_id=row.id,
        details={
            "attempt": row.attempts,
            "indication": report.indication,
            "sub_indication": report.sub_indication,
            "next_attempt_at": row.next_attempt_at.isoformat(),
        },
    )


def resolve(
    session: Session,
    row: HeldDocument,
    outcome: str,
    *,
    now: datetime,
    document: str | None,
    report: ValidationReport | None,
    detail: str | None = None,
) -> None:
    """The hold ends: released (delivered), quarantined, refused or duplicate."""
    row.state = "released" if outcome == "delivered" else outcome
    row.attempts += 1
    row.resolved_at = now
    row.document = document
    if report is not None:
        row.indication, row.sub_indication = report.indication, report.sub_indication
        row.report = report.to_dict()
    session.flush()
    audit.record(
        session,
        actor=f"worker:{row.claimed_by}",
        action=f"document.hold_{row.state}",
        target_type="held_document",
        target_id=row.id,
        details={
            "axis_doc_id": row.axis_doc_id,
            "document": document,
            "attempt": row.attempts,
            "held_seconds": int((now - row.held_since).total_seconds()),
            "indication": row.indication,
            "sub_indication": row.sub_indication,
        }
        | ({"detail": detail} if detail else {}),
    )


class SignatureTryLater(HubError):
    """No fresh revocation data: the signature cannot be decided now (SPEC 5.1)."""

    status, code, title = 503, "signature.try_later", "Signature cannot be decided yet"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
