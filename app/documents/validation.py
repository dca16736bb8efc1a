"""Re-validation: check a stored document's (or status message's) signature again now, keep
the new report beside the old ones. The proof-of-existence time is the gen_time of its RFC
3161 token, verified again (imprint, signature, TSA certificate), or the hub's own receipt
time while the token is pending or when it does not verify. So a certificate that expired or was revoked
*after* that time still gives TOTAL_PASSED, and one revoked before it shows REVOKED."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

from lxml import etree
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.delivery.repository import add_trace as trace
from app.documents import repository as repo
from app.documents.models import Document, StatusMessage, ValidationRecord
from app.documents.pdf_signatures import attachment_verdicts, pdf_trust
from app.documents.pipeline import verify_signature
from app.documents.service import keep_report
from app.documents.trust import trust_for_certificates
from app.edxml import parse_file, parse_message
from app.hub import Hub
from app.signing.report import Message, TimestampToken, ValidationReport
from app.signing.timestamps import TimestampError, imprint_of, token_certificates, verify_token
from app.signing.xmldsig import signature_value_of


def revalidate(
    session: Session, hub: Hub, doc: Document, *, actor: str, now: dt.datetime | None = None
) -> ValidationRecord:
    """`now` is when this validation happens (default the clock; tests move it)."""
    with hub.blobs.as_path(session, doc.blob) as path:
        parsed = parse_file(path, max_bytes=hub.settings.max_edxml_bytes)
    pdfs = attachment_verdicts(
        parsed.document,
        organ_id=doc.from_organ,
        trust=hub.custody.trust_store(session),
        at=doc.accepted_at,
        max_bytes=hub.settings.max_document_bytes,
        trust_for=pdf_trust(session, hub),
    )
    report = _again(
        session,
        hub,
        parsed.root,
        organ=doc.from_organ,
        first=repo.first_validation(session, doc.id),
        received=doc.accepted_at,
        now=now,
    )
    report = dataclasses.replace(report, attachments=pdfs)
    rec = keep_report(session, doc, report, "revalidation")
    _record(session, doc.id, report, actor=actor, target=("document", doc.id))
    return rec


def revalidate_status(
    session: Session,
    hub: Hub,
    status: StatusMessage,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> ValidationRecord:
    """A status message's signature checked again now, its token's gen_time (or the hub's
    receipt time) as proof of existence; the report is kept beside the status's others."""
    doc = session.get(Document, status.document)
    assert doc is not None  # a foreign key
    root = parse_message(
        hub.blobs.read(session, status.blob), max_bytes=hub.settings.max_edxml_bytes
    ).root
    report = _again(
        session,
        hub,
        root,
        organ=status.from_organ,
        first=repo.first_validation(session, doc.id, status.id),
        received=status.accepted_at,
        now=now,
    )
    rec = keep_report(session, doc, report, "revalidation", status=status)
    _record(session, doc.id, report, actor=actor, target=("status", status.id))
    return rec


def _again(
    session: Session,
    hub: Hub,
    root: etree._Element,
    *,
    organ: str,
    first: ValidationRecord | None,
    received: dt.datetime,
    now: dt.datetime | None,
) -> ValidationReport:
    """The signature validated again at the kept token's gen_time (if it still verifies),
    else at the hub's receipt time; the report carries the token (or still says pending)."""
    stamp = first.report.get("timestamp") if first is not None else None
    token: TimestampToken | None = None
    problem: Message | None = None
    if isinstance(stamp, dict) and stamp.get("status") == "granted":
        token, problem = _proof_of_existence(session, hub, root, stamp)
    report = verify_signature(
        session,
        hub,
        root,
        organ=organ,
        at=token.gen_time if token is not None else received,
        now=now,
    )
    return _with_timestamp(report, token, pending=_pending(stamp), problem=problem)


def _record(
    session: Session,
    document: str,
    report: ValidationReport,
    *,
    actor: str,
    target: tuple[str, str],
) -> None:
    """The document's trace and the audit entry of a re-validation."""
    session.flush()
    kind, target_id = target
    detail: dict[str, object] = {
        "indication": report.indication,
        "sub_indication": report.sub_indication,
        "pdf_indication": report.pdf_indication,
    }
    if kind == "status":
        detail["status"] = target_id
    trace(
        session,
        document,
        "revalidated" if kind == "document" else "status_revalidated",
        detail=detail,
    )
    audit.record(
        session,
        actor=actor,
        action="signature.revalidated",
        target_type=kind,
        target_id=target_id,
        details={"indication": report.indication, "sub_indication": report.sub_indication},
    )


def _pending(stamp: object) -> bool:
    return isinstance(stamp, dict) and stamp.get("status") == "pending"


def _proof_of_existence(
    session: Session, hub: Hub, root: etree._Element, stamp: dict[str, object]
) -> tuple[TimestampToken | None, Message | None]:
    """The kept token, if it still verifies over this document's SignatureValue (the TSA's
    certificates get revocation data from the network like a signer's, SPEC 5.1)."""
    value = signature_value_of(root)
    if value is None:
        return None, Message("timestamp.invalid", "the document has no single SignatureValue")
    try:
        der = base64.b64decode(str(stamp["token_base64"]))
        trust = trust_for_certificates(session, hub, token_certificates(der)).store
        token = verify_token(der, imprint_of(value), trust)
    except (TimestampError, ValueError, KeyError) as exc:
        code = exc.code if isinstance(exc, TimestampError) else "timestamp.malformed"
        return None, Message(
            "timestamp.invalid",
            f"the kept timestamp does not verify ({code}: {exc}); the receipt time is used",
        )
    return token, None


def _with_timestamp(
    report: ValidationReport,
    token: TimestampToken | None,
    *,
    pending: bool,
    problem: Message | None,
) -> ValidationReport:
    if token is not None:
        report = report.with_timestamp(token)
    elif pending:
        report = report.with_timestamp_pending()
    if problem is not None:
        report = dataclasses.replace(report, warnings=(*report.warnings, problem))
    return report
