"""POST /edxml/validate: check a message without sending it (for integrators)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.body import BodyDep
from app.api.deps import AnyPrincipal, SessionDep
from app.api.problems import responses
from app.core.errors import HubError
from app.core.timeutil import utcnow
from app.documents.pdf_signatures import attachment_verdicts, pdf_trust
from app.documents.trust import trust_for
from app.edxml import EdxmlError, interop, outcome_summary, validate_file, validate_message
from app.signing.validation import validate

router = APIRouter(prefix="/edxml", tags=["edxml"])


@router.post(
    "/validate",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
    responses=responses(401, 403, 413, 422),
)
def validate_edxml(
    request: Request, _: AnyPrincipal, body: BodyDep, session: SessionDep
) -> JSONResponse:
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
            trust = trust_for(session, hub, outcome.parsed.root)
            report = trust.explain(
                validate(
                    outcome.parsed.root,
                    expected_organ_id=message.from_.organ_id,
                    trust=trust.store,
                    at=at,
                )
            )
            signature = dataclasses.replace(report, attachments=pdfs).to_dict()
        except HubError:
            signature = None
        if interop.has_any_signature(outcome.parsed.root) and not (
            signature and signature["indication"] == "TOTAL_PASSED"
        ):
            result["valid"] = False
            result["errors"].append(interop.signature_refused(signature))
    result["signature"] = signature
    return JSONResponse(result)
