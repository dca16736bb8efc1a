"""Dead deliveries and re-drive (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import (
    AdminPrincipal,
    Cursor,
    Limit,
    OrganIdQuery,
    SessionDep,
    decode_cursor,
    encode_cursor,
)
from app.api.problems import responses
from app.api.schemas import Page
from app.delivery import outbox
from app.delivery import repository as repo
from app.delivery.models import DeliveryState
from app.documents.schemas import AdminDeliveryOut, DeliveryOut
from app.documents.service import delivery_out

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


class DeliveryPage(Page[AdminDeliveryOut]):
    pass


@router.get("", response_model=DeliveryPage, responses=responses(401, 403, 422))
def list_deliveries(
    session: SessionDep,
    _: AdminPrincipal,
    state: DeliveryState | None = None,
    organ_id: OrganIdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> DeliveryPage:
    rows = repo.deliveries_page(
        session, state=state, organ_id=organ_id, after=decode_cursor(cursor), limit=limit + 1
    )
    page = rows[:limit]
    return DeliveryPage(
        items=[
            AdminDeliveryOut(
                **delivery_out(d).model_dump(), kind=d.kind, document=d.document, mode=d.mode
            )
            for d in page
        ],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@router.post(
    "/{delivery_id}/redrive",
    response_model=DeliveryOut,
    responses=responses(401, 403, 404, 409),
)
def redrive(delivery_id: str, session: SessionDep, principal: AdminPrincipal) -> DeliveryOut:
    """Send a dead delivery again (its attempts start over)."""
    return delivery_out(outbox.redrive(session, delivery_id, actor=principal.actor))
