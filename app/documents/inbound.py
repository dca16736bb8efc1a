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
from app.directory import service as directory
from app.documents import axis_trust, pipeline, statuses
from app.documents import repository as documents_repo
from app.documents import service as documents
from app.documents.models import Document
from app.documents.service import SignatureInvalid
from app.edxml import EdxmlError, ParsedMessage, serialize
from app.edxml.interop import placeholder_removed
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


def _refuse(
    s: Session,
    item: ReceivedItem,
    kind: str,
    error: HubError,
    *,
    from_organ: str | None = None,
    document: str | None = None,
) -> str:
    """Refused axis traffic changes nothing but its receipt and an audit entry."""
    audit.record(
        s,
        actor="axis",
        action=f"{kind}.refused",
        target_type="axis_item",
        target_id=item.doc_id,
        details={
            "code": error.code,
            "detail": error.detail,
            "from": from_organ,
            "axis_from": item.from_organ,
        },
    )
    return _receipt(s, item, "refused", document, detail=f"{error.code}: {error.detail}")


def _store_document(s: Session, hub: Hub, item: ReceivedItem, parsed: ParsedMessage) -> str:
    assert parsed.document is not None
    doc_model = parsed.document
    from_organ = doc_model.from_.organ_id
    document_id = doc_model.effective_document_id
    try:
        sender = axis_trust.check_sender(s, item.from_organ, from_organ)
    except HubError as exc:
        return _refuse(s, item, "document", exc, from_organ=from_organ)
    existing = documents_repo.document_by_sender(s, from_organ, document_id)
    if existing:
        audit.record(
            s,
            actor="axis",
            action="document.duplicate",
            target_type="document",
            target_id=existing,
            details={"axis_doc_id": item.doc_id, "from": from_organ, "document_id": document_id},
        )
        return _receipt(s, item, "duplicate", existing)
    local = delivery_repo.local_active(s, [o.organ_id for o in doc_model.to])
    if not local:
        return _refuse(
            s,
            item,
            "document",
            HubError("no local recipient in To", code="organization.unknown"),
            from_organ=from_organ,
        )
    sub = pipeline.Submission(AXIS, parsed, origin="vpcp")
    # The SDK's placeholder Signature is no signature: such a message is unsigned (SPEC 3).
    with placeholder_removed(parsed.root) as noted:
        pipeline.sign_or_verify(s, hub, sub, unsigned="verify", refuse=False)
    assert sub.verdict is not None
    sub.verdict = documents.with_warnings(sub.verdict, noted)
    if not sub.verdict.passed:
        if sender is None or not sender.active:
            # Nobody to answer 02 to without inventing (or reviving) a directory entry from
            # unverified input.
            return _refuse(
                s,
                item,
                "document",
                SignatureInvalid(
                    f"the signature is {sub.verdict.indication} and {from_organ} is not an "
                    "active organization of the directory"
                ),
                from_organ=from_organ,
            )
        return _quarantine(s, hub, item, sub, local)
    # Deliver to the local recipients only; the others were the axis's to reach.
    doc_model.to = [o for o in doc_model.to if o.organ_id in local]
    begin_write(s)
    try:
        with s.begin_nested():  # a refusal undoes the submission, not the receipt
            if sender is None:
                directory.add_verified_sender(s, from_organ, doc_model.from_.organ_name)
            doc = pipeline.submit_document(s, hub, sub)
    except HubError as exc:
        return _refuse(s, item, "document", exc, from_organ=from_organ)
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
        blob=hub.blobs.put(s, data),
        size=len(data),
        quarantined=True,
        accepted_at=utcnow(),
    )
    # The sender is a known external organization (axis_trust.check_sender, and an unknown
    # one is refused before this): the directory is never edited from unverified input.
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
    """A status from the axis is believed only when signed by its From, a recipient of ours."""
    assert parsed.status is not None
    msg = parsed.status
    from_organ = msg.from_.organ_id
    try:
        axis_trust.check_sender(s, item.from_organ, from_organ)
        verdict = axis_trust.verify_status(s, hub, parsed.root, from_organ, utcnow())
        doc = axis_trust.status_target(s, msg.response_for, from_organ)
        timestamp = msg.timestamp.replace(tzinfo=LOCAL_TZ)
        replayed = axis_trust.replayed_status(s, doc, from_organ, msg.status_code, timestamp)
        if replayed is not None:
            audit.record(
                s,
                actor="axis",
                action="status.duplicate",
                target_type="status",
                target_id=replayed,
                details={"axis_doc_id": item.doc_id, "from": from_organ},
            )
            return _receipt(s, item, "duplicate", doc.id, detail=f"replay of status {replayed}")
        # Every refusal of report() is raised at its read stage, before it begins writing.
        status = statuses.report(
            s,
            hub,
            doc,
            organ_id=from_organ,
            code=msg.status_code,
            description=msg.description,
            staff=msg.staff_info.model_dump() if msg.staff_info else None,
            timestamp=timestamp,
            actor=f"axis:{from_organ}",
            root=parsed.root,
            origin="vpcp",
            verified=verdict,
        )
    except HubError as exc:
        return _refuse(s, item, "status", exc, from_organ=from_organ)
    return _receipt(s, item, "delivered", status.document)
