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
one, only while the lease is still ours (`app.core.leases`: renewed while the batch is
fetched, fenced by the claim's token at the write). A TSA that does not answer never refuses
a document: the row is retried with backoff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from app.core import leases
from app.core.db import insert_rows, read_first, unit_of_work
from app.core.ids import new_id
from app.core.leases import Lease
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
    """The row the worker fetches the token for (in the message's transaction; inserted at
    once, untracked: a pending report object is flushed first, for the foreign key)."""
    insert_rows(
        session,
        PendingTimestamp,
        [
            {
                "id": new_id(),
                "document": document,
                "report": report,
                "imprint": imprint.hex(),
                "created_at": utcnow(),
                "attempts": 0,
                "next_attempt_at": at,
            }
        ],
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
) -> tuple[Lease, list[_Claimed]]:
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
    rows = list(session.scalars(stmt))
    lease = leases.take(rows, worker_id, now=now, lease_seconds=lease_seconds)
    out = []
    for row in rows:
        row.attempts += 1
        out.append(
            _Claimed(row.id, row.document, row.report, bytes.fromhex(row.imprint), row.attempts)
        )
    session.flush()
    return lease, out


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
    lease_seconds = hub.settings.timestamp_lease_seconds
    with unit_of_work(sessions) as s:
        lease, claimed = claim(s, worker_id, limit=limit, lease_seconds=lease_seconds, now=now)
    clock = leases.elapsed_from(now)
    with leases.Keeper(sessions, PendingTimestamp, lease, lease_seconds, clock) as keeper:
        for i, c in enumerate(claimed):
            if not keeper.holds(c.id):
                continue  # taken over: its new holder fetches the token
            with keeper.working(c.id):
                error = _fetch_one(hub, sessions, lease, c)
            if error is not None:
                # The TSA is down: the rest of the batch waits with it, so that a round holds
                # the worker (and the deliveries it sends) for at most one FETCH_TIMEOUT.
                _settle_failures(sessions, claimed[i:], lease, error, now)
                break
    return len(claimed)


def _fetch_one(hub: Hub, sessions: sessionmaker[Session], lease: Lease, c: _Claimed) -> str | None:
    """Fetch one claimed row's token and write it while the claim still holds the row; the
    error when the TSA does not answer."""
    try:
        with sessions() as s:
            read_first(s)
            token = hub.timestamps.stamp(
                s,
                c.imprint,
                trust_for=lambda certs: trust_for_certificates(s, hub, certs).store,
            )
    except TimestampUnavailable as exc:
        return str(exc)
    with unit_of_work(sessions) as s:
        row = leases.fenced(s, PendingTimestamp, c.id, lease)
        rec = s.get(ValidationRecord, c.report)
        if row is None or rec is None:
            return None  # taken over: the newer claim writes the token
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
    return None


def _settle_failures(
    sessions: sessionmaker[Session],
    claimed: list[_Claimed],
    lease: Lease,
    error: str,
    now: dt.datetime,
) -> None:
    """Back to waiting, with backoff (30 s doubling to 1 h); only rows this claim still holds."""
    with unit_of_work(sessions) as s:
        for c in claimed:
            row = leases.fenced(s, PendingTimestamp, c.id, lease)
            if row is None:
                continue
            delay = min(RETRY_CAP, RETRY_FIRST * 2 ** max(0, c.attempts - 1))
            row.next_attempt_at = now + dt.timedelta(seconds=delay)
            leases.let_go(row)
            row.claimed_by = None
            row.last_error = error[:500]
