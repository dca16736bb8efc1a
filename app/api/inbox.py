"""Pull inbox (modelled on the axis's getReceivedEdocList / getEdoc / updateStatus)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import Cursor, Limit, SessionDep, SystemPrincipal, decode_cursor, encode_cursor
from app.api.problems import binary, edxml_response, responses
from app.core.timeutil import iso
from app.delivery import service as delivery
from app.delivery.models import Delivery
from app.documents import repository as documents_repo
from app.documents import service as documents
from app.documents import statuses
from app.documents.models import Document, StatusMessage
from app.documents.schemas import AckIn, InboxItem

router = APIRouter(prefix="/inbox", tags=["inbox"])

STATE_FILTER = {
    "pending": ("available",),
    "acknowledged": ("acknowledged",),
    "rejected": ("rejected",),
    "all": ("available", "acknowledged", "rejected"),
}


def _item(d: Delivery, doc: Document, status: StatusMessage | None) -> InboxItem:
    return InboxItem(
        id=d.id,
        document=d.document,
        document_id=doc.document_id,
        message_type="status" if d.kind == "status" else "document",
        business_type=doc.business_type if d.kind == "document" else None,
        status_code=status.code if status else None,
        from_=status.from_organ if status else doc.from_organ,
        subject=doc.subject,
        state=d.state,
        available_at=iso(d.available_at),
        revoked=d.revoked,
    )


@router.get("", responses=responses(401, 403, 422))
def list_inbox(
    session: SessionDep,
    principal: SystemPrincipal,
    organ_id: str | None = None,
    state: Literal["pending", "acknowledged", "rejected", "all"] = "pending",
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
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
    return {
        "items": [i.model_dump(mode="json", by_alias=True) for i in items],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }


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


@router.post("/{delivery_id}/ack", responses=responses(401, 403, 404, 409, 422))
def ack(
    delivery_id: str, body: AckIn, request: Request, session: SessionDep, principal: SystemPrincipal
) -> dict[str, Any]:
    d = statuses.acknowledge(
        session, request.app.state.hub, principal, delivery_id, body.result, body.reason
    )
    return {"id": d.id, "state": d.state, "acked_at": iso(d.acked_at)}
