"""Documents: who may see what, idempotency records, validation reports, views and lists.

The path a document takes through the hub is `app.documents.pipeline`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from app.clients.service import Principal
from app.core.errors import Conflict, Forbidden, HubError, NotFound, Unprocessable
from app.core.ids import new_id
from app.core.timeutil import iso, utcnow
from app.delivery import repository as delivery_repo
from app.delivery import service as delivery
from app.delivery.models import Delivery, TraceEvent
from app.documents import repository as repo
from app.documents.models import Document, IdempotencyRecord, StatusMessage, ValidationRecord
from app.documents.schemas import DeliveryOut, DocumentOut, SignatureSummary, WarningOut
from app.edxml import EdxmlDocument, EdxmlWarning, ParsedMessage, build_document_tree
from app.edxml.interop import content_type_warning
from app.signing.report import Message, ValidationReport

ANY_SIGNATURE = "//*[local-name()='Signature']"


class SignatureInvalid(HubError):
    status, code, title = 422, "signature.invalid", "Signature does not pass"


def has_signature(root: etree._Element) -> bool:
    return bool(root.xpath(ANY_SIGNATURE))


def require_serves(principal: Principal, organ_id: str) -> None:
    if principal.role != "admin" and organ_id not in principal.organ_ids:
        raise Forbidden(f"this client does not serve {organ_id}", code="auth.forbidden")


def can_see(principal: Principal, session: Session, doc: Document) -> bool:
    if principal.role in ("admin", "auditor"):
        return True
    if principal.role != "system":
        return False
    if doc.from_organ in principal.organ_ids:
        return True
    return any(
        d.organ_id in principal.organ_ids for d in delivery_repo.deliveries_of(session, doc.id)
    )


def get_visible(session: Session, principal: Principal, document_id: str) -> Document:
    doc = session.get(Document, document_id)
    if doc is None or not can_see(principal, session, doc):
        raise NotFound("no such document", code="document.not_found")
    return doc


def inbox_blob(session: Session, delivery_id: str, organ_ids: frozenset[str]) -> str:
    """The blob an inbox item serves: the status message's or the document's."""
    d = delivery.visible_delivery(session, delivery_id, organ_ids)
    row = (
        session.get(StatusMessage, d.message_id)
        if d.kind == "status"
        else session.get(Document, d.document)
    )
    if row is None:
        raise NotFound("no such inbox item", code="delivery.not_found")
    return row.blob


# -- idempotency ----------------------------------------------------------------------------


def request_hash(content_type: str, body_digest: str) -> str:
    return hashlib.sha256(f"{content_type}\n{body_digest}".encode()).hexdigest()


def idempotent_replay(
    session: Session, principal: Principal, key: str | None, req_hash: str
) -> tuple[int, dict[str, Any]] | None:
    if not key:
        return None
    if len(key) > 200:
        raise Unprocessable("Idempotency-Key is longer than 200 characters", code="request.invalid")
    rec = session.get(IdempotencyRecord, (principal.client_id, key))
    if rec is None:
        return None
    if rec.request_hash != req_hash:
        raise Conflict(
            "this Idempotency-Key was used with another body", code="idempotency.conflict"
        )
    return rec.status, json.loads(rec.body)


def remember(
    session: Session,
    principal: Principal,
    key: str | None,
    req_hash: str,
    status: int,
    body: dict[str, Any],
) -> None:
    if key:
        session.add(
            IdempotencyRecord(
                client_id=principal.client_id,
                key=key,
                request_hash=req_hash,
                status=status,
                body=json.dumps(body, ensure_ascii=False),
            )
        )


# -- signatures -------------------------------------------------------------------------------


def keep_report(
    session: Session,
    doc: Document,
    report: ValidationReport,
    trigger: str,
    *,
    status: StatusMessage | None = None,
) -> ValidationRecord:
    """Keep a report (SPEC 5: every check ever made): of the document's signature, or with
    `status` of that status message's (the document's summary is then left alone)."""
    rec = ValidationRecord(**report_row(doc, report, trigger, status=status))
    session.add(rec)
    return rec


def report_row(
    doc: Document,
    report: ValidationReport,
    trigger: str,
    *,
    status: StatusMessage | None = None,
) -> dict[str, Any]:
    """The kept report as a row (`keep_report`, or `repo.insert_report` on the submission's
    path); without `status`, the report's summary is set on `doc` too."""
    data = report.to_dict()
    row = {
        "id": new_id(),  # known before the insert: a pending timestamp row points at it
        "document": doc.id,
        "status": status.id if status is not None else None,
        "trigger": trigger,
        "indication": report.indication,
        "sub_indication": report.sub_indication,
        "organ_id": status.from_organ if status is not None else doc.from_organ,
        "report": data,
        "validated_at": utcnow(),
    }
    if status is None:
        doc.indication = report.indication
        doc.sub_indication = report.sub_indication
        doc.signed_by = data.get("signed_by")
        doc.pdf_indication = report.pdf_indication
        doc.pdf_signed = report.pdfs_signed_by(doc.from_organ)
    return row


