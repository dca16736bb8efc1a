"""Business statuses (SPEC section 3) and inbox acknowledgement: the entry points.

Each reported status runs the pipeline's stages (`app.documents.pipeline.report_status`);
the transition rules and what a status writes are in `app.documents.status_rules`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lxml import etree
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.clients.service import Principal
from app.core.db import read_first
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.timeutil import LOCAL_TZ, iso, utcnow
from app.delivery import service as delivery
from app.delivery.models import Delivery
from app.documents import repository as repo
from app.documents.models import Document, StatusMessage, ValidationRecord
from app.documents.pipeline import report_status
from app.documents.schemas import SignatureReport, StatusIn, StatusOut, ValidationOut
from app.documents.service import get_visible, require_serves
from app.documents.status_rules import StatusReport
from app.edxml import ParsedMessage
from app.edxml.interop import names_document, strip_placeholder_signature
from app.hub import Hub
from app.signing.report import ValidationReport


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


def status_out(s: StatusMessage, rec: ValidationRecord | None = None) -> StatusOut:
    """The status resource; `rec` is its newest validation report (`repo.status_reports`)."""
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
        validation=ValidationOut(
            id=rec.id, trigger=rec.trigger, report=SignatureReport.model_validate(rec.report)
        )
        if rec is not None
        else None,
    )


def statuses_out(session: Session, rows: list[StatusMessage]) -> list[StatusOut]:
    """Statuses with their newest reports (one query for all of them)."""
    reports = repo.status_reports(session, [r.id for r in rows])
    return [status_out(r, reports.get(r.id)) for r in rows]


def get_status(session: Session, doc: Document, status_id: str) -> StatusMessage:
    """A status message of `doc` (visible to whoever may see the document)."""
    status = session.get(StatusMessage, status_id)
    if status is None or status.document != doc.id:
        raise NotFound("no such status message", code="status.not_found")
    return status


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
