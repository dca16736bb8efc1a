"""The body of POST /edxml/validate, minus `signature` (the signing module adds that)."""

from __future__ import annotations

from typing import Any

from app.edxml.reader import ParsedMessage, ValidationOutcome


def message_summary(parsed: ParsedMessage) -> dict[str, Any]:
    """Summary of a valid message.

    `document_id` is the effective one (the standard DocumentId when the message carries none),
    because that is the id the hub will file the document under. For a status message it is
    the DocumentId the status is about, and `to` is the organization that issued that document
    (ResponseFor/OrganId), the party the status travels back to.
    """
    if parsed.document is not None:
        doc = parsed.document
        return {
            "valid": True,
            "message_type": "document",
            "business_type": doc.business_type,
            "document_id": doc.effective_document_id,
            "from": doc.from_.organ_id,
            "to": [org.organ_id for org in doc.to],
            "status_code": None,
            "attachments": [
                {
                    "content_id": att.content_id,
                    "name": att.name,
                    "content_type": att.content_type,
                    "size": att.size,
                }
                for att in doc.attachments
            ],
            "errors": [],
            "warnings": [w.as_dict() for w in parsed.warnings],
        }
    status = parsed.status
    assert status is not None
    return {
        "valid": True,
        "message_type": "status",
        "business_type": None,
        "document_id": status.response_for.document_id,
        "from": status.from_.organ_id,
        "to": [status.response_for.organ_id] if status.response_for.organ_id else [],
        "status_code": status.status_code,
        "attachments": [],
        "errors": [],
        "warnings": [w.as_dict() for w in parsed.warnings],
    }


def outcome_summary(outcome: ValidationOutcome) -> dict[str, Any]:
    """Summary of any outcome: `message_summary` when valid, else the errors (and the message
    type when the envelope could be read)."""
    if outcome.parsed is not None and not outcome.errors:
        return message_summary(outcome.parsed)
    return {
        "valid": False,
        "message_type": outcome.kind,
        "business_type": None,
        "document_id": None,
        "from": None,
        "to": [],
        "status_code": None,
        "attachments": [],
        "errors": outcome.error_dicts(),
        "warnings": [],
    }
