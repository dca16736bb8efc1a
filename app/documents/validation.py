"""Re-validation: check a stored document's signature again now, keep the new report beside
the old ones. The proof-of-existence time is the hub's own receipt time, so a certificate
that expired or was revoked *after* the document arrived still gives TOTAL_PASSED, and one
revoked before it shows REVOKED."""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.delivery.repository import add_trace as trace
from app.documents.models import Document, ValidationRecord
from app.documents.pdf_signatures import attachment_verdicts, pdf_trust
from app.documents.service import keep_report
from app.documents.trust import trust_for
from app.edxml import parse_file
from app.hub import Hub
from app.signing.validation import validate


def revalidate(session: Session, hub: Hub, doc: Document, *, actor: str) -> ValidationRecord:
    with hub.blobs.as_path(session, doc.blob) as path:
        parsed = parse_file(path, max_bytes=hub.settings.max_edxml_bytes)
    trust = trust_for(session, hub, parsed.root)
    pdfs = attachment_verdicts(
        parsed.document,
        organ_id=doc.from_organ,
        trust=hub.custody.trust_store(session),
        at=doc.accepted_at,
        max_bytes=hub.settings.max_document_bytes,
        trust_for=pdf_trust(session, hub),
    )
    report = trust.explain(
        validate(
            parsed.root, expected_organ_id=doc.from_organ, trust=trust.store, at=doc.accepted_at
        )
    )
    report = dataclasses.replace(report, attachments=pdfs)
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
