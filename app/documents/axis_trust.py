"""What the hub believes of traffic from the national axis, and only once it is checked (SPEC 5).

Issue 11: status messages from any system on the axis were stored (and signed by the hub when
their From was local), forged copies took the (From, DocumentId) of the real document, and an
OrganId from an unsigned message became a directory entry. Each rule below is one decision
about who an axis message is from or what it may touch; inbound processing calls them before
it stores or changes anything.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import HubError
from app.delivery import service as delivery
from app.directory.models import Organization
from app.documents.hold import is_try_later
from app.documents.models import Document, StatusMessage
from app.documents.pipeline import verify_signature
from app.documents.service import SignatureInvalid
from app.edxml import ResponseFor
from app.edxml.interop import standard_document_id
from app.hub import Hub
from app.signing.report import ValidationReport


class Untrusted(HubError):
    status, code, title = 422, "axis.untrusted", "Message from the axis not trusted"


def check_sender(session: Session, axis_from: str, edxml_from: str) -> Organization | None:
    """The From must be the organization the axis vouches for, and never one of this hub's own.

    The axis lists each item with the `from` it accepted from the sending system (it refuses a
    `from` that system does not serve); an edXML From that differs is a system speaking for an
    organization it does not serve. An empty `from` means the axis said nothing, and then the
    signature alone decides. Returns the sender's directory entry, None when it is unknown.
    """
    if axis_from and axis_from != edxml_from:
        raise Untrusted(
            f"the edXML From {edxml_from} is not the axis's from {axis_from}",
            code="axis.from_mismatch",
        )
    sender = session.get(Organization, edxml_from)
    if sender is not None and sender.route == "local":
        raise Untrusted(
            f"{edxml_from} is a local organization of this hub; it never arrives from the axis",
            code="axis.local_from",
        )
    return sender


def verify_status(
    session: Session, hub: Hub, root: etree._Element, from_organ: str, at: datetime
) -> ValidationReport:
    """A status from the axis carries a passing signature of its From; the hub signs none.
    A TRY_LATER verdict (no fresh revocation data) is returned, not refused: the caller holds
    the status (SPEC 5.1)."""
    report = verify_signature(session, hub, root, organ=from_organ, at=at)
    if not report.passed and not is_try_later(report):
        raise SignatureInvalid(
            f"a status from the axis must carry a passing signature of {from_organ}; "
            f"its signature is {report.indication}"
            + (f" ({report.sub_indication})" if report.sub_indication else ""),
            extra={"validation": report.to_dict()},
        )
    return report


def status_target(session: Session, response_for: ResponseFor, from_organ: str) -> Document:
    """The document a status answers: one this hub sent (never a copy received from the axis,
    never a quarantined one), from the organization ResponseFor names, and delivered to the
    status's From. Anything else is a status about a document the From never received."""
    stmt = select(Document).where(
        Document.document_id == standard_document_id(response_for.document_id or ""),
        Document.origin == "api",
        Document.quarantined.is_(False),
    )
    if response_for.organ_id:
        stmt = stmt.where(Document.from_organ == response_for.organ_id)
    for doc in session.scalars(stmt.order_by(Document.accepted_at)):
        if delivery.delivery_to(session, doc.id, from_organ) is not None:
            return doc
    raise Untrusted(
        f"{from_organ} was sent no document {response_for.document_id} by this hub",
        code="axis.unknown_target",
    )


def replayed_status(
    session: Session, doc: Document, from_organ: str, code: str, timestamp: datetime
) -> str | None:
    """A status from the axis already stored with the same From, document, code and signed
    Timestamp: a replay (or the sender's retry under a new axis docId). Compared by what the
    signature covers, not by bytes, which C14N lets a replayer vary. A genuine 15 replayed
    later must not answer a new 13."""
    return session.scalars(
        select(StatusMessage.id).where(
            StatusMessage.document == doc.id,
            StatusMessage.from_organ == from_organ,
            StatusMessage.code == code,
            StatusMessage.reported_at == timestamp,
            StatusMessage.origin == "vpcp",
        )
    ).first()
