"""The PDF attachments of a message: their signatures checked, or signed by the hub as the
sending organization (SPEC 5.3). The signing package (`app.signing.pdf_*`) does the work on
bytes; this module finds the attachments in a parsed message, swaps a signed PDF into the
tree, and applies PDF_SIGNATURE_POLICY.

Memory: an attachment is decoded into a temporary file in slices, signed from that file into
another, and its new base64 text is built from that file, so signing a 50 MB PDF holds the old
and new base64 texts of the tree, not several decoded copies.
"""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from lxml import etree
from sqlalchemy.orm import Session

from app.core.errors import Unprocessable
from app.documents.service import SignatureInvalid
from app.documents.trust import trust_for_certificates
from app.edxml import EdxmlDocument, ParsedMessage
from app.edxml.models import Attachment, LazyBase64
from app.edxml.schema import q
from app.hub import Hub
from app.signing import TrustStore, ValidationReport
from app.signing.pdf_containers import looks_like_pdf, looks_like_zip
from app.signing.pdf_signing import PdfSigningError, Timestamper, sign_pdf
from app.signing.pdf_validation import AttachmentInput, TrustFor, validate_attachments
from app.signing.report import AttachmentVerdict
from app.signing.xmldsig import Signer

_HEAD_CHARS = 1368  # base64 characters that decode to the first 1026 bytes
_SPOOL = 4 * 1024 * 1024


def _head(att: Attachment) -> bytes:
    return next(att.iter_chunks(_HEAD_CHARS), b"")


def _inputs(attachments: list[Attachment]) -> Iterator[AttachmentInput]:
    """Decoded PDF and ZIP attachments, one at a time (others are never decoded whole); a large
    one is decoded into a temporary file, never held decoded in memory beside its base64."""
    for att in attachments:
        head = _head(att)
        if not (looks_like_zip(head) or looks_like_pdf(att.name, att.content_type, head)):
            continue
        if att.size <= _SPOOL:
            yield AttachmentInput(att.content_id, att.name, att.content_type, att.data)
            continue
        with tempfile.TemporaryFile() as decoded:
            for chunk in att.iter_chunks():
                decoded.write(chunk)
            decoded.seek(0)
            yield AttachmentInput(att.content_id, att.name, att.content_type, decoded)


def attachment_verdicts(
    message: EdxmlDocument | None,
    *,
    organ_id: str,
    trust: TrustStore,
    at: dt.datetime,
    max_bytes: int,
    trust_for: TrustFor | None = None,
) -> tuple[AttachmentVerdict, ...]:
    """A verdict per PDF (top level or in a ZIP) of a document; () for a status message.

    Read the attachments before their large texts are detached from the tree."""
    if message is None:
        return ()
    return validate_attachments(
        _inputs(message.attachments),
        expected_organ_id=organ_id,
        trust=trust,
        at=at,
        max_bytes=max_bytes,
        trust_for=trust_for,
    )


def pdf_trust(session: Session, hub: Hub) -> TrustFor:
    """The trust store for the certificates a PDF carries: the hub's, plus the network's
    revocation data for those it did not issue (SPEC 5.1, as for the edXML signature)."""

    def trust_for(certificates: Sequence[bytes]) -> TrustStore:
        return trust_for_certificates(session, hub, certificates).store

    return trust_for


def enforce_policy(policy: str, report: ValidationReport) -> None:
    """PDF_SIGNATURE_POLICY=require_valid: every PDF attachment passes, or 422."""
    if policy != "require_valid":
        return
    failing = [a for a in report.attachments if not a.passed]
    if failing:
        first = failing[0]
        where = first.name + (f" ({first.path_in_zip})" if first.path_in_zip else "")
        raise SignatureInvalid(
            f"the PDF attachment {where} is {first.indication}"
            + (f" ({first.sub_indication})" if first.sub_indication else "")
            + "; PDF_SIGNATURE_POLICY=require_valid",
            extra={"validation": report.to_dict()},
        )


def _payload_element(root: etree._Element, content_id: str) -> etree._Element:
    for att in root.iter(q("Attachment")):
        cid = att.find(q("ContentId"))
        if cid is not None and (cid.text or "").strip() == content_id:
            payload = att.find(q("ContentTransferEncoded"))
            if payload is not None:
                return payload
    raise KeyError(content_id)


def _text_of(element: etree._Element) -> Callable[[], str]:
    def read() -> str:
        return element.text or ""

    return read


def sign_pdf_attachments(
    parsed: ParsedMessage,
    *,
    signer: Signer,
    organ_id: str,
    organ_name: str,
    trust: TrustStore,
    timestamper: Timestamper | None,
    at: dt.datetime,
    font: Path | None = None,
) -> list[str]:
    """Sign every top-level PDF attachment of an unsigned package as `organ_id` (sign_pdf=true),
    in the tree and in the parsed models; the ContentIds signed. A PDF already signed keeps its
    signatures and gets one more. A PDF the hub cannot sign is refused (422)."""
    message = parsed.document
    if message is None:
        return []
    signed: list[str] = []
    for i, att in enumerate(message.attachments):
        head = _head(att)
        if looks_like_zip(head) or not looks_like_pdf(att.name, att.content_type, head):
            continue
        element = _payload_element(parsed.root, att.content_id)
        with (
            tempfile.SpooledTemporaryFile(_SPOOL) as source,
            tempfile.SpooledTemporaryFile(_SPOOL) as output,
        ):
            for chunk in att.iter_chunks():
                source.write(chunk)
            # The tree's old text goes before the new one is made (memory: SPEC 12); a
            # refusal below refuses the whole submission, so the tree is not used again.
            element.text = ""
            source.seek(0)
            try:
                sign_pdf(
                    source,
                    output,
                    signer=signer,
                    organ_id=organ_id,
                    organ_name=organ_name,
                    trust=trust,
                    timestamper=timestamper,
                    when=at,
                    font=font,
                )
            except PdfSigningError as exc:
                raise Unprocessable(
                    f"the attachment {att.name} cannot be signed as a PDF: {exc}",
                    code="attachment.unsignable",
                ) from exc
            size = output.seek(0, 2)
            output.seek(0)
            encoded = base64.b64encode(output.read())
        element.text = encoded  # type: ignore[assignment]  # lxml takes ASCII bytes as text
        del encoded
        # read from the tree like any parsed attachment, never a second decoded copy
        message.attachments[i] = Attachment.model_validate(
            {
                "content_id": att.content_id,
                "name": att.name,
                "description": att.description,
                "content_type": att.content_type or "application/pdf",
                "data": LazyBase64(_text_of(element), size),
            }
        )
        signed.append(att.content_id)
    return signed