def with_warnings(report: ValidationReport, warnings: list[EdxmlWarning]) -> ValidationReport:
    """The report with the package's warnings added, so the kept report records them too."""
    if not warnings:
        return report
    extra = tuple(Message(w.code, w.detail) for w in warnings)
    return dataclasses.replace(report, warnings=report.warnings + extra)


# -- submission -------------------------------------------------------------------------------


def parsed_from_json(doc: EdxmlDocument) -> ParsedMessage:
    """JSON submissions become the same tree an XML submission would have been parsed into."""
    doc = doc.with_document_id()
    checked = (
        content_type_warning(a.content_id, a.content_type, a.data[:8]) for a in doc.attachments
    )
    warnings = tuple(w for w in checked if w is not None)
    return ParsedMessage(build_document_tree(doc), "document", document=doc, warnings=warnings)


# -- views ------------------------------------------------------------------------------------


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        organ_id=d.organ_id,
        route=d.route,
        state=d.state,
        attempts=d.attempts,
        last_error=d.last_error,
        updated_at=iso(d.updated_at) or "",
        status_code=d.status_code,
        revoked=d.revoked,
    )


def to_out(
    session: Session,
    doc: Document,
    principal: Principal,
    deliveries: list[Delivery] | None = None,
    warnings: list[EdxmlWarning] | None = None,
) -> DocumentOut:
    """The document resource; `deliveries` when the caller loaded them for a whole page."""
    if deliveries is None:
        deliveries = delivery_repo.deliveries_of(session, doc.id)
    if principal.role == "system" and doc.from_organ not in principal.organ_ids:
        deliveries = [d for d in deliveries if d.organ_id in principal.organ_ids]
    return DocumentOut(
        id=doc.id,
        document_id=doc.document_id,
        business_type=doc.business_type,
        from_=doc.from_organ,
        to=list(doc.to_organs),
        subject=doc.subject,
        code=doc.code,
        promulgation_date=_date(doc.promulgation_date),
        accepted_at=iso(doc.accepted_at) or "",
        response_for=list(doc.response_for or []),
        attachments=list(doc.attachments or []),
        signature=SignatureSummary(
            indication=doc.indication, sub_indication=doc.sub_indication, signed_by=doc.signed_by
        ),
        deliveries=[delivery_out(d) for d in deliveries],
        warnings=[WarningOut(code=w.code, detail=w.detail) for w in warnings or []],
    )


def visible_trace(session: Session, doc: Document, principal: Principal) -> list[TraceEvent]:
    """The document's trace as this caller may see it (the rule of `to_out`).

    The sender, admins and auditors see every event. A recipient's system sees the document's
    own events and the sender's, and its own deliveries and statuses; a co-recipient's
    acknowledgements, statuses and delivery attempts are not its business.
    """
    events = repo.trace_of(session, doc.id)
    if principal.role != "system" or doc.from_organ in principal.organ_ids:
        return events
    mine = principal.organ_ids
    return [
        e
        for e in events
        if e.organ_id in mine or (e.delivery is None and e.organ_id in (None, doc.from_organ))
    ]


def list_documents(
    session: Session,
    principal: Principal,
    *,
    direction: str | None,
    organ_id: str | None,
    since: datetime | None,
    after: str | None,
    limit: int,
    document_id: str | None = None,
    from_organ: str | None = None,
) -> list[Document]:
    """Documents the caller may see: a system's are those its organizations sent or received."""
    if principal.role == "system":
        organs = set(principal.organ_ids)
        if organ_id:
            if organ_id not in organs:
                return []
            organs = {organ_id}
    else:
        organs = {organ_id} if organ_id else set()
    return repo.list_documents(
        session,
        organs=organs,
        direction=direction,
        since=since,
        after=after,
        limit=limit,
        document_id=document_id,
        from_organ=from_organ,
    )


def page_out(session: Session, docs: list[Document], principal: Principal) -> list[DocumentOut]:
    """A page of documents with their deliveries, loaded in one query."""
    by_doc = delivery_repo.deliveries_by_document(session, [d.id for d in docs])
    return [to_out(session, d, principal, by_doc.get(d.id, [])) for d in docs]
