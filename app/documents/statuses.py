"""Business statuses (SPEC section 3) and inbox acknowledgement.

A recipient's status only moves forward: 01 → 03 → 04 → 05 → 06 (forward jumps allowed, as
QLVB software often registers and assigns in one step), or to 02 from any state before 06.
15/16 answer a 13, a revoke or an update. 13 comes from the sender, to every recipient.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.clients.service import Principal
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.timeutil import LOCAL_TZ, iso, utcnow
from app.delivery import service as delivery
from app.delivery.models import Delivery
from app.directory.models import Organization
from app.documents.models import Document, StatusMessage
from app.documents.schemas import StatusIn, StatusOut
from app.documents.service import SignatureInvalid, has_signature, require_serves
from app.edxml import Organization as EdxmlOrganization
from app.edxml import ResponseFor, StaffInfo, build_status_tree, serialize
from app.edxml import StatusMessage as EdxmlStatus
from app.hub import Hub
from app.signing.validation import validate

PROGRESS = ("01", "03", "04", "05", "06")
ANSWERS = ("15", "16")


def check_transition(current: str | None, new: str, *, change_pending: bool) -> None:
    """Raise status.transition unless `new` may follow `current` for one recipient."""
    if new in ANSWERS:
        if change_pending:
            return
        raise Conflict(
            "15/16 answer a 13, a revoke or an update; none is pending", code="status.transition"
        )
    if current in ("02", "06"):
        raise Conflict(
            f"the document is already {current}; no status may follow", code="status.transition"
        )
    if new == "02":
        return
    if new in PROGRESS:
        before = PROGRESS.index(current) if current in PROGRESS else -1
        if PROGRESS.index(new) > before:
            return
        raise Conflict(f"status {new} cannot follow {current}", code="status.transition")
    raise Conflict(f"status {new} is not reported by a recipient", code="status.transition")


def _organization(session: Session, organ_id: str) -> Organization:
    org = session.get(Organization, organ_id)
    if org is None:
        raise Unprocessable(f"{organ_id} is not in the directory", code="organization.unknown")
    return org


def report(
    session: Session,
    hub: Hub,
    doc: Document,
    *,
    organ_id: str,
    code: str,
    description: str | None,
    staff: dict[str, str | None] | None,
    timestamp: datetime | None,
    actor: str,
    root: etree._Element | None = None,
    origin: str = "api",
) -> StatusMessage:
    """Record a status, move the recipient's state, and route the status message back."""
    now = utcnow()
    reporter = _organization(session, organ_id)
    if code == "13":
        if organ_id != doc.from_organ:
            raise Conflict(
                "only the sender asks to take a document back (13)", code="status.transition"
            )
        targets = delivery.deliveries_of(session, doc.id)
        for t in targets:
            t.pending_change, t.updated_at = "13", now
        to = [t.organ_id for t in targets]
    else:
        d = delivery.delivery_to(session, doc.id, organ_id)
        if d is None:
            raise NotFound("no such document", code="document.not_found")
        check_transition(
            d.status_code,
            code,
            change_pending=d.pending_change is not None,
        )
        if code in ANSWERS:
            d.pending_change = None
        else:
            d.status_code = code
            if code == "02":
                d.state = "rejected"
        d.updated_at = now
        to = [doc.from_organ]

    local_ts = (
        (timestamp or now).astimezone(LOCAL_TZ).replace(tzinfo=None)
        if (timestamp or now).tzinfo
        else (timestamp or now)
    )
    if root is None:
        msg = EdxmlStatus(
            from_=EdxmlOrganization(organ_id=organ_id, organ_name=reporter.name),
            response_for=ResponseFor(
                organ_id=doc.from_organ,
                code=doc.code,
                promulgation_date=doc.promulgation_date.strftime("%Y/%m/%d")
                if doc.promulgation_date
                else None,
                document_id=doc.document_id,
            ),
            staff_info=StaffInfo(**staff) if staff else None,
            status_code=code,
            description=description,
            timestamp=local_ts,
        )
        root = build_status_tree(msg)
    trust = hub.custody.trust_store(session)
    # Traffic from the axis is verified, never signed by the hub on anyone's behalf (SPEC 5).
    if has_signature(root) or origin == "vpcp":
        result = validate(root, expected_organ_id=organ_id, trust=trust, at=now)
        if not result.passed:
            raise SignatureInvalid(
                f"the status message's signature is {result.indication}",
                extra={"validation": result.to_dict()},
            )
    elif reporter.route == "local":
        from app.signing.xmldsig import sign_tree

        sign_tree(root, hub.custody.signer_for(session, organ_id))
    data = serialize(root)
    status = StatusMessage(
        document=doc.id,
        from_organ=organ_id,
        to_organs=to,
        code=code,
        description=description,
        staff=staff,
        reported_at=(timestamp or now),
        blob=hub.blobs.put(data),
        origin=origin,
        accepted_at=now,
    )
    session.add(status)
    session.flush()
    recipients = delivery.resolve_recipients(session, to)
    delivery.enqueue(
        session, kind="status", document=doc.id, message_id=status.id, recipients=recipients
    )
    delivery.trace(
        session, doc.id, "status", organ_id=organ_id, detail={"code": code, "status_id": status.id}
    )
    audit.record(
        session,
        actor=actor,
        action="status.reported",
        target_type="document",
        target_id=doc.id,
        details={"from": organ_id, "code": code, "to": to},
    )
    return status


