"""The document pipeline: check, sign or verify, store, route — in one transaction.

Business data is read from the parsed tree only after the signature over the whole file
(Reference URI="") has been checked or made, so what is stored and routed is what is signed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.clients.service import Principal
from app.core.errors import (
    Conflict,
    Forbidden,
    HubError,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
)
from app.core.timeutil import iso, utcnow
from app.delivery import service as delivery
from app.delivery.models import Delivery, TraceEvent
from app.directory.models import Organization
from app.documents.models import Document, IdempotencyRecord, ValidationRecord
from app.documents.schemas import DeliveryOut, DocumentOut, SignatureSummary, WarningOut
from app.edxml import (
    EdxmlDocument,
    EdxmlWarning,
    ParsedMessage,
    build_document_tree,
    prepare_package,
    serialize_to,
)
from app.edxml.interop import content_type_warning
from app.edxml.payloads import DetachedPayloads, detach_payloads
from app.hub import Hub
from app.signing import ValidationReport, validate
from app.signing.report import Message

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
    return any(d.organ_id in principal.organ_ids for d in delivery.deliveries_of(session, doc.id))


def get_visible(session: Session, principal: Principal, document_id: str) -> Document:
    doc = session.get(Document, document_id)
    if doc is None or not can_see(principal, session, doc):
        raise NotFound("no such document", code="document.not_found")
    return doc


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
    session: Session, doc: Document, report: ValidationReport, trigger: str
) -> ValidationRecord:
    data = report.to_dict()
    rec = ValidationRecord(
        document=doc.id,
        trigger=trigger,
        indication=report.indication,
        sub_indication=report.sub_indication,
        organ_id=doc.from_organ,
        report=data,
        validated_at=utcnow(),
    )
    session.add(rec)
    doc.indication = report.indication
    doc.sub_indication = report.sub_indication
    doc.signed_by = data.get("signed_by")
    return rec


def with_warnings(report: ValidationReport, warnings: list[EdxmlWarning]) -> ValidationReport:
    """The report with the package's warnings added, so the kept report records them too."""
    if not warnings:
        return report
    extra = tuple(Message(w.code, w.detail) for w in warnings)
    return dataclasses.replace(report, warnings=report.warnings + extra)


def sign_or_verify(
    session: Session,
    hub: Hub,
    root: etree._Element,
    from_organ: str,
    at: datetime,
    payloads: DetachedPayloads | None = None,
) -> tuple[bool, ValidationReport]:
    """Unsigned input is signed as its sender; signed input must be TOTAL_PASSED."""
    trust = hub.custody.trust_store(session)
    if has_signature(root):
        report = validate(root, expected_organ_id=from_organ, trust=trust, at=at, payloads=payloads)
        if not report.passed:
            raise SignatureInvalid(
                f"the signature is {report.indication}"
                + (f" ({report.sub_indication})" if report.sub_indication else ""),
                extra={"validation": report.to_dict()},
            )
        return False, report
    from app.signing.xmldsig import sign_tree

    sign_tree(root, hub.custody.signer_for(session, from_organ), payloads)
    report = validate(root, expected_organ_id=from_organ, trust=trust, at=at, payloads=payloads)
    return True, report


# -- submission -------------------------------------------------------------------------------


def parsed_from_json(doc: EdxmlDocument) -> ParsedMessage:
    """JSON submissions become the same tree an XML submission would have been parsed into."""
    doc = doc.with_document_id()
    checked = (
        content_type_warning(a.content_id, a.content_type, a.data[:8]) for a in doc.attachments
    )
    warnings = tuple(w for w in checked if w is not None)
    return ParsedMessage(build_document_tree(doc), "document", document=doc, warnings=warnings)


def _targets(
    session: Session, from_organ: str, document_ids: list[str], *, origin: str
) -> list[Document]:
    """The sender's own documents named by a revoke, update or replace, real ones first. A
    quarantined copy is never the target of traffic from the axis (it is not the From's)."""
    if not document_ids:
        return []
    stmt = select(Document).where(
        Document.from_organ == from_organ, Document.document_id.in_(document_ids)
    )
    if origin != "api":
        stmt = stmt.where(Document.quarantined.is_(False))
    found = list(session.scalars(stmt.order_by(Document.quarantined)))
    missing = sorted(set(document_ids) - {d.document_id for d in found})
    if missing:
        raise Unprocessable(
            f"{from_organ} sent no document {', '.join(missing)}", code="document.unknown_target"
        )
    return found


