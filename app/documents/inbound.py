"""Inbound from the national axis: list → fetch → verify → deliver locally → ack.

`updateStatus done` is called only after the item's transaction has committed. A crash
between the two means the item is listed again; its AxisReceipt (committed with the
delivery) recognises it, so it is acknowledged without being delivered twice.

A document whose signature is INDETERMINATE/TRY_LATER is held (`app.documents.hold`): kept,
not delivered and not acknowledged (its receipt says `held`, so a re-listed item is left
waiting), and re-validated by the worker (`revalidate_held`) through the same stages until it
passes, fails or HOLD_MAX_AGE passes; then it is acknowledged like any other item.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit import service as audit
from app.clients.service import Principal
from app.connectors.vpcp import AxisConnector, AxisError, ReceivedItem
from app.core import leases
from app.core.db import begin_write, read_first, unit_of_work
from app.core.errors import HubError
from app.core.leases import Lease
from app.core.timeutil import LOCAL_TZ, iso, utcnow
from app.delivery import repository as delivery_repo
from app.delivery.models import AxisReceipt, Delivery
from app.directory import service as directory
from app.documents import axis_trust, hold, pipeline, statuses
from app.documents import repository as documents_repo
from app.documents import service as documents
from app.documents.models import Document, HeldDocument
from app.documents.service import SignatureInvalid
from app.edxml import EdxmlError, ParsedMessage, serialize
from app.edxml.interop import placeholder_removed
from app.hub import Hub
from app.signing import ValidationReport

log = logging.getLogger("app.inbound")

AXIS = Principal(client_id="axis", name="national axis", role="system", organ_ids=frozenset())


def poll_axis(
    hub: Hub,
    sessions: sessionmaker[Session],
    axis: AxisConnector,
    *,
    worker_id: str,
    now: datetime | None = None,
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
                receive_item(hub, sessions, axis, item, now=now)
                handled += 1
            except AxisError as exc:
                log.warning("axis item failed", extra={"doc_id": item.doc_id, "error": str(exc)})
    return handled


def receive_item(
    hub: Hub,
    sessions: sessionmaker[Session],
    axis: AxisConnector,
    item: ReceivedItem,
    *,
    now: datetime | None = None,
) -> str:
    with sessions() as s:
        read_first(s)
        seen = delivery_repo.receipt(s, item.doc_id)
    if seen is not None:
        if seen.outcome != "held":  # a held item is answered when its hold ends
            axis.update_status(item.doc_id, "done")
        return seen.outcome
    data = axis.get_edoc(item.doc_id)
    try:
        with unit_of_work(sessions) as s:
            read_first(s)  # parse and verify without the SQLite write lock
            outcome = _store(s, hub, item, data, now=now or utcnow())
    except IntegrityError:
        # Another worker stored the same item first; its receipt now recognises it.
        return "duplicate"
    if outcome != "held":
        axis.update_status(item.doc_id, "done")
    return outcome


def revalidate_held(
    hub: Hub,
    sessions: sessionmaker[Session],
    axis: AxisConnector,
    *,
    worker_id: str,
    now: datetime | None = None,
    limit: int = 20,
) -> int:
    """Re-validate the held documents that are due, each in its own unit of work; those whose
    hold ended (released, quarantined, refused) are then acknowledged on the axis."""
    now = now or utcnow()
    lease_seconds = hub.settings.worker_lease_seconds
    with unit_of_work(sessions) as s:
        lease = hold.claim(s, worker_id, now=now, limit=limit, lease_seconds=lease_seconds)
    clock = leases.elapsed_from(now)
    with leases.Keeper(sessions, HeldDocument, lease, lease_seconds, clock) as keeper:
        for held_id in lease.ids:
            if not keeper.holds(held_id):
                continue  # taken over: its new holder re-validates it
            try:
                with keeper.working(held_id):
                    revalidate_claimed(hub, sessions, axis, held_id, lease=lease, now=now)
            except Exception:
                # Rolled back; its lease runs out and it is tried again. The others go on.
                log.exception("held document re-validation failed", extra={"held": held_id})
    return len(lease.ids)


def revalidate_claimed(
    hub: Hub,
    sessions: sessionmaker[Session],
    axis: AxisConnector,
    held_id: str,
    *,
    lease: Lease,
    now: datetime,
) -> str | None:
    """One claimed held document, again through the stages of its first receipt; None when
    another worker took it over (nothing of this attempt is kept)."""
    try:
        with unit_of_work(sessions) as s:
            read_first(s)  # parse and verify without the SQLite write lock
            row = hold.claimed(s, held_id, lease)
            axis_doc_id = row.axis_doc_id
            outcome = _revalidate(s, hub, row, now=now)
            begin_write(s)
            hold.confirm_lease(s, row, lease)
    except hold.LeaseLost:
        log.info("held document taken over by another worker", extra={"held": held_id})
        return None
    if outcome != "held":
        try:
            axis.update_status(axis_doc_id, "done")
        except AxisError as exc:
            # Listed again at the next poll: its receipt (committed) has it acknowledged then.
            log.warning("axis ack failed", extra={"doc_id": axis_doc_id, "error": str(exc)})
    return outcome


def _revalidate(s: Session, hub: Hub, row: HeldDocument, *, now: datetime) -> str:
    item = ReceivedItem(
        doc_id=row.axis_doc_id,
        from_organ=row.axis_from,
        to=tuple(row.axis_to),
        message_type="edoc",
        status="",
        created_time="",
    )
    parsed = pipeline.parse(hub, hub.blobs.read(s, row.blob))  # parsed once already: it parses
    return _store_document(s, hub, item, parsed, now=now, held=row)


def _receipt(
    s: Session,
    item: ReceivedItem,
    outcome: str,
    document: str | None = None,
    detail: str | None = None,
) -> str:
    begin_write(s)
    seen = s.get(AxisReceipt, item.doc_id)  # a held item's receipt is settled when it ends
    if seen is None:
        s.add(
            AxisReceipt(
                axis_doc_id=item.doc_id,
                message_type=item.message_type,
                outcome=outcome,
                document=document,
                detail=detail,
            )
        )
    else:
        seen.outcome, seen.document, seen.detail = outcome, document, detail
    s.flush()
    return outcome


def _store(s: Session, hub: Hub, item: ReceivedItem, data: bytes, *, now: datetime) -> str:
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
    return _store_document(s, hub, item, parsed, now=now)


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


def _store_document(
    s: Session,
    hub: Hub,
    item: ReceivedItem,
    parsed: ParsedMessage,
    *,
    now: datetime,
    held: HeldDocument | None = None,
) -> str:
    """A document from the axis (or a held one, again): delivered, held, quarantined or
    refused. A hold that ends here is settled with the receipt's outcome."""
    outcome, verdict = _document_outcome(s, hub, item, parsed, now=now, held=held)
    if held is not None and outcome != "held":
        receipt = s.get(AxisReceipt, item.doc_id)
        hold.resolve(
            s,
            held,
            outcome,
            now=now,
            document=receipt.document if receipt else None,
            report=verdict,
            detail=receipt.detail if receipt else None,
        )
    return outcome


