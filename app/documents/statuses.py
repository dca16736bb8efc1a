"""Business statuses (SPEC section 3) and inbox acknowledgement.

A recipient's status only moves forward: 01 → 03 → 04 → 05 → 06 (forward jumps allowed, as
QLVB software often registers and assigns in one step), or to 02 from any state before 06.
15/16 answer a 13, a revoke or an update. 13 comes from the sender, to every recipient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from lxml import etree
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.clients.service import Principal
from app.core.db import read_first
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.timeutil import LOCAL_TZ, iso, utcnow
from app.delivery import service as delivery
from app.delivery.models import Delivery
from app.directory.models import Organization
from app.documents import repository as repo
from app.documents.models import Document, StatusMessage
from app.documents.schemas import StatusIn, StatusOut
from app.documents.service import get_visible, require_serves
from app.edxml import Organization as EdxmlOrganization
from app.edxml import ParsedMessage, ResponseFor, StaffInfo, build_status_tree, serialize
from app.edxml import StatusMessage as EdxmlStatus
from app.edxml.interop import names_document, strip_placeholder_signature
from app.hub import Hub
from app.signing.report import ValidationReport

if TYPE_CHECKING:
    from app.documents.pipeline import StatusReport

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
    verified: ValidationReport | None = None,
) -> StatusMessage:
    """Record a status, move the recipient's state, and route the status message back
    (the stages of `app.documents.pipeline.report_status`)."""
    from app.documents.pipeline import StatusReport, report_status

    rep = StatusReport(
        document=doc,
        organ_id=organ_id,
        code=code,
        description=description,
        staff=staff,
        timestamp=timestamp,
        actor=actor,
        root=root,
        origin=origin,
        verified=verified,
    )
    return report_status(session, hub, rep)


def authorise(session: Session, rep: StatusReport) -> Organization:
    """The reporter exists and the status may follow the recipient's current one (reads)."""
    reporter = _organization(session, rep.organ_id)
    _check(session, rep, move=False)
    return reporter


def _check(session: Session, rep: StatusReport, *, move: bool) -> None:
    """Check the transition; with `move`, apply it (at the store stage, on fresh rows)."""
    doc = rep.document
    if rep.code == "13":
        if rep.organ_id != doc.from_organ:
            raise Conflict(
                "only the sender asks to take a document back (13)", code="status.transition"
            )
        targets = delivery.deliveries_of(session, doc.id)
        if move:
            for t in targets:
                t.pending_change, t.updated_at = "13", rep.at
        rep.to = [t.organ_id for t in targets]
        return
    d = delivery.delivery_to(session, doc.id, rep.organ_id)
    if d is None:
        raise NotFound("no such document", code="document.not_found")
    if move:
        session.refresh(d)  # what the read stage saw may have moved since
    check_transition(d.status_code, rep.code, change_pending=d.pending_change is not None)
    rep.to = [doc.from_organ]
    if not move:
        return
    if rep.code in ANSWERS:
        d.pending_change = None
    else:
        d.status_code = rep.code
        if rep.code == "02":
            d.state = "rejected"
    d.updated_at = rep.at


def build_tree(rep: StatusReport, reporter: Organization) -> etree._Element:
    """The status edXML the hub writes for a status reported as JSON (or by the hub)."""
    doc, now = rep.document, rep.at
    ts = rep.timestamp or now
    local_ts = ts.astimezone(LOCAL_TZ).replace(tzinfo=None) if ts.tzinfo else ts
    msg = EdxmlStatus(
        from_=EdxmlOrganization(organ_id=rep.organ_id, organ_name=reporter.name),
        response_for=ResponseFor(
            organ_id=doc.from_organ,
            code=doc.code,
            promulgation_date=doc.promulgation_date.strftime("%Y/%m/%d")
            if doc.promulgation_date
            else None,
            document_id=doc.document_id,
        ),
        staff_info=StaffInfo(**rep.staff) if rep.staff else None,
        status_code=rep.code,
        description=rep.description,
        timestamp=local_ts,
    )
    return build_status_tree(msg)


def store(session: Session, hub: Hub, rep: StatusReport, root: etree._Element) -> StatusMessage:
    """Move the recipient's state and write the status message (in the write transaction)."""
    _check(session, rep, move=True)
    status = StatusMessage(
        document=rep.document.id,
        from_organ=rep.organ_id,
        to_organs=rep.to,
        code=rep.code,
        description=rep.description,
        staff=rep.staff,
        reported_at=(rep.timestamp or rep.at),
        blob=hub.blobs.put(session, serialize(root)),
        origin=rep.origin,
        accepted_at=rep.at,
    )
    session.add(status)
    session.flush()
    rep.status = status
    return status


def report_from_api(
    session: Session,
    hub: Hub,
    principal: Principal,
    document_id: str,
    parse: Callable[[], StatusIn | ParsedMessage],
) -> StatusMessage:
    """POST /documents/{id}/statuses: JSON (the hub writes and signs the status edXML) or a
    status edXML. Reads until the pipeline's store stage."""
    read_first(session)
    doc = get_visible(session, principal, document_id)
    body = parse()
    if isinstance(body, StatusIn):
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
    if body.kind != "status" or body.status is None:
        raise Unprocessable("this is a document, not a status message", code="edxml.invalid")
    msg = body.status
    strip_placeholder_signature(body.root)  # the SDK's placeholder is no signature (SPEC 3)
    if not names_document(msg.response_for.document_id, doc.document_id):
        raise Unprocessable(
            "ResponseFor/DocumentId does not name this document", code="edxml.invalid"
        )
    require_serves(principal, msg.from_.organ_id)
    return report(
        session,
        hub,
        doc,
        organ_id=msg.from_.organ_id,
        code=msg.status_code,
        description=msg.description,
        staff=msg.staff_info.model_dump() if msg.staff_info else None,
        timestamp=msg.timestamp.replace(tzinfo=LOCAL_TZ),
        actor=principal.actor,
        root=body.root,
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
    rows = repo.statuses_of(session, doc.id)
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
    repo.add_trace(
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
