"""Document, status, validation and trace routes (SPEC section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from app.api.body import BodyDep
from app.api.deps import (
    AUDIT,
    Authorize,
    Cursor,
    Limit,
    SessionDep,
    decode_cursor,
    encode_cursor,
)
from app.api.problems import binary, responses
from app.clients.service import Principal
from app.core.db import unit_of_work
from app.core.errors import HubError, NotFound, Unprocessable
from app.core.timeutil import LOCAL_TZ, as_utc, iso
from app.delivery.models import TraceEvent
from app.documents import service, statuses
from app.documents.models import ValidationRecord
from app.documents.schemas import StatusIn
from app.edxml import EdxmlDocument, parse_file
from app.hub import Hub

router = APIRouter(prefix="/documents", tags=["documents"])

DocumentReader = Annotated[Principal, Authorize("system", "admin", "auditor").dep()]
Submitter = Annotated[Principal, Authorize("system").dep()]
Auditor = Annotated[Principal, AUDIT.dep()]

EDXML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {"schema": {"type": "string", "description": "an edXML message"}},
            "application/json": {"schema": {"type": "object", "description": "EdxmlDocument"}},
        },
    }
}


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def json_model(raw: bytes) -> EdxmlDocument:
    try:
        return EdxmlDocument.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise Unprocessable(
            "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5]),
            code="edxml.invalid",
            extra={"errors": errors},
        ) from None


@router.post(
    "",
    status_code=202,
    openapi_extra=EDXML_BODY,
    responses=responses(401, 403, 409, 413, 415, 422, 503),
)
def submit_document(
    request: Request,
    body: BodyDep,
    session: SessionDep,
    principal: Submitter,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    hub = _hub(request)
    req_hash = service.request_hash(body.content_type, body.sha256)
    replay = service.idempotent_replay(session, principal, idempotency_key, req_hash)
    if replay is not None:
        return JSONResponse(
            replay[1], status_code=replay[0], headers={"Idempotency-Replayed": "true"}
        )
    if body.is_json:
        parsed = service.parsed_from_json(json_model(body.read()))
    elif body.is_xml:
        parsed = body.parse_edxml(hub.settings.max_edxml_bytes)
    else:
        raise HubError(
            "send application/xml (edXML) or application/json",
            code="request.unsupported_media_type",
            status=415,
        )
    try:
        doc = service.submit(session, hub, principal, parsed)
    except service.SignatureInvalid as exc:
        session.rollback()
        with unit_of_work(request.app.state.sessionmaker) as s:
            message = parsed.document
            service.record_refusal(
                s,
                principal,
                exc,
                {
                    "document_id": message.effective_document_id if message else None,
                    "from": message.from_.organ_id if message else None,
                    "indication": exc.extra.get("validation", {}).get("indication"),
                },
            )
        raise
    out = service.to_out(session, doc, principal).model_dump(mode="json", by_alias=True)
    service.remember(session, principal, idempotency_key, req_hash, 202, out)
    return JSONResponse(out, status_code=202, headers={"Location": f"/api/v1/documents/{doc.id}"})


@router.get("", responses=responses(401, 403, 422))
def list_documents(
    session: SessionDep,
    principal: DocumentReader,
    direction: Literal["sent", "received"] | None = None,
    organ_id: str | None = None,
    since: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    rows = service.list_documents(
        session,
        principal,
        direction=direction,
        organ_id=organ_id,
        since=as_utc(since) if since else None,
        after=decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    return {
        "items": [
            service.to_out(session, d, principal).model_dump(mode="json", by_alias=True)
            for d in page
        ],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }


@router.get("/{id}", responses=responses(401, 403, 404))
def get_document(id: str, session: SessionDep, principal: DocumentReader) -> dict[str, Any]:
    doc = service.get_visible(session, principal, id)
    return service.to_out(session, doc, principal).model_dump(mode="json", by_alias=True)


@router.get(
    "/{id}/edxml",
    response_class=Response,
    responses=binary("application/xml", 401, 403, 404),
)
def get_edxml(
    id: str, request: Request, session: SessionDep, principal: DocumentReader
) -> Response:
    doc = service.get_visible(session, principal, id)
    return FileResponse(_hub(request).blobs.path(doc.blob), media_type="application/xml")


@router.get(
    "/{id}/attachments/{content_id}",
    response_class=Response,
    responses=binary("application/octet-stream", 401, 403, 404),
)
def get_attachment(
    id: str, content_id: str, request: Request, session: SessionDep, principal: DocumentReader
) -> Response:
    doc = service.get_visible(session, principal, id)
    wanted = {content_id, f"cid:{content_id}", content_id.removeprefix("cid:")}
    meta = next((a for a in doc.attachments or [] if a.get("content_id") in wanted), None)
    if meta is None:
        raise NotFound("no such attachment", code="attachment.not_found")
    hub = _hub(request)
    parsed = parse_file(hub.blobs.path(doc.blob), max_bytes=hub.settings.max_edxml_bytes)
    att = parsed.attachment(str(meta["content_id"]))
    filename = str(meta.get("name") or "attachment")
    return StreamingResponse(
        att.iter_chunks(),
        media_type=att.content_type or "application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}"},
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@router.get("/{id}/trace", responses=responses(401, 403, 404))
def get_trace(id: str, session: SessionDep, principal: DocumentReader) -> dict[str, Any]:
    doc = service.get_visible(session, principal, id)
    events = session.scalars(
        select(TraceEvent).where(TraceEvent.document == doc.id).order_by(TraceEvent.id)
    )
    return {
        "document": doc.id,
        "items": [
            {
                "at": iso(e.at),
                "event": e.event,
                "organ_id": e.organ_id,
                "delivery": e.delivery,
                "detail": e.detail,
            }
            for e in events
        ],
    }


@router.post(
    "/{id}/statuses",
    status_code=202,
    openapi_extra=EDXML_BODY,
    responses=responses(401, 403, 404, 409, 413, 415, 422),
)
def post_status(
    id: str, request: Request, body: BodyDep, session: SessionDep, principal: Submitter
) -> dict[str, Any]:
    hub = _hub(request)
    doc = service.get_visible(session, principal, id)
    if body.is_json:
        try:
            data = StatusIn.model_validate_json(body.read())
        except ValidationError as exc:
            raise Unprocessable(
                str(exc.errors(include_url=False)[0]["msg"]), code="request.invalid"
            ) from None
        status = statuses.report_from_api(session, hub, principal, doc, data)
    elif body.is_xml:
        parsed = body.parse_edxml(hub.settings.max_edxml_bytes)
        if parsed.kind != "status" or parsed.status is None:
            raise Unprocessable("this is a document, not a status message", code="edxml.invalid")
        msg = parsed.status
        if msg.response_for.document_id != doc.document_id:
            raise Unprocessable(
                "ResponseFor/DocumentId does not name this document", code="edxml.invalid"
            )
        service.require_serves(principal, msg.from_.organ_id)
        status = statuses.report(
            session,
            hub,
            doc,
            organ_id=msg.from_.organ_id,
            code=msg.status_code,
            description=msg.description,
            staff=msg.staff_info.model_dump() if msg.staff_info else None,
            timestamp=msg.timestamp.replace(tzinfo=LOCAL_TZ),
            actor=principal.actor,
            root=parsed.root,
        )
    else:
        raise HubError(
            "send application/json or application/xml",
            code="request.unsupported_media_type",
            status=415,
        )
    return statuses.status_out(status).model_dump(mode="json", by_alias=True)


@router.get("/{id}/statuses", responses=responses(401, 403, 404))
def get_statuses(id: str, session: SessionDep, principal: DocumentReader) -> dict[str, Any]:
    doc = service.get_visible(session, principal, id)
    rows = statuses.list_statuses(session, doc, principal)
    return {
        "items": [statuses.status_out(s).model_dump(mode="json", by_alias=True) for s in rows],
        "next_cursor": None,
    }


@router.get("/{id}/validation", responses=responses(401, 403, 404))
def get_validation(id: str, session: SessionDep, principal: DocumentReader) -> dict[str, Any]:
    doc = service.get_visible(session, principal, id)
    rec = session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.document == doc.id)
        .order_by(ValidationRecord.id.desc())
        .limit(1)
    ).one_or_none()
    if rec is None:
        raise NotFound("no validation report", code="validation.not_found")
    count = session.scalar(
        select(func.count())
        .select_from(ValidationRecord)
        .where(ValidationRecord.document == doc.id)
    )
    return {"id": rec.id, "trigger": rec.trigger, "reports": count, "report": rec.report}


@router.post("/{id}/validation", responses=responses(401, 403, 404))
def revalidate(
    id: str, request: Request, session: SessionDep, principal: Auditor
) -> dict[str, Any]:
    from app.documents.validation import revalidate as run

    doc = service.get_visible(session, principal, id)
    rec = run(session, _hub(request), doc, actor=principal.actor)
    return {"id": rec.id, "trigger": rec.trigger, "report": rec.report}
