"""The rules of business statuses (SPEC section 3): which status may follow which, and what
storing one writes. `app.documents.pipeline.report_status` runs them as its stages;
`app.documents.statuses` holds the entry points (API, inbox acknowledgement, axis).

A recipient's status only moves forward: 01 → 03 → 04 → 05 → 06 (forward jumps allowed, as
QLVB software often registers and assigns in one step), or to 02 from any state before 06.
15/16 answer a 13, a revoke or an update. 13 comes from the sender, to every recipient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.ids import new_id
from app.core.timeutil import LOCAL_TZ, utcnow
from app.delivery import service as delivery
from app.directory.models import Organization
from app.documents import repository as repo
from app.documents.models import Document, StatusMessage
from app.edxml import Organization as EdxmlOrganization
from app.edxml import ResponseFor, StaffInfo, build_status_tree, serialize
from app.edxml import StatusMessage as EdxmlStatus
from app.hub import Hub
from app.signing.report import ValidationReport

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


@dataclass
class StatusReport:
    """A status on its way: who reports what about which document."""

    document: Document
    organ_id: str
    code: str
    description: str | None
    staff: dict[str, str | None] | None
    timestamp: datetime | None
    actor: str
    root: etree._Element | None = None
    origin: str = "api"
    at: datetime = field(default_factory=utcnow)
    to: list[str] = field(default_factory=list)
    status: StatusMessage | None = None
    # A passing verdict the caller already reached (the axis checks the signature before
    # anything else), so the sign-or-verify stage does not validate the same tree again.
    verified: ValidationReport | None = None


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
    row = {
        "id": new_id(),
        "document": rep.document.id,
        "from_organ": rep.organ_id,
        "to_organs": rep.to,
        "code": rep.code,
        "description": rep.description,
        "staff": rep.staff,
        "reported_at": rep.timestamp or rep.at,
        "blob": hub.blobs.put(session, serialize(root)),
        "origin": rep.origin,
        "accepted_at": rep.at,
    }
    repo.insert_status(session, row)  # the recipient's moved state is flushed first
    status = StatusMessage(**row)  # transient: what the answer and the later stages read
    rep.status = status
    return status
