"""Delivery decisions: who gets a message by which path, inbox visibility, acknowledgement.

Local pull recipients get the message in the same transaction that accepts it (state
`available` at once: there is nothing to send, so the inbox is current the moment the 2xx
is). Push and axis deliveries are `queued` for the worker, in that same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import NotFound, Unprocessable
from app.core.ids import new_id
from app.core.timeutil import utcnow
from app.delivery import repository as repo
from app.delivery.models import Delivery
from app.delivery.repository import (
    add_trace,
    deliveries_of,
    delivery_to,
    inbox,
    insert_traces,
    trace_row,
)
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
    trace: list[dict[str, Any]] | None = None,
) -> list[Delivery]:
    """One delivery per recipient, inserted at once (untracked); the returned objects are what
    the caller reads (the 202's deliveries), not attached to the session. Their trace events
    are appended to `trace` for the caller to write with its own (one INSERT), else written
    here."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for org in recipients:
        mode = "axis" if org.route == "vpcp" else org.delivery_mode
        pull = mode == "pull"
        rows.append(
            {
                "id": new_id(),
                "kind": kind,
                "message_id": message_id,
                "document": document,
                "status_message": None,
                "organ_id": org.organ_id,
                "route": org.route,
                "mode": mode,
                "state": "available" if pull else "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "lease_until": None,
                "claimed_by": None,
                "lease_token": None,
                "last_error": None,
                "status_code": None,
                "pending_change": pending_change,
                "revoked": False,
                "external_id": None,
                "created_at": now,
                "updated_at": now,
                "available_at": now if pull else None,
                "acked_at": None,
            }
        )
    repo.insert_deliveries(session, rows)
    events = [
        trace_row(
            document,
            f"{kind}.{r['state']}",
            organ_id=r["organ_id"],
            delivery=r["id"],
            detail={"route": r["route"], "mode": r["mode"]},
            at=now,
        )
        for r in rows
    ]
    if trace is None:
        insert_traces(session, events)
    else:
        trace += events
    return [Delivery(**r) for r in rows]


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