def report_from_api(
    session: Session, hub: Hub, principal: Principal, doc: Document, body: StatusIn
) -> StatusMessage:
    require_serves(principal, body.organ_id)
    return report(
        session,
        hub,
        doc,
        organ_id=body.organ_id,
        code=body.code,
        description=body.description,
        staff=body.staff.model_dump() if body.staff else None,
        timestamp=body.timestamp,
        actor=principal.actor,
    )


def status_out(s: StatusMessage) -> StatusOut:
    return StatusOut(
        id=s.id,
        document=s.document,
        from_=s.from_organ,
        to=list(s.to_organs),
        code=s.code,
        description=s.description,
        staff=s.staff,
        timestamp=iso(s.reported_at) or "",
        accepted_at=iso(s.accepted_at) or "",
    )


def list_statuses(session: Session, doc: Document, principal: Principal) -> list[StatusMessage]:
    rows = list(
        session.scalars(
            select(StatusMessage).where(StatusMessage.document == doc.id).order_by(StatusMessage.id)
        )
    )
    if principal.role == "system" and doc.from_organ not in principal.organ_ids:
        rows = [
            r
            for r in rows
            if r.from_organ in principal.organ_ids or set(r.to_organs) & principal.organ_ids
        ]
    return rows


def acknowledge(
    session: Session,
    hub: Hub,
    principal: Principal,
    delivery_id: str,
    result: str,
    reason: str | None,
) -> Delivery:
    """Idempotent: a second ack leaves the first outcome in place."""
    d = delivery.visible_delivery(session, delivery_id, principal.organ_ids)
    if d.state in ("acknowledged", "rejected"):
        return d
    if d.state != "available":
        raise Conflict(f"the delivery is {d.state}, not available", code="delivery.state")
    now = utcnow()
    d.state = "acknowledged" if result == "done" else "rejected"
    d.acked_at = now
    d.updated_at = now
    if result == "fail":
        d.last_error = reason
    delivery.trace(
        session,
        d.document,
        f"{d.kind}.{d.state}",
        organ_id=d.organ_id,
        delivery=d.id,
        detail={"reason": reason} if reason else None,
    )
    audit.record(
        session,
        actor=principal.actor,
        action="delivery.acknowledged",
        target_type="delivery",
        target_id=d.id,
        details={"result": result, "organ_id": d.organ_id},
    )
    if result == "done" and d.kind == "document" and d.status_code is None:
        doc = session.get(Document, d.document)
        assert doc is not None
        report(
            session,
            hub,
            doc,
            organ_id=d.organ_id,
            code="01",
            description="Đã đến (received by the document-management software)",
            staff=None,
            timestamp=now,
            actor="hub",
        )
    return d
