"""Claiming and settling deliveries: the durable outbox of SPEC section 6.

A claim moves due deliveries to `sending` with a lease, in one short transaction. On
PostgreSQL the claim uses FOR UPDATE SKIP LOCKED, so several worker processes never take the
same row; on SQLite the transaction starts BEGIN IMMEDIATE, which serialises claims. A worker
that dies mid-send leaves `sending` with an expired lease, and the next claim takes it over
(at-least-once, with the same delivery id). While a worker sends, it renews the leases of
the batch it claimed (`app.core.leases.Keeper`), and it settles a delivery only while the row
still carries its id and the claim's token (`leases.fenced`): a late outcome of a worker
whose lease was taken over is logged and dropped, never written over the newer state.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from app.audit import service as audit
from app.core import leases
from app.core.leases import Lease
from app.core.timeutil import utcnow
from app.delivery.models import Delivery
from app.delivery.repository import add_trace as trace

log = logging.getLogger("app.delivery")

PENDING = ("queued", "retrying")
IN_FLIGHT = ("queued", "sending", "retrying")
BACKOFF_BASE = 2.0
BACKOFF_CAP = 3600.0


@dataclass(frozen=True)
class Claimed:
    id: str
    kind: str
    document: str
    message_id: str
    organ_id: str
    mode: str
    attempts: int


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: half fixed, half random (never two retries in step)."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return float(base / 2 + (rng or random).random() * base / 2)


def claim(
    session: Session,
    worker_id: str,
    *,
    limit: int,
    lease_seconds: int,
    now: datetime | None = None,
) -> tuple[Lease, list[Claimed]]:
    """Due deliveries, leased to `worker_id` under one token (`now`: the worker's clock)."""
    now = now or utcnow()
    earlier = aliased(Delivery)
    doc_first = aliased(Delivery)
    due = or_(
        and_(Delivery.state.in_(PENDING), Delivery.next_attempt_at <= now),
        and_(Delivery.state == "sending", Delivery.lease_until < now),
    )
    # A status never overtakes its document toward the same recipient, nor an earlier status.
    blocked_by_document = exists().where(
        doc_first.kind == "document",
        doc_first.document == Delivery.document,
        doc_first.organ_id == Delivery.organ_id,
        doc_first.state.in_(IN_FLIGHT),
    )
    blocked_by_status = exists().where(
        earlier.kind == "status",
        earlier.document == Delivery.document,
        earlier.organ_id == Delivery.organ_id,
        earlier.state.in_(IN_FLIGHT),
        earlier.id < Delivery.id,
    )
    stmt = (
        select(Delivery)
        .where(
            due,
            Delivery.mode != "pull",
            or_(Delivery.kind == "document", ~(blocked_by_document | blocked_by_status)),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Delivery)
    rows = list(session.scalars(stmt))
    lease = leases.take(rows, worker_id, now=now, lease_seconds=lease_seconds)
    out = []
    for d in rows:
        d.state = "sending"
        d.attempts += 1
        d.updated_at = now
        out.append(Claimed(d.id, d.kind, d.document, d.message_id, d.organ_id, d.mode, d.attempts))
    session.flush()
    return lease, out


def _current(session: Session, claimed: Claimed, lease: Lease, outcome: str) -> Delivery | None:
    """The row, if this claim still holds it; a lease taken over means the newer claim settles
    (this outcome is logged and dropped)."""
    d = leases.fenced(session, Delivery, claimed.id, lease)
    if d is None or d.state != "sending":
        log.warning(
            "late delivery outcome dropped: the lease was taken over",
            extra={"delivery": claimed.id, "attempt": claimed.attempts, "outcome": outcome},
        )
        return None
    leases.let_go(d)
    return d


def succeed(
    session: Session, claimed: Claimed, lease: Lease, *, external_id: str | None = None
) -> bool:
    d = _current(session, claimed, lease, "delivered")
    if d is None:
        return False
    worker_id = lease.worker_id
    now = utcnow()
    d.state, d.last_error, d.updated_at = "delivered", None, now
    d.available_at = d.available_at or now
    if external_id:
        d.external_id = external_id
    trace(
        session,
        d.document,
        f"{d.kind}.delivered",
        organ_id=d.organ_id,
        delivery=d.id,
        detail={"attempt": d.attempts, "mode": d.mode}
        | ({"axis_doc_id": external_id} if external_id else {}),
    )
    audit.record(
        session,
        actor=f"worker:{worker_id}",
        action="delivery.delivered",
        target_type="delivery",
        target_id=d.id,
        details={"organ_id": d.organ_id, "attempt": d.attempts, "mode": d.mode},
    )
    return True


def fail(
    session: Session,
    claimed: Claimed,
    lease: Lease,
    error: str,
    *,
    retryable: bool,
    max_attempts: int,
    max_age: int,
    rng: random.Random | None = None,
) -> str | None:
    """Record a failed attempt: `retrying` with backoff, or `dead` when out of attempts/time."""
    d = _current(session, claimed, lease, "failed")
    if d is None:
        return None
    worker_id = lease.worker_id
    now = utcnow()
    too_old = now - d.created_at > timedelta(seconds=max_age)
    d.last_error = error[:2000]
    d.updated_at = now
    if not retryable or d.attempts >= max_attempts or too_old:
        d.state = "dead"
        trace(
            session,
            d.document,
            f"{d.kind}.dead",
            organ_id=d.organ_id,
            delivery=d.id,
            detail={"attempt": d.attempts, "error": d.last_error},
        )
        audit.record(
            session,
            actor=f"worker:{worker_id}",
            action="delivery.dead",
            target_type="delivery",
            target_id=d.id,
            details={"organ_id": d.organ_id, "attempts": d.attempts, "error": d.last_error},
        )
    else:
        d.state = "retrying"
        d.next_attempt_at = now + timedelta(seconds=backoff(d.attempts, rng))
        trace(
            session,
            d.document,
            f"{d.kind}.retrying",
            organ_id=d.organ_id,
            delivery=d.id,
            detail={
                "attempt": d.attempts,
                "error": d.last_error,
                "next_attempt_at": d.next_attempt_at.isoformat(),
            },
        )
    return d.state


def redrive(session: Session, delivery_id: str, *, actor: str) -> Delivery:
    from app.core.errors import Conflict, NotFound

    d = session.get(Delivery, delivery_id)
    if d is None:
        raise NotFound("no such delivery", code="delivery.not_found")
    if d.state != "dead":
        raise Conflict(
            f"only dead deliveries are re-driven; this one is {d.state}", code="delivery.state"
        )
    now = utcnow()
    d.state, d.attempts, d.next_attempt_at, d.updated_at = "queued", 0, now, now
    trace(session, d.document, f"{d.kind}.redriven", organ_id=d.organ_id, delivery=d.id)
    audit.record(
        session,
        actor=actor,
        action="delivery.redriven",
        target_type="delivery",
        target_id=d.id,
        details={"organ_id": d.organ_id},
    )
    return d