def submit(
    session: Session,
    hub: Hub,
    principal: Principal,
    parsed: ParsedMessage,
    *,
    origin: str = "api",
    warnings: list[EdxmlWarning] | None = None,
) -> Document:
    """Accept one document; what was accepted liberally is appended to `warnings`."""
    if parsed.kind != "document" or parsed.document is None:
        raise Unprocessable(
            "this is a status message: post it to /documents/{id}/statuses",
            code="edxml.invalid",
        )
    doc_model = parsed.document
    from_organ = doc_model.from_.organ_id
    if origin == "api":
        require_serves(principal, from_organ)
    sender = session.get(Organization, from_organ)
    if sender is None or not sender.active:
        raise Unprocessable(
            f"{from_organ} is not an active organization of the directory",
            code="organization.unknown",
        )
    if origin == "api" and sender.route != "local":
        raise Unprocessable(
            f"{from_organ} is not a local organization", code="organization.invalid"
        )

    document_id = doc_model.effective_document_id
    if session.scalars(
        select(Document.id).where(
            Document.from_organ == from_organ,
            Document.document_id == document_id,
            Document.quarantined.is_(False),  # a quarantined copy holds no key (SPEC 5)
        )
    ).first():
        raise Conflict(f"{from_organ} already sent {document_id}", code="document.duplicate")

    recipients_codes = [o.organ_id for o in doc_model.to]
    btype = doc_model.business_type
    business = doc_model.business
    revoke_targets: list[Document] = []
    added: list[str] = []
    removed: list[str] = []
    update_target: Document | None = None
    replaced_ids: list[str] = []
    if btype == 1:
        revoke_targets = _targets(
            session,
            from_organ,
            [r.document_id for r in doc_model.response_for if r.document_id],
            origin=origin,
        )
        for t in revoke_targets:
            recipients_codes += [d.organ_id for d in delivery.deliveries_of(session, t.id)]
    elif btype == 2:
        target_id = business.document_id or next(
            (r.document_id for r in doc_model.response_for if r.document_id), None
        )
        if not target_id:
            raise Unprocessable("an update names the document it updates", code="edxml.invalid")
        update_target = _targets(session, from_organ, [target_id], origin=origin)[0]
        for r in business.document_info.receivers if business.document_info else []:
            (added if r.receiver_type == 0 else removed).append(r.organ_id)
        recipients_codes += removed
    elif btype == 3:
        replaced_ids = [r.document_id for r in business.replacement_infos]
        _targets(session, from_organ, replaced_ids, origin=origin)

    recipients = delivery.resolve_recipients(session, recipients_codes)
    if from_organ in {r.organ_id for r in recipients}:
        raise Unprocessable("a document is not sent to its own sender", code="edxml.invalid")

    carried = sum(a.size for a in doc_model.attachments)
    if carried > hub.settings.max_document_bytes:
        raise PayloadTooLarge(
            f"the attachments hold {carried} bytes, more than MAX_DOCUMENT_BYTES "
            f"({hub.settings.max_document_bytes})"
        )
    now = utcnow()
    attachments = [
        {"content_id": a.content_id, "name": a.name, "content_type": a.content_type, "size": a.size}
        for a in doc_model.attachments
    ]
    # SDK habits (SPEC 3): placeholder Signature dropped; DocumentId and TraceHeader written.
    noted = [
        *parsed.warnings,
        *prepare_package(
            parsed.root, document_id=document_id, hub_organ_id=hub.settings.hub_organ_id, when=now
        ),
    ]
    # Large attachments leave the tree while it is signed and stored (memory: SPEC 12); the
    # tree is not used afterwards, so they are not put back.
    with detach_payloads(parsed.root, restore=False) as payloads:
        signed_by_hub, report = sign_or_verify(session, hub, parsed.root, from_organ, now, payloads)
        blob, size = hub.blobs.put_writer(lambda out: serialize_to(parsed.root, out, payloads))
    report = with_warnings(report, noted)
    if warnings is not None:
        warnings.extend(noted)

    doc = Document(
        document_id=document_id,
        from_organ=from_organ,
        business_type=btype,
        subject=doc_model.subject,
        code=f"{doc_model.code.code_number}/{doc_model.code.code_notation}",
        promulgation_date=doc_model.promulgation_info.promulgation_date,
        to_organs=[o.organ_id for o in doc_model.to],
        response_for=[r.document_id for r in doc_model.response_for if r.document_id]
        + replaced_ids,
        attachments=attachments,
        origin=origin,
        submitted_by=principal.client_id if origin == "api" else None,
        blob=blob,
        size=size,
        signed_by_hub=signed_by_hub,
        accepted_at=now,
    )
    session.add(doc)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"{from_organ} already sent {document_id}", code="document.duplicate"
        ) from exc
    keep_report(session, doc, report, "signing" if signed_by_hub else "receipt")
    delivery.trace(
        session,
        doc.id,
        "accepted",
        organ_id=from_organ,
        detail={"origin": origin, "size": size},
        at=now,
    )
    delivery.trace(
        session,
        doc.id,
        "signed" if signed_by_hub else "verified",
        organ_id=from_organ,
        detail={"indication": report.indication, "sub_indication": report.sub_indication},
        at=now,
    )
    pending = str(btype) if btype in (1, 2) else None
    delivery.enqueue(
        session,
        kind="document",
        document=doc.id,
        message_id=doc.id,
        recipients=recipients,
        pending_change=pending,
    )

    for t in revoke_targets:
        for d in delivery.deliveries_of(session, t.id):
            d.revoked = True
            d.updated_at = now
        delivery.trace(session, t.id, "revoked", organ_id=from_organ, detail={"by": doc.id})
    if update_target is not None:
        if added:
            existing = {d.organ_id for d in delivery.deliveries_of(session, update_target.id)}
            new_orgs = delivery.resolve_recipients(session, [a for a in added if a not in existing])
            delivery.enqueue(
                session,
                kind="document",
                document=update_target.id,
                message_id=update_target.id,
                recipients=new_orgs,
            )
        for organ in removed:
            copy = delivery.delivery_to(session, update_target.id, organ)
            if copy is not None:
                copy.revoked = True
                copy.updated_at = now
        delivery.trace(
            session,
            update_target.id,
            "updated",
            organ_id=from_organ,
            detail={"by": doc.id, "added": added, "removed": removed},
        )

    audit.record(
        session,
        actor=principal.actor if origin == "api" else f"axis:{from_organ}",
        action="document.accepted",
        target_type="document",
        target_id=doc.id,
        details={
            "document_id": document_id,
            "from": from_organ,
            "to": [r.organ_id for r in recipients],
            "business_type": btype,
            "signed_by_hub": signed_by_hub,
            "indication": report.indication,
            "sha256": blob,
        },
    )
    return doc


