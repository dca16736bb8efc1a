"""Delivery decisions: who gets a message by which path, inbox visibility, acknowledgement.

Local pull recipients get the message in the same transaction that accepts it (state
`available` at once: there is nothing to send, so the inbox is current the moment the 2xx
is). Push and axis deliveries are `queued` for the worker, in that same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import NotFound, Unprocessable
from app.core.timeutil import utcnow
from app.delivery.models import Delivery, TraceEvent
from app.directory.models import Organization


def trace(
    session: Session,
    document: str,
    event: str,
    *,
    organ_id: str | None = None,
    delivery: str | None = None,
    detail: dict[str, object] | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        TraceEvent(
            document=document,
            delivery=delivery,
            event=event,
            organ_id=organ_id,
            detail=detail,
            at=at or utcnow(),
        )
    )


def resolve_recipients(session: Session, organ_ids: Iterable[str]) -> list[Organization]:
    """Every recipient must be in the directory and active (organization.unknown otherwise)."""
    wanted = list(dict.fromkeys(organ_ids))
    found = {
        o.organ_id: o
        for o in session.scalars(select(Organization).where(Organization.organ_id.in_(wanted)))
    }
    unknown = [o for o in wanted if o not in found]
    if unknown:
        raise Unprocessable(
            f"recipients not in the directory: {', '.join(unknown)}", code="organization.unknown"
        )
    inactive = [o for o in wanted if not found[o].active]
    if inactive:
        raise Unprocessable(
            f"recipients deactivated in the directory: {', '.join(inactive)}",
            code="organization.inactive",
        )
    return [found[o] for o in wanted]


def enqueue(
    session: Session,
    *,
    kind: str,
    document: str,
    message_id: str,
    recipients: Iterable[Organization],
    pending_change: str | None = None,
) -> list[Delivery]:
    now = utcnow()
    out = []
    for org in recipients:
        mode = "axis" if org.route == "vpcp" else org.delivery_mode
        pull = mode == "pull"
        d = Delivery(
            kind=kind,
            document=document,
            message_id=message_id,
            organ_id=org.organ_id,
            route=org.route,
            mode=mode,
            state="available" if pull else "queued",
            available_at=now if pull else None,
            next_attempt_at=now,
            pending_change=pending_change,
            created_at=now,
            updated_at=now,
        )
        session.add(d)
        out.append(d)
    session.flush()
    for d in out:
        trace(
            session,
            document,
            f"{kind}.{d.state}",
            organ_id=d.organ_id,
            delivery=d.id,
            detail={"route": d.route, "mode": d.mode},
            at=now,
        )
    return out


def visible_delivery(session: Session, delivery_id: str, organ_ids: frozenset[str]) -> Delivery:
    d = session.get(Delivery, delivery_id)
    if d is None or d.organ_id not in organ_ids or d.mode != "pull":
        raise NotFound("no such inbox item", code="delivery.not_found")
    return d


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


def deliveries_of(session: Session, document: str, *, kind: str = "document") -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.document == document, Delivery.kind == kind)
            .order_by(Delivery.organ_id)
        )
    )


def delivery_to(session: Session, document: str, organ_id: str) -> Delivery | None:
    return session.scalars(
        select(Delivery).where(
            Delivery.document == document,
            Delivery.kind == "document",
            Delivery.organ_id == organ_id,
        )
    ).one_or_none()
