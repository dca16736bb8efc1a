"""Document, status and inbox API shapes (SPEC section 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.edxml.models import StatusCodeLiteral


class SignatureSummary(BaseModel):
    indication: str | None
    sub_indication: str | None
    signed_by: dict[str, Any] | None


class DeliveryOut(BaseModel):
    id: str
    organ_id: str
    route: str
    state: str
    attempts: int
    last_error: str | None
    updated_at: str
    status_code: str | None
    revoked: bool


class WarningOut(BaseModel):
    """Something accepted liberally (an SDK habit); `code` is stable."""

    code: str
    detail: str


class DocumentOut(BaseModel):
    id: str
    document_id: str
    business_type: int
    from_: str = Field(serialization_alias="from")
    to: list[str]
    subject: str
    code: str
    promulgation_date: str | None
    accepted_at: str
    response_for: list[str]
    attachments: list[dict[str, Any]]
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
    model_config = ConfigDict(extra="forbid")

    organ_id: str
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
    staff: dict[str, Any] | None
    timestamp: str
    accepted_at: str


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["done", "fail"]
    reason: str | None = Field(default=None, max_length=1000)


class InboxItem(BaseModel):
    id: str
    document: str
    document_id: str
    message_type: Literal["document", "status"]
    business_type: int | None
    status_code: str | None
    from_: str = Field(serialization_alias="from")
    subject: str
    state: str
    available_at: str | None
    revoked: bool
