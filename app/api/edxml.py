"""POST /edxml/validate: check a message without sending it (for integrators)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request

from app.api import openapi
from app.api.body import BodyDep
from app.api.deps import AnyPrincipal, SessionDep
from app.api.problems import responses
from app.core.errors import HubError
from app.core.timeutil import utcnow
from app.documents.pdf_signatures import attachment_verdicts, pdf_trust
from app.documents.pipeline import verify_signature
from app.documents.schemas import ValidateOut
from app.edxml import EdxmlError, interop, outcome_summary, validate_file, validate_message

router = APIRouter(prefix="/edxml", tags=["edxml"])


@router.post(
    "/validate",
    response_model=ValidateOut,
    openapi_extra=openapi.xml_body("an edXML document or status message"),
    responses=responses(401, 403, 413, 422),
)
def validate_edxml(
    request: Request, _: AnyPrincipal, body: BodyDep, session: SessionDep
) -> ValidateOut:
    """Check a message without sending it: `valid` is what submitting it would meet, its
    signature included; `hub_signs` says the hub would sign it (no XML-DSig signature)."""
    hub = request.app.state.hub
    limit = hub.settings.max_edxml_bytes
    outcome = (
        validate_file(body.path, max_bytes=limit)
        if body.path
        else validate_message(body.data or b"", max_bytes=limit)
    )
    first = outcome.errors[0] if outcome.errors else None
    if (
        outcome.parsed is None
        and first is not None
        and first.code in ("edxml.malformed", "edxml.forbidden_construct", "payload.too_large")
    ):
        raise EdxmlError(first.code, first.detail, first.status, first.line, first.column)
    result: dict[str, Any] = outcome_summary(outcome)
    signature = None
    signed = False
    if outcome.parsed is not None:
        message = outcome.parsed.message
        # What submission would do: the SDK's placeholder goes, real signatures are judged.
        noted = interop.prepare_for_check(
            outcome.parsed.root, kind=outcome.parsed.kind, document_id=result.get("document_id")
        )
        result["warnings"] += [w.as_dict() for w in noted]
        try:
            at = utcnow()
            # PDF attachments first: reading them needs the tree as it was parsed.
            pdfs = attachment_verdicts(
                outcome.parsed.document,
                organ_id=message.from_.organ_id,
                trust=hub.custody.trust_store(session),
                at=at,
                max_bytes=hub.settings.max_document_bytes,
                trust_for=pdf_trust(session, hub),
            )
            report = verify_signature(
                session, hub, outcome.parsed.root, organ=message.from_.organ_id, at=at
            )
            signature = dataclasses.replace(report, attachments=pdfs).to_dict()
        except HubError:
            signature = None
        signed = interop.has_any_signature(outcome.parsed.root)
        if signed and not (signature and signature["indication"] == "TOTAL_PASSED"):
            result["valid"] = False
            result["errors"].append(interop.signature_refused(signature))
    result["signature"] = signature
    result["hub_signs"] = outcome.parsed is not None and not signed
    return ValidateOut.model_validate(result)
