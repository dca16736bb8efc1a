"""Dead deliveries and re-drive (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import AdminPrincipal, Cursor, Limit, SessionDep, decode_cursor, encode_cursor
from app.api.problems import responses
from app.delivery import outbox
from app.delivery import repository as repo
from app.delivery.models import STATES
from app.documents.service import delivery_out

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


@router.get("", responses=responses(401, 403, 422))
def list_deliveries(
    session: SessionDep,
    _: AdminPrincipal,
    state: str | None = None,
    organ_id: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    if state is not None and state not in STATES:
        from app.core.errors import Unprocessable

        raise Unprocessable(f"state is one of {', '.join(STATES)}", code="request.invalid")
    rows = repo.deliveries_page(
        session, state=state, organ_id=organ_id, after=decode_cursor(cursor), limit=limit + 1
    )
    page = rows[:limit]
    return {
        "items": [
            delivery_out(d).model_dump() | {"kind": d.kind, "document": d.document, "mode": d.mode}
            for d in page
        ],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }


@router.post("/{delivery_id}/redrive", responses=responses(401, 403, 404, 409))
def redrive(delivery_id: str, session: SessionDep, principal: AdminPrincipal) -> dict[str, Any]:
    d = outbox.redrive(session, delivery_id, actor=principal.actor)
    return delivery_out(d).model_dump()