def _document_outcome(
    s: Session,
    hub: Hub,
    item: ReceivedItem,
    parsed: ParsedMessage,
    *,
    now: datetime,
    held: HeldDocument | None,
) -> tuple[str, ValidationReport | None]:
    assert parsed.document is not None
    doc_model = parsed.document
    from_organ = doc_model.from_.organ_id
    document_id = doc_model.effective_document_id
    try:
        sender = axis_trust.check_sender(s, item.from_organ, from_organ)
    except HubError as exc:
        return _refuse(s, item, "document", exc, from_organ=from_organ), None
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
        return _receipt(s, item, "duplicate", existing), None
    local = delivery_repo.local_active(s, [o.organ_id for o in doc_model.to])
    if not local:
        return _refuse(
            s,
            item,
            "document",
            HubError("no local recipient in To", code="organization.unknown"),
            from_organ=from_organ,
        ), None
    # A held document is judged at the time the hub first received it.
    sub = pipeline.Submission(
        AXIS, parsed, origin="vpcp", poe=held.held_since if held is not None else None
    )
    # The SDK's placeholder Signature is no signature: such a message is unsigned (SPEC 3).
    with placeholder_removed(parsed.root) as noted:
        pipeline.sign_or_verify(s, hub, sub, unsigned="verify", refuse=False)
    assert sub.verdict is not None
    verdict = sub.verdict = documents.with_warnings(sub.verdict, noted)
    if hold.is_try_later(verdict):
        if held is None:
            return _hold(s, hub, item, sub, now=now), verdict
        if not hold.expired(held, now, hub.settings.hold_max_age):
            begin_write(s)
            hold.still_held(s, held, verdict, now=now)
            return "held", verdict
        # HOLD_MAX_AGE has passed: the verdict stands and is treated as any failing one.
    if not verdict.passed:
        if sender is None or not sender.active:
            # Nobody to answer 02 to without inventing (or reviving) a directory entry from
            # unverified input.
            return _refuse(
                s,
                item,
                "document",
                SignatureInvalid(
                    f"the signature is {verdict.indication} and {from_organ} is not an "
                    "active organization of the directory"
                ),
                from_organ=from_organ,
            ), verdict
        return _quarantine(s, hub, item, sub, local), verdict
    # Deliver to the local recipients only; the others were the axis's to reach.
    doc_model.to = [o for o in doc_model.to if o.organ_id in local]
    begin_write(s)
    try:
        with s.begin_nested():  # a refusal undoes the submission, not the receipt
            if sender is None:
                directory.add_verified_sender(s, from_organ, doc_model.from_.organ_name)
            doc = pipeline.submit_document(s, hub, sub)
    except HubError as exc:
        return _refuse(s, item, "document", exc, from_organ=from_organ), verdict
    documents_repo.add_trace(
        s,
        doc.id,
        "received_from_axis",
        detail={"axis_doc_id": item.doc_id}
        | ({"held_since": iso(held.held_since)} if held is not None else {}),
    )
    return _receipt(s, item, "delivered", doc.id), verdict


def _hold(
    s: Session, hub: Hub, item: ReceivedItem, sub: pipeline.Submission, *, now: datetime
) -> str:
    """No fresh revocation data: keep the document, deliver it to no one, answer nothing yet."""
    begin_write(s)
    assert sub.verdict is not None
    data = serialize(sub.root)
    row = hold.hold(
        s,
        axis_doc_id=item.doc_id,
        axis_from=item.from_organ,
        axis_to=list(item.to),
        from_organ=sub.from_organ,
        document_id=sub.message.effective_document_id,
        blob=hub.blobs.put(s, data),
        size=len(data),
        report=sub.verdict,
        now=now,
    )
    return _receipt(s, item, "held", row.id, detail=f"held: {sub.verdict.sub_indication}")


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
