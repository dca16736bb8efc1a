"""The API's answers as typed models. Each names the OpenAPI schema it mirrors
(`schema_name`); the hub's test suite checks that their fields agree. Fields the hub adds
later are kept (extra="allow"), so an older client keeps working."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    schema_name: ClassVar[str] = ""


class Page(Model, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class SignedBy(Model):
    schema_name = "SignedBy"
    subject: str
    serial: str
    issuer: str
    organ_id: str | None = None


class SignatureSummary(Model):
    schema_name = "SignatureSummary"
    indication: str | None
    sub_indication: str | None
    signed_by: SignedBy | None


class Delivery(Model):
    schema_name = "DeliveryOut"
    id: str
    organ_id: str
    route: str
    state: str
    attempts: int
    last_error: str | None
    updated_at: str
    status_code: str | None
    revoked: bool


class WarningItem(Model):
    schema_name = "WarningOut"
    code: str
    detail: str


class AttachmentInfo(Model):
    schema_name = "AttachmentOut"
    content_id: str
    name: str | None = None
    content_type: str | None = None


class Document(Model):
    """The document resource; `from_` is the JSON key `from`."""

    schema_name = "DocumentOut"
    id: str
    document_id: str
    business_type: int
    from_: str = Field(alias="from")
    to: list[str]
    subject: str
    code: str
    promulgation_date: str | None
    accepted_at: str
    response_for: list[str]
    attachments: list[AttachmentInfo]
    signature: SignatureSummary
    deliveries: list[Delivery]
    warnings: list[WarningItem] = []

    def delivery_to(self, organ_id: str) -> Delivery | None:
        return next((d for d in self.deliveries if d.organ_id == organ_id), None)


class InboxItem(Model):
    schema_name = "InboxItem"
    id: str
    organ_id: str
    document: str
    document_id: str
    message_type: Literal["document", "status"]
    business_type: int | None
    status_code: str | None
    from_: str = Field(alias="from")
    subject: str
    state: str
    available_at: str | None
    revoked: bool


class Ack(Model):
    schema_name = "AckOut"
    id: str
    state: str
    acked_at: str | None


class Status(Model):
    schema_name = "StatusOut"
    id: str
    document: str
    from_: str = Field(alias="from")
    to: list[str]
    code: str
    description: str | None
    staff: dict[str, str | None] | None
    timestamp: str
    accepted_at: str
    validation: Validation | None = None  # the status's newest report (SPEC 5), if signed


class TraceEvent(Model):
    schema_name = "TraceEventOut"
    at: str | None
    event: str
    organ_id: str | None
    delivery: str | None
    detail: dict[str, Any] | None


class Trace(Model):
    schema_name = "TraceOut"
    document: str
    items: list[TraceEvent]


class SignatureReport(Model):
    schema_name = "SignatureReport"
    indication: str
    sub_indication: str | None = None
    signed_by: SignedBy | None = None
    checks: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []


class Validation(Model):
    schema_name = "ValidationOut"
    id: str
    trigger: str
    reports: int | None = None
    report: SignatureReport


class EdxmlProblem(Model):
    schema_name = "EdxmlProblem"
    code: str
    detail: str
    line: int | None = None
    column: int | None = None


class ValidateResult(Model):
    """What `POST /edxml/validate` found (nothing is stored)."""

    schema_name = "ValidateOut"
    valid: bool
    hub_signs: bool
    message_type: str | None
    business_type: int | None
    document_id: str | None
    from_: str | None = Field(alias="from")
    to: list[str]
    status_code: str | None
    attachments: list[dict[str, Any]]
    errors: list[EdxmlProblem]
    warnings: list[WarningItem]
    signature: SignatureReport | None


class Organization(Model):
    schema_name = "OrganizationOut"
    organ_id: str
    name: str
    parent_id: str | None
    level: int
    email: str | None
    address: str | None
    route: str
    delivery: dict[str, str]
    active: bool
    certificate: dict[str, str] | None = None
    webhook_secret: str | None = None
    created_at: str
    updated_at: str


class WebhookSecret(Model):
    schema_name = "WebhookSecretOut"
    organ_id: str
    url: str
    secret: str


class Counters(Model):
    sent: int
    deliveries_sent: int
    received: int
    sent_signed: int
    received_valid: int
    central_sent: int
    central_received: int
    failed: int
    median_delivery_seconds: float | None
    statuses: dict[str, int]


class InterchangeRow(Counters):
    schema_name = "InterchangeRow"
    period: str
    organ_id: str
    name: str | None


class Interchange(Model):
    schema_name = "InterchangeOut"
    since: str
    until: str
    granularity: str
    items: list[InterchangeRow]
    next_cursor: str | None = None


class InactiveRow(Model):
    schema_name = "InactiveRow"
    organ_id: str
    name: str | None
    parent_id: str | None
    level: int | None


class Inactive(Model):
    schema_name = "InactiveOut"
    since: str
    until: str
    items: list[InactiveRow]
    next_cursor: str | None = None


class OrganizationRow(Counters):
    schema_name = "OrganizationRow"
    organ_id: str
    name: str | None
    route: str
    active: bool
    parent_id: str | None


class AnnualReport(Model):
    """The annual report's indicators (`labels` names each in Vietnamese and English)."""

    schema_name = "ReportOut"
    year: int
    indicators: dict[str, int | float | None]
    labels: dict[str, Any]
    months: list[dict[str, Any]]
    organizations: list[OrganizationRow]
    inactive: list[InactiveRow]
