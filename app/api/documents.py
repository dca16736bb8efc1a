"""Document, status, validation and trace routes (SPEC section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.api import openapi
from app.api.body import BodyDep, parse_json
from app.api.deps import (
    AUDIT,
    Authorize,
    Cursor,
    Limit,
    OrganIdQuery,
    SessionDep,
    commits_in_handler,
    decode_cursor,
    encode_cursor,
    organ_id_query,
)
from app.api.problems import binary, edxml_response, responses
from app.api.schemas import Page
from app.clients.service import Principal
from app.core.errors import HubError, NotFound
from app.core.timeutil import as_utc, iso
from app.documents import pipeline, service, statuses
from app.documents import repository as repo
from app.documents.schemas import (
    DocumentOut,
    SignatureReport,
    StatusIn,
    StatusOut,
    TraceEventOut,
    TraceOut,
    ValidationOut,
)
from app.edxml import EdxmlDocument, ParsedMessage, parse_file
from app.edxml.models import is_mime_type
from app.hub import Hub

router = APIRouter(prefix="/documents", tags=["documents"])

DocumentReader = Annotated[Principal, Authorize("system", "admin", "auditor").dep()]
Submitter = Annotated[Principal, Authorize("system").dep()]
Auditor = Annotated[Principal, AUDIT.dep()]

DOCUMENT_BODY = openapi.request_body(
    EdxmlDocument,
    xml="an edXML document (QCVN 102:2016); without a ds:Signature the hub signs it",
    json_example=openapi.DOCUMENT_JSON_EXAMPLE,
)
STATUS_BODY = openapi.request_body(
    StatusIn, xml="an edXML status message (MessageHeader with StatusCode, no body)"
)


class DocumentPage(Page[DocumentOut]):
    pass


class StatusPage(Page[StatusOut]):
    pass


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.post(
    "",
    status_code=202,
    response_model=DocumentOut,
    openapi_extra=DOCUMENT_BODY,
    responses=responses(401, 403, 409, 413, 415, 422, 503),
)
@commits_in_handler  # one thread hop: the pipeline and its commit, before the 202 is sent
def submit_document(
    request: Request,
    principal: Submitter,  # before the body: a wrong role is refused before it is read
    body: BodyDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    sign_pdf: Annotated[
        bool,
        Query(
            description="sign every top-level PDF attachment as the sending organization "
            "(PAdES, visible stamp) before the package is sealed; needs an unsigned package"
        ),
    ] = False,
) -> JSONResponse:
    hub = _hub(request)

    def parse() -> ParsedMessage:
        if body.is_json:
            return service.parsed_from_json(
                parse_json(EdxmlDocument, body.read(), code="edxml.invalid")
            )
        if body.is_xml:
            return body.parse_edxml(hub.settings.max_edxml_bytes)
        raise HubError(
            "send application/xml (edXML) or application/json",
            code="request.unsupported_media_type",
            status=415,
        )

    answer = pipeline.submit_from_api(
        session,
        hub,
        principal,
        parse,
        idempotency_key=idempotency_key,
        request_hash=service.request_hash(
            body.content_type, body.sha256 + (":sign_pdf" if sign_pdf else "")
        ),
        sign_pdf=sign_pdf,
    )
    if answer.replayed:
        return JSONResponse(
            answer.body, status_code=answer.status, headers={"Idempotency-Replayed": "true"}
        )
    doc = answer.document
    assert doc is not None
    return JSONResponse(
        answer.body, status_code=202, headers={"Location": f"/api/v1/documents/{doc.id}"}
    )


@router.get("", response_model=DocumentPage, responses=responses(401, 403, 422))
def list_documents(
    session: SessionDep,
    principal: DocumentReader,
    direction: Literal["sent", "received"] | None = None,
    organ_id: OrganIdQuery = None,
    document_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2000,
            description="an edXML DocumentId: the documents filed under it that you may see",
            examples=["000.00.01.H39,2026/11/20,123/UBND-VX"],
        ),
    ] = None,
    from_: Annotated[str | None, organ_id_query("the sender's OrganId", alias="from")] = None,
    since: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> DocumentPage:
    rows = service.list_documents(
        session,
        principal,
        direction=direction,
        organ_id=organ_id,
        document_id=document_id,
        from_organ=from_,
        since=as_utc(since) if since else None,
        after=decode_cursor(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    return DocumentPage(
        items=service.page_out(session, page, principal),
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@router.get("/{id}", response_model=DocumentOut, responses=responses(401, 403, 404))
def get_document(id: str, session: SessionDep, principal: DocumentReader) -> DocumentOut:
    doc = service.get_visible(session, principal, id)
    return service.to_out(session, doc, principal)


@router.get(
    "/{id}/edxml",
    response_class=Response,
    responses=binary("application/xml", 401, 403, 404),
)
def get_edxml(
    id: str, request: Request, session: SessionDep, principal: DocumentReader
) -> Response:
    doc = service.get_visible(session, principal, id)
    return edxml_response(_hub(request).blobs.open(session, doc.blob))


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
    with hub.blobs.as_path(session, doc.blob) as path:
        parsed = parse_file(path, max_bytes=hub.settings.max_edxml_bytes)
    att = parsed.attachment(str(meta["content_id"]))
    return StreamingResponse(
        att.iter_chunks(),
        media_type=_served_type(att.content_type),
        headers={
            "Content-Disposition": content_disposition(str(meta.get("name") or "attachment")),
            "X-Content-Type-Options": "nosniff",
        },
    )


def _served_type(content_type: str | None) -> str:
    """The attachment's declared type if it is a valid media type (documents stored before
    input was checked may hold anything), else application/octet-stream."""
    if content_type and is_mime_type(content_type):
        return content_type
    return "application/octet-stream"


def content_disposition(name: str) -> str:
    """RFC 6266 `attachment` with an ASCII fallback and the exact name as UTF-8 `filename*`."""
    from urllib.parse import quote

    fallback = "".join(c if c.isascii() and (c.isalnum() or c in " ._-()") else "_" for c in name)
    return f"attachment; filename=\"{fallback.strip() or 'attachment'}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/{id}/trace", response_model=TraceOut, responses=responses(401, 403, 404))
def get_trace(id: str, session: SessionDep, principal: DocumentReader) -> TraceOut:
    doc = service.get_visible(session, principal, id)
    events = service.visible_trace(session, doc, principal)
    return TraceOut(
        document=doc.id,
        items=[
            TraceEventOut(
                at=iso(e.at),
                event=e.event,
                organ_id=e.organ_id,
                delivery=e.delivery,
                detail=e.detail,
            )
            for e in events
        ],
    )


@router.post(
    "/{id}/statuses",
    status_code=202,
    response_model=StatusOut,
    openapi_extra=STATUS_BODY,
    responses=responses(401, 403, 404, 409, 413, 415, 422),
)
@commits_in_handler
def post_status(
    id: str, request: Request, principal: Submitter, body: BodyDep, session: SessionDep
) -> StatusOut:
    hub = _hub(request)

    def parse() -> StatusIn | ParsedMessage:
        if body.is_json:
            return parse_json(StatusIn, body.read())
        if body.is_xml:
            return body.parse_edxml(hub.settings.max_edxml_bytes)
        raise HubError(
            "send application/json or application/xml",
            code="request.unsupported_media_type",
            status=415,
        )

    status = statuses.report_from_api(session, hub, principal, id, parse)
    [out] = statuses.statuses_out(session, [status])
    return out


@router.get("/{id}/statuses", response_model=StatusPage, responses=responses(401, 403, 404))
def get_statuses(id: str, session: SessionDep, principal: DocumentReader) -> StatusPage:
    doc = service.get_visible(session, principal, id)
    rows = statuses.list_statuses(session, doc, principal)
    return StatusPage(items=statuses.statuses_out(session, rows), next_cursor=None)


@router.post(
    "/{id}/statuses/{status_id}/validation",
    response_model=ValidationOut,
    responses=responses(401, 403, 404),
)
def revalidate_status(
    id: str, status_id: str, request: Request, session: SessionDep, principal: Auditor
) -> ValidationOut:
    """Validate a stored status message's signature again now (its timestamp's gen_time as
    proof of existence); the new report is kept beside the old and shown in the status."""
    from app.documents.validation import revalidate_status as run

    doc = service.get_visible(session, principal, id)
    status = statuses.get_status(session, doc, status_id)
    rec = run(session, _hub(request), status, actor=principal.actor)
    return ValidationOut(
        id=rec.id, trigger=rec.trigger, report=SignatureReport.model_validate(rec.report)
    )


@router.get("/{id}/validation", response_model=ValidationOut, responses=responses(401, 403, 404))
def get_validation(id: str, session: SessionDep, principal: DocumentReader) -> ValidationOut:
    doc = service.get_visible(session, principal, id)
    rec, count = repo.latest_validation(session, doc.id)
    if rec is None:
        raise NotFound("no validation report", code="validation.not_found")
    return ValidationOut(
        id=rec.id,
        trigger=rec.trigger,
        reports=count,
        report=SignatureReport.model_validate(rec.report),
    )


@router.post("/{id}/validation", response_model=ValidationOut, responses=responses(401, 403, 404))
def revalidate(id: str, request: Request, session: SessionDep, principal: Auditor) -> ValidationOut:
    """Validate the stored document again now; the new report is kept beside the old."""
    from app.documents.validation import revalidate as run

    doc = service.get_visible(session, principal, id)
    rec = run(session, _hub(request), doc, actor=principal.actor)
    return ValidationOut(
        id=rec.id, trigger=rec.trigger, report=SignatureReport.model_validate(rec.report)
    )