def record_refusal(
    session: Session, principal: Principal, error: HubError, detail: dict[str, Any]
) -> None:
    """Security-relevant refusals are audited (in their own transaction; nothing else is kept)."""
    audit.record(
        session,
        actor=principal.actor,
        action="document.refused",
        target_type="document",
        target_id=str(detail.get("document_id") or "-"),
        details={"code": error.code, "detail": error.detail} | detail,
    )


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
    warnings: list[EdxmlWarning] | None = None,
) -> DocumentOut:
    deliveries = delivery.deliveries_of(session, doc.id)
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
    events = list(
        session.scalars(
            select(TraceEvent).where(TraceEvent.document == doc.id).order_by(TraceEvent.id)
        )
    )
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
) -> list[Document]:
    if principal.role == "system":
        organs = set(principal.organ_ids)
        if organ_id:
            if organ_id not in organs:
                return []
            organs = {organ_id}
    else:
        organs = {organ_id} if organ_id else set()
    stmt = select(Document).order_by(Document.id).limit(limit)
    if after:
        stmt = stmt.where(Document.id > after)
    if since:
        stmt = stmt.where(Document.accepted_at >= since)
    received = select(Delivery.document).where(Delivery.kind == "document")
    if organs:
        received = received.where(Delivery.organ_id.in_(organs))
    if direction == "sent":
        if organs:
            stmt = stmt.where(Document.from_organ.in_(organs))
    elif direction == "received":
        stmt = stmt.where(Document.id.in_(received))
    elif organs:
        stmt = stmt.where(Document.from_organ.in_(organs) | Document.id.in_(received))
    return list(session.scalars(stmt))
