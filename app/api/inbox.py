"""Pull inbox (modelled on the axis's getReceivedEdocList / getEdoc / updateStatus)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.api.deps import (
    Cursor,
    Limit,
    OrganIdQuery,
    SessionDep,
    SystemPrincipal,
    decode_cursor,
    encode_cursor,
)
from app.api.problems import binary, edxml_response, responses
from app.api.schemas import Page
from app.core.timeutil import iso
from app.delivery import service as delivery
from app.delivery.models import Delivery
from app.documents import repository as documents_repo
from app.documents import service as documents
from app.documents import statuses
from app.documents.models import Document, StatusMessage
from app.documents.schemas import AckIn, AckOut, InboxItem, InboxState

router = APIRouter(prefix="/inbox", tags=["inbox"])

#: The filter takes the states items show, plus `pending` (= available) and `all`.
StateFilter = Literal["pending", "available", "acknowledged", "rejected", "all"]
STATE_FILTER: dict[str, tuple[InboxState, ...]] = {
    "pending": ("available",),
    "available": ("available",),
    "acknowledged": ("acknowledged",),
    "rejected": ("rejected",),
    "all": ("available", "acknowledged", "rejected"),
}


class InboxPage(Page[InboxItem]):
    pass


def _item(d: Delivery, doc: Document, status: StatusMessage | None) -> InboxItem:
    return InboxItem(
        id=d.id,
        organ_id=d.organ_id,
        document=d.document,
        document_id=doc.document_id,
        message_type="status" if d.kind == "status" else "document",
        business_type=doc.business_type if d.kind == "document" else None,
        status_code=status.code if status else None,
        from_=status.from_organ if status else doc.from_organ,
        subject=doc.subject,
        state=d.state,  # an inbox lists only the states above
        available_at=iso(d.available_at),
        revoked=d.revoked,
    )


@router.get("", response_model=InboxPage, responses=responses(401, 403, 422))
def list_inbox(
    session: SessionDep,
    principal: SystemPrincipal,
    organ_id: OrganIdQuery = None,
    state: Annotated[
        StateFilter,
        Query(description="the state items show; `pending` is `available`; `all` is every one"),
    ] = "pending",
    cursor: Cursor = None,
    limit: Limit = 50,
) -> InboxPage:
    """Messages waiting for the organizations this client serves (or one of them), oldest first."""
    organs = [organ_id] if organ_id else sorted(principal.organ_ids)
    if organ_id and organ_id not in principal.organ_ids:
        organs = []  # another organization's inbox looks empty, not forbidden
    rows = (
        delivery.inbox(
            session,
            organs,
            states=STATE_FILTER[state],
            after=decode_cursor(cursor),
            limit=limit + 1,
        )
        if organs
        else []
    )
    page = rows[:limit]
    docs = documents_repo.documents_by_id(session, [d.document for d in page])
    status_rows = documents_repo.statuses_by_id(
        session, [d.message_id for d in page if d.kind == "status"]
    )
    items = [_item(d, docs[d.document], status_rows.get(d.message_id)) for d in page]
    return InboxPage(
        items=items, next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None
    )


@router.get(
    "/{delivery_id}/edxml",
    response_class=Response,
    responses=binary("application/xml", 401, 403, 404),
)
def inbox_edxml(
    delivery_id: str, request: Request, session: SessionDep, principal: SystemPrincipal
) -> Response:
    blob = documents.inbox_blob(session, delivery_id, principal.organ_ids)
    return edxml_response(request.app.state.hub.blobs.open(session, blob))


@router.post(
    "/{delivery_id}/ack", response_model=AckOut, responses=responses(401, 403, 404, 409, 422)
)
def ack(
    delivery_id: str, body: AckIn, request: Request, session: SessionDep, principal: SystemPrincipal
) -> AckOut:
    """`done` sends status 01 to the sender; acknowledging twice is harmless."""
    d = statuses.acknowledge(
        session, request.app.state.hub, principal, delivery_id, body.result, body.reason
    )
    return AckOut(id=d.id, state=d.state, acked_at=iso(d.acked_at))
