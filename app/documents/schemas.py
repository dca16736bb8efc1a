"""Document, status and inbox API shapes (SPEC section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.delivery.models import DeliveryState
from app.edxml.models import StatusCodeLiteral

#: The signature verdicts a document can carry (SPEC 5), the values of `indication` filters.
Indication = Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE", "NO_SIGNATURE_FOUND"]


class SignedBy(BaseModel):
    """Who the signing certificate names (serial in lowercase hex)."""

    model_config = ConfigDict(extra="allow")

    subject: str
    serial: str
    issuer: str
    organ_id: str | None = None


class SignatureSummary(BaseModel):
    indication: str | None = Field(examples=["TOTAL_PASSED"])
    sub_indication: str | None
    signed_by: SignedBy | None


class AttachmentOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    content_id: str = Field(examples=["cid:1"])
    name: str | None = None
    content_type: str | None = None


class DeliveryOut(BaseModel):
    id: str
    organ_id: str
    route: str = Field(description="`local` or `vpcp` (the national axis)")
    state: DeliveryState
    attempts: int
    last_error: str | None
    updated_at: str
    status_code: str | None
    revoked: bool


class WarningOut(BaseModel):
    """Something accepted liberally (an SDK habit); `code` is stable."""

    code: str
    detail: str


DOCUMENT_EXAMPLE: dict[str, Any] = {
    "id": "0193a4b2-7c1d-7e42-9a51-3f0c2d8e9b10",
    "document_id": "000.00.01.H39,2026/11/20,123/UBND-VX",
    "business_type": 0,
    "from": "000.00.01.H39",
    "to": ["000.00.02.H39"],
    "subject": "V/v triển khai liên thông văn bản điện tử năm 2026",
    "code": "123/UBND-VX",
    "promulgation_date": "2026-11-20",
    "accepted_at": "2026-11-20T02:30:00Z",
    "response_for": [],
    "attachments": [{"content_id": "cid:1", "name": "cv.pdf", "content_type": "application/pdf"}],
    "signature": {"indication": "TOTAL_PASSED", "sub_indication": None, "signed_by": None},
    "deliveries": [
        {
            "id": "0193a4b2-7c1d-7e42-9a51-3f0c2d8e9b11",
            "organ_id": "000.00.02.H39",
            "route": "local",
            "state": "available",
            "attempts": 0,
            "last_error": None,
            "updated_at": "2026-11-20T02:30:00Z",
            "status_code": None,
            "revoked": False,
        }
    ],
    "warnings": [],
}


class DocumentOut(BaseModel):
    """The document resource (SPEC 4)."""

    model_config = ConfigDict(json_schema_extra={"examples": [DOCUMENT_EXAMPLE]})

    id: str = Field(description="the hub's id (a UUID)")
    document_id: str = Field(description="the edXML DocumentId")
    business_type: int = Field(description="0 new, 1 revoke, 2 update, 3 replace")
    from_: str = Field(serialization_alias="from")
    to: list[str]
    subject: str
    code: str
    promulgation_date: str | None
    accepted_at: str
    response_for: list[str]
    attachments: list[AttachmentOut]
    signature: SignatureSummary
    deliveries: list[DeliveryOut]
    warnings: list[WarningOut] = Field(
        default_factory=list,
        description="in the 202 answer: what the hub accepted liberally or changed (SDK "
        "habits, SPEC 3); also kept in the validation report's warnings",
    )


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(default=None, max_length=200)
    staff: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    mobile: str | None = Field(default=None, max_length=50)


class StatusIn(BaseModel):
    """The JSON body of `POST /documents/{id}/statuses` (or send an edXML status message)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "organ_id": "000.00.02.H39",
                    "code": "03",
                    "description": "Đã tiếp nhận",
                    "staff": {"department": "Văn phòng", "staff": "Trần Thị B"},
                }
            ]
        },
    )

    organ_id: str = Field(description="the recipient reporting (one your client serves)")
    code: StatusCodeLiteral
    description: str | None = Field(default=None, max_length=500)
    staff: StaffIn | None = None
    timestamp: datetime | None = None


