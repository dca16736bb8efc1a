"""Delivery decisions: who gets a message by which path, inbox visibility, acknowledgement.

Local pull recipients get the message in the same transaction that accepts it (state
`available` at once: there is nothing to send, so the inbox is current the moment the 2xx
is). Push and axis deliveries are `queued` for the worker, in that same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from app.core.errors import NotFound, Unprocessable
from app.core.ids import new_id
from app.core.timeutil import utcnow
from app.delivery import repository as repo
from app.delivery.models import Delivery
from app.delivery.repository import add_trace, deliveries_of, delivery_to, inbox
from app.directory.cache import Entry

trace = add_trace  # the trace writer lives with its model; this name is kept for callers


def resolve_recipients(
    session: Session,
    organ_ids: Iterable[str],
    *,
    known: Mapping[str, Entry] | None = None,
) -> list[Entry]:
    """Every recipient must be in the directory and active (organization.unknown otherwise).
    `known`: entries read already (the process's directory snapshot, `hub.directory`); only
    the others are read."""
    wanted = list(dict.fromkeys(organ_ids))
    found = {o: known[o] for o in wanted if known is not None and o in known}
    missing = [o for o in wanted if o not in found]
    if missing:
        found |= {o: Entry.of(org) for o, org in repo.organizations(session, missing).items()}
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
    recipients: Iterable[Entry],
    pending_change: str | None = None,
) -> list[Delivery]:
    now = utcnow()
    out = []
    for org in recipients:
        mode = "axis" if org.route == "vpcp" else org.delivery_mode
        pull = mode == "pull"
        d = Delivery(
            id=new_id(),  # known before the flush: its trace goes into the same batch
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
    for d in out:
        add_trace(
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


__all__ = [
    "deliveries_of",
    "delivery_to",
    "enqueue",
    "inbox",
    "resolve_recipients",
    "visible_delivery",
]
