"""Timestamps of accepted signatures (SPEC 5.2): on the request path when the hub's own TSA
answers in process, otherwise pending and fetched by the worker.

`stamp_verdict` runs in the pipeline's sign-or-verify stage (reads only), for documents and
status messages alike: a passing verdict gets its token at once from the in-process TSA; with
TSA_URL set (or no TSA yet) the verdict says `timestamp: pending` and the store stage writes a
`pending_timestamps` row in the message's own transaction (like an outbox row), pointing at
the kept report (a status's report names its status; the row's `document` is the document
either way, whose trace records the token). `fetch_pending` is the worker's task: claim
due rows under a lease in one short transaction, fetch each token outside any transaction,
then write it into the kept report (and `best_signature_time` becomes its gen_time) in a second
one, only while the lease is still ours. A TSA that does not answer never refuses a document:
the row is retried with backoff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import read_first, unit_of_work
from app.core.timeutil import utcnow
from app.delivery.repository import add_trace
from app.documents.models import PendingTimestamp, ValidationRecord
from app.documents.trust import trust_for_certificates
from app.hub import Hub
from app.keys.timestamping import TimestampUnavailable
from app.signing.report import ValidationReport
from app.signing.timestamps import imprint_of
from app.signing.xmldsig import signature_value_of

RETRY_FIRST = 30.0
RETRY_CAP = 3600.0


def stamp_verdict(
    session: Session, hub: Hub, root: etree._Element, verdict: ValidationReport
) -> tuple[ValidationReport, bytes | None]:
    """The verdict with its token, or marked pending with the imprint to fetch a token for.

    Only signatures the hub accepts (TOTAL_PASSED) are timestamped. The in-process TSA is
    called here; a remote one never is (no network round-trip on the request path)."""
    if not verdict.passed:
        return verdict, None
    value = signature_value_of(root)
    if value is None:
        return verdict, None
    imprint = imprint_of(value)
    if hub.timestamps.in_process:
        try:
            return verdict.with_timestamp(hub.timestamps.stamp(session, imprint)), None
        except TimestampUnavailable:
            pass
    return verdict.with_timestamp_pending(), imprint


def add_pending(
    session: Session, *, document: str, report: str, imprint: bytes, at: dt.datetime
) -> None:
    """The row the worker fetches the token for (in the message's transaction)."""
    session.flush()  # the report row first: no relationship() tells the flush that order
    session.add(
        PendingTimestamp(
            document=document, report=report, imprint=imprint.hex(), next_attempt_at=at
        )
    )


@dataclass(frozen=True)
class _Claimed:
    id: str
    document: str
    report: str
    imprint: bytes
    attempts: int


def claim(
    session: Session, worker_id: str, *, limit: int, lease_seconds: int, now: dt.datetime
) -> list[_Claimed]:
    """Due rows (or rows whose holder's lease ran out), leased to `worker_id`."""
    stmt = (
        select(PendingTimestamp)
        .where(
            PendingTimestamp.next_attempt_at <= now,
            or_(PendingTimestamp.lease_until.is_(None), PendingTimestamp.lease_until < now),
        )
        .order_by(PendingTimestamp.next_attempt_at, PendingTimestamp.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    out = []
    for row in session.scalars(stmt):
        row.attempts += 1
        row.lease_until = now + dt.timedelta(seconds=lease_seconds)
        row.claimed_by = worker_id
        out.append(
            _Claimed(row.id, row.document, row.report, bytes.fromhex(row.imprint), row.attempts)
        )
    session.flush()
    return out


def _held(session: Session, claimed: _Claimed, worker_id: str) -> PendingTimestamp | None:
    stmt = select(PendingTimestamp).where(PendingTimestamp.id == claimed.id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    return row if row is not None and row.claimed_by == worker_id else None


def fetch_pending(
    hub: Hub,
    sessions: sessionmaker[Session],
    worker_id: str,
    *,
    limit: int = 20,
    now: dt.datetime | None = None,
) -> int:
    """One round of the worker's timestamp task; returns how many rows it claimed."""
    now = now or utcnow()
    with sessions() as s:  # a read first: most rounds find nothing and take no write lock
        read_first(s)
        waiting = s.scalar(select(func.count()).select_from(PendingTimestamp)) or 0
        hub.metrics.timestamps_pending.set(waiting)
        due = waiting and s.scalar(
            select(PendingTimestamp.id).where(PendingTimestamp.next_attempt_at <= now).limit(1)
        )
    if not due:
        return 0
    with unit_of_work(sessions) as s:
        claimed = claim(
            s,
            worker_id,
            limit=limit,
            lease_seconds=hub.settings.timestamp_lease_seconds,
            now=now,
        )
    for i, c in enumerate(claimed):
        try:
            with sessions() as s:
                read_first(s)
                token = hub.timestamps.stamp(
                    s,
                    c.imprint,
                    trust_for=lambda certs: trust_for_certificates(s, hub, certs).store,
                )
        except TimestampUnavailable as exc:
            # The TSA is down: the rest of the batch waits with it, so that a round holds the
            # worker (and the deliveries it sends) for at most one FETCH_TIMEOUT.
            _settle_failures(sessions, claimed[i:], worker_id, str(exc), now)
            break
        with unit_of_work(sessions) as s:
            row = _held(s, c, worker_id)
            rec = s.get(ValidationRecord, c.report)
            if row is None or rec is None:
                continue
            report = ValidationReport.from_dict(rec.report).with_timestamp(token)
            rec.report = report.to_dict()
            s.delete(row)
            add_trace(
                s,
                c.document,
                "timestamped",
                detail={"tsa": token.tsa, "gen_time": token.to_dict()["gen_time"]}
                | ({"status": rec.status} if rec.status is not None else {}),
            )
    return len(claimed)


def _settle_failures(
    sessions: sessionmaker[Session],
    claimed: list[_Claimed],
    worker_id: str,
    error: str,
    now: dt.datetime,
) -> None:
    """Back to waiting, with backoff (30 s doubling to 1 h); only rows this worker still holds."""
    with unit_of_work(sessions) as s:
        for c in claimed:
            row = _held(s, c, worker_id)
            if row is None:
                continue
            delay = min(RETRY_CAP, RETRY_FIRST * 2 ** max(0, c.attempts - 1))
            row.next_attempt_at = now + dt.timedelta(seconds=delay)
            row.lease_until = None
            row.claimed_by = None
            row.last_error = error[:500]