class StatusOut(BaseModel):
    id: str
    document: str
    from_: str = Field(serialization_alias="from")
    to: list[str]
    code: str
    description: str | None
    staff: dict[str, str | None] | None
    timestamp: str
    accepted_at: str
    validation: ValidationOut | None = Field(
        default=None,
        description="the newest validation report of the status message's signature (SPEC 5), "
        "with its RFC 3161 timestamp; absent for a status accepted unsigned",
    )


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["done", "fail"]
    reason: str | None = Field(default=None, max_length=1000)


class AckOut(BaseModel):
    id: str
    state: DeliveryState
    acked_at: str | None


#: What an inbox item's `state` says, and what the `state` filter takes (plus `pending`, the
#: same as `available`, and `all`).
InboxState = Literal["available", "acknowledged", "rejected"]


class InboxItem(BaseModel):
    id: str = Field(description="the delivery: use it with /inbox/{id}/edxml and /ack")
    organ_id: str = Field(description="the recipient it waits for (a client may serve several)")
    document: str = Field(description="the hub's document id")
    document_id: str = Field(description="the edXML DocumentId")
    message_type: Literal["document", "status"]
    business_type: int | None
    status_code: str | None
    from_: str = Field(serialization_alias="from")
    subject: str
    state: InboxState
    available_at: str | None
    revoked: bool


class AdminDeliveryOut(DeliveryOut):
    kind: str = Field(description="document | status")
    document: str
    mode: str = Field(description="pull | push | axis")


class TraceEventOut(BaseModel):
    at: str | None
    event: str = Field(examples=["accepted"])
    organ_id: str | None
    delivery: str | None
    detail: dict[str, Any] | None = Field(description="what the event adds (sizes, errors, codes)")


class TraceOut(BaseModel):
    document: str
    items: list[TraceEventOut]


class ReportMessage(BaseModel):
    code: str
    message: str


class ChainEntryOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    subject: str
    serial: str
    issuer: str
    not_before: str | None
    not_after: str | None
    sha256: str


class SignatureReport(BaseModel):
    """The validation report (SPEC 5); later checks may add fields."""

    model_config = ConfigDict(extra="allow")

    indication: str = Field(examples=["TOTAL_PASSED"])
    sub_indication: str | None = None
    signed_by: SignedBy | None = None
    chain: list[ChainEntryOut] = Field(default_factory=list)
    claimed_signing_time: str | None = None
    best_signature_time: str | None = None
    checks: dict[str, str] = Field(
        default_factory=dict, description="check name → passed | failed | not_checked | …"
    )
    errors: list[ReportMessage] = Field(default_factory=list)
    warnings: list[ReportMessage] = Field(default_factory=list)
    validated_at: str | None = None
    policy: str | None = None


class ValidationOut(BaseModel):
    id: str
    trigger: str = Field(description="what made this check: submission, revalidation, …")
    reports: int | None = Field(
        default=None, description="how many reports the document (or status message) has"
    )
    report: SignatureReport


class EdxmlProblem(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    detail: str
    line: int | None = None
    column: int | None = None


class ValidateAttachment(BaseModel):
    content_id: str
    name: str | None
    content_type: str | None
    size: int | None


class ValidateOut(BaseModel):
    """What `POST /edxml/validate` found; nothing is stored."""

    valid: bool = Field(
        description="true when POST /documents (or /statuses) would accept it as it stands, "
        "signature included"
    )
    hub_signs: bool = Field(
        description="true when the message carries no XML-DSig signature: on submission the hub "
        "signs it as its sender"
    )
    message_type: Literal["document", "status"] | None
    business_type: int | None
    document_id: str | None
    from_: str | None = Field(alias="from")
    to: list[str]
    status_code: str | None
    attachments: list[ValidateAttachment]
    errors: list[EdxmlProblem]
    warnings: list[WarningOut]
    signature: SignatureReport | None


class SignatureRow(BaseModel):
    """A document with its latest validation summary (the auditors' list)."""

    document: str
    document_id: str
    from_: str = Field(serialization_alias="from")
    accepted_at: str | None
    origin: str = Field(description="api | axis")
    signed_by_hub: bool
    indication: str | None
    sub_indication: str | None
    signed_by: SignedBy | None
    pdf_indication: str | None = Field(
        default=None, description="the PDF attachments' verdict (SPEC 5.3); null: no PDF"
    )
    pdf_signed_by_sender: bool | None = None
    reports: int
