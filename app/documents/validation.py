"""Re-validation: check a stored document's signature again now, keep the new report beside
the old ones. The proof-of-existence time is the gen_time of the document's RFC 3161 token,
verified again (imprint, signature, TSA certificate), or the hub's own receipt time while the
token is pending or when it does not verify. So a certificate that expired or was revoked
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
from app.documents.models import Document, ValidationRecord
from app.documents.pdf_signatures import attachment_verdicts, pdf_trust
from app.documents.pipeline import verify_signature
from app.documents.service import keep_report
from app.documents.trust import trust_for_certificates
from app.edxml import parse_file
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
    first = repo.first_validation(session, doc.id)
    stamp = first.report.get("timestamp") if first is not None else None
    token: TimestampToken | None = None
    problem: Message | None = None
    if isinstance(stamp, dict) and stamp.get("status") == "granted":
        token, problem = _proof_of_existence(session, hub, parsed.root, stamp)
    report = verify_signature(
        session,
        hub,
        parsed.root,
        organ=doc.from_organ,
        at=token.gen_time if token is not None else doc.accepted_at,
        now=now,
    )
    report = dataclasses.replace(report, attachments=pdfs)
    report = _with_timestamp(report, token, pending=_pending(stamp), problem=problem)
    rec = keep_report(session, doc, report, "revalidation")
    session.flush()
    trace(
        session,
        doc.id,
        "revalidated",
        detail={
            "indication": report.indication,
            "sub_indication": report.sub_indication,
            "pdf_indication": report.pdf_indication,
        },
    )
    audit.record(
        session,
        actor=actor,
        action="signature.revalidated",
        target_type="document",
        target_id=doc.id,
        details={"indication": report.indication, "sub_indication": report.sub_indication},
    )
    return rec


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
