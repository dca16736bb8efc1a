"""Inbound from the national axis: list → fetch → verify → deliver locally → ack.

`updateStatus done` is called only after the item's transaction has committed. A crash
between the two means the item is listed again; its AxisReceipt (committed with the
delivery) recognises it, so it is acknowledged without being delivered twice.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit import service as audit
from app.clients.service import Principal
from app.connectors.vpcp import AxisConnector, AxisError, ReceivedItem
from app.core.db import begin_write, read_first, unit_of_work
from app.core.errors import HubError
from app.core.timeutil import LOCAL_TZ, utcnow
from app.delivery import repository as delivery_repo
from app.delivery.models import AxisReceipt, Delivery
from app.directory.models import Organization
from app.documents import pipeline, statuses
from app.documents import repository as documents_repo
from app.documents import service as documents
from app.documents.models import Document
from app.edxml import EdxmlError, ParsedMessage, serialize
from app.hub import Hub

log = logging.getLogger("app.inbound")

AXIS = Principal(client_id="axis", name="national axis", role="system", organ_ids=frozenset())


def poll_axis(
    hub: Hub, sessions: sessionmaker[Session], axis: AxisConnector, *, worker_id: str
) -> int:
    handled = 0
    for message_type in ("edoc", "status"):
        try:
            items = axis.get_received_list(message_type)
        except AxisError as exc:
            log.warning("axis list failed", extra={"error": str(exc), "message_type": message_type})
            continue
        for item in items:
            try:
                receive_item(hub, sessions, axis, item)
                handled += 1
            except AxisError as exc:
                log.warning("axis item failed", extra={"doc_id": item.doc_id, "error": str(exc)})
    return handled


def receive_item(
    hub: Hub, sessions: sessionmaker[Session], axis: AxisConnector, item: ReceivedItem
) -> str:
    with sessions() as s:
        read_first(s)
        seen = delivery_repo.receipt(s, item.doc_id)
    if seen is not None:
        axis.update_status(item.doc_id, "done")
        return seen.outcome
    data = axis.get_edoc(item.doc_id)
    try:
        with unit_of_work(sessions) as s:
            read_first(s)  # parse and verify without the SQLite write lock
            outcome = _store(s, hub, item, data)
    except IntegrityError:
        # Another worker stored the same item first; its receipt now recognises it.
        outcome = "duplicate"
    axis.update_status(item.doc_id, "done")
    return outcome


def _receipt(
    s: Session,
    item: ReceivedItem,
    outcome: str,
    document: str | None = None,
    detail: str | None = None,
) -> str:
    begin_write(s)
    s.add(
        AxisReceipt(
            axis_doc_id=item.doc_id,
            message_type=item.message_type,
            outcome=outcome,
            document=document,
            detail=detail,
        )
    )
    s.flush()
    return outcome


def _store(s: Session, hub: Hub, item: ReceivedItem, data: bytes) -> str:
    try:
        parsed = pipeline.parse(hub, data)
    except EdxmlError as exc:
        audit.record(
            s,
            actor="axis",
            action="document.refused",
            target_type="axis_item",
            target_id=item.doc_id,
            details={"code": exc.code, "detail": exc.detail},
        )
        return _receipt(s, item, "refused", detail=f"{exc.code}: {exc.detail}")
    if parsed.kind == "status":
        return _store_status(s, hub, item, parsed)
    return _store_document(s, hub, item, parsed)


def _store_document(s: Session, hub: Hub, item: ReceivedItem, parsed: ParsedMessage) -> str:
    assert parsed.document is not None
    doc_model = parsed.document
    from_organ = doc_model.from_.organ_id
    existing = documents_repo.document_by_sender(s, from_organ, doc_model.effective_document_id)
    if existing:
        return _receipt(s, item, "duplicate", existing)
    local = delivery_repo.local_active(s, [o.organ_id for o in doc_model.to])
    if not local:
        return _receipt(s, item, "refused", detail="no local recipient in To")
    sub = pipeline.Submission(AXIS, parsed, origin="vpcp")
    pipeline.sign_or_verify(s, hub, sub, unsigned="verify", refuse=False)
    assert sub.verdict is not None
    if not sub.verdict.passed or s.get(Organization, from_organ) is None:
        return _quarantine(s, hub, item, sub, local)
    # Deliver to the local recipients only; the others were the axis's to reach.
    doc_model.to = [o for o in doc_model.to if o.organ_id in local]
    begin_write(s)
    try:
        with s.begin_nested():  # a refusal undoes the submission, not the receipt
            doc = pipeline.submit_document(s, hub, sub)
    except HubError as exc:
        return _receipt(s, item, "refused", detail=f"{exc.code}: {exc.detail}")
    documents_repo.add_trace(s, doc.id, "received_from_axis", detail={"axis_doc_id": item.doc_id})
    return _receipt(s, item, "delivered", doc.id)


def _quarantine(
    s: Session,
    hub: Hub,
    item: ReceivedItem,
    sub: pipeline.Submission,
    local: list[str],
) -> str:
    """Keep the document for auditors, deliver it to no one, and answer 02 (SPEC section 5)."""
    begin_write(s)
    doc_model, verdict = sub.message, sub.verdict
    assert verdict is not None
    report = verdict.to_dict()
    data = serialize(sub.root)
    doc = Document(
        document_id=doc_model.effective_document_id,
        from_organ=doc_model.from_.organ_id,
        business_type=doc_model.business_type,
        subject=doc_model.subject,
        code=f"{doc_model.code.code_number}/{doc_model.code.code_notation}",
        promulgation_date=doc_model.promulgation_info.promulgation_date,
        to_organs=[o.organ_id for o in doc_model.to],
        response_for=[],
        attachments=[],
        origin="vpcp",
        blob=hub.blobs.put(data),
        size=len(data),
        quarantined=True,
        accepted_at=utcnow(),
    )
    sender = s.get(Organization, doc.from_organ)
    if sender is None:
        # An unknown sender still gets its 02 through the axis: it is an external organization.
        s.add(
            Organization(
                organ_id=doc.from_organ,
                name=doc_model.from_.organ_name or doc.from_organ,
                level=1,
                route="vpcp",
                active=True,
            )
        )
        s.flush()
    s.add(doc)
    s.flush()
    documents.keep_report(s, doc, verdict, "receipt")
    documents_repo.add_trace(
        s,
        doc.id,
        "quarantined",
        detail={"axis_doc_id": item.doc_id, "indication": report.get("indication")},
    )
    audit.record(
        s,
        actor="axis",
        action="document.quarantined",
        target_type="document",
        target_id=doc.id,
        details={
            "axis_doc_id": item.doc_id,
            "from": doc.from_organ,
            "indication": report.get("indication"),
            "sub_indication": report.get("sub_indication"),
        },
    )
    # Recipients answer 02 through the hub's own outbox: the answer is queued with the receipt.
    for organ in local:
        s.add(_refused_copy(doc, organ))
    s.flush()
    for organ in local:
        statuses.report(
            s,
            hub,
            doc,
            organ_id=organ,
            code="02",
            description="Từ chối: chữ ký số không hợp lệ (signature did not pass)",
            staff=None,
            timestamp=utcnow().astimezone(LOCAL_TZ),
            actor="hub",
        )
    return _receipt(s, item, "quarantined", doc.id)


def _refused_copy(doc: Document, organ: str) -> Delivery:
    """A `rejected` copy in mode `quarantine`: no inbox lists it, and the recipient's 02 has a
    delivery to answer for."""
    now = utcnow()
    return Delivery(
        kind="document",
        document=doc.id,
        message_id=doc.id,
        organ_id=organ,
        route="local",
        mode="quarantine",
        state="rejected",
        created_at=now,
        updated_at=now,
        last_error="quarantined: signature did not pass",
    )


def _store_status(s: Session, hub: Hub, item: ReceivedItem, parsed: ParsedMessage) -> str:
    assert parsed.status is not None
    msg = parsed.status
    doc = documents_repo.sent_through_api(s, msg.response_for.document_id)
    if doc is None:
        return _receipt(s, item, "refused", detail="status for an unknown document")
    try:
        status = statuses.report(
            s,
            hub,
            doc,
            organ_id=msg.from_.organ_id,
            code=msg.status_code,
            description=msg.description,
            staff=msg.staff_info.model_dump() if msg.staff_info else None,
            timestamp=msg.timestamp.replace(tzinfo=LOCAL_TZ),
            actor="axis",
            root=parsed.root,
            origin="vpcp",
        )
    except HubError as exc:
        return _receipt(s, item, "refused", doc.id, detail=f"{exc.code}: {exc.detail}")
    return _receipt(s, item, "delivered", status.document)
