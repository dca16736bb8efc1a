"""Directory API shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

Route = Literal["local", "vpcp"]


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["pull", "push"] = "pull"
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _push_needs_url(self) -> Delivery:
        if self.mode == "push" and self.url is None:
            raise ValueError("delivery.url is required when mode is push")
        if self.mode == "pull" and self.url is not None:
            raise ValueError("delivery.url is only for mode push")
        return self


ORGANIZATION_EXAMPLE: dict[str, Any] = {
    "name": "Sở Tài chính tỉnh Long An",
    "parent_id": "000.00.00.H39",
    "email": "stc@longan.gov.vn",
    "address": "Tân An, Long An",
    "route": "local",
    "delivery": {"mode": "push", "url": "https://qlvb.stc.longan.gov.vn/lienthong/webhook"},
    "active": True,
}


class OrganizationWrite(BaseModel):
    """Body of POST and PUT. `level` is derived from the OrganId."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [dict(ORGANIZATION_EXAMPLE)]}
    )

    name: Annotated[str, Field(min_length=1, max_length=300)]
    parent_id: str | None = None
    email: Annotated[str, Field(max_length=200)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    route: Route = "local"
    delivery: Delivery = Field(default_factory=Delivery)
    active: bool = True


class OrganizationCreate(OrganizationWrite):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"organ_id": "000.00.03.H39"} | ORGANIZATION_EXAMPLE]}
    )

    organ_id: str


class OrganizationPut(OrganizationWrite):
    """Body of PUT: the whole organization. What GET answers may be sent back as it is: its
    read-only fields are accepted (`organ_id` and `level` must match) and ignored."""

    organ_id: str | None = Field(default=None, description="read-only: must match the path")
    level: int | None = Field(default=None, description="read-only: derived from the OrganId")
    certificate: dict[str, str] | None = Field(default=None, description="read-only, ignored")
    webhook_secret: str | None = Field(default=None, description="read-only, ignored")
    created_at: str | None = Field(default=None, description="read-only, ignored")
    updated_at: str | None = Field(default=None, description="read-only, ignored")


class OrganizationPatch(BaseModel):
    """Body of PATCH: only the fields sent change (`delivery` is replaced whole)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "vanthu@longan.gov.vn"}]}
    )

    name: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    parent_id: str | None = None
    email: Annotated[str, Field(max_length=200)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    route: Route | None = None
    delivery: Delivery | None = None
    active: bool | None = None


class CertificateInfo(BaseModel):
    subject: str
    serial: str
    issuer: str
    not_before: str
    not_after: str
    sha256: str


class DeliverySetting(BaseModel):
    mode: Literal["pull", "push"]
    url: str | None = Field(
        default=None, description="push only; shown to admins", exclude_if=lambda v: v is None
    )


class OrganizationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organ_id": "000.00.03.H39",
                    "name": "Sở Tài chính tỉnh Long An",
                    "parent_id": "000.00.00.H39",
                    "level": 2,
                    "email": "stc@longan.gov.vn",
                    "address": None,
                    "route": "local",
                    "delivery": {"mode": "pull"},
                    "active": True,
                    "certificate": None,
                    "created_at": "2026-11-20T02:30:00Z",
                    "updated_at": "2026-11-20T02:30:00Z",
                }
            ]
        }
    )

    organ_id: str
    name: str
    parent_id: str | None
    level: int
    email: str | None
    address: str | None
    route: Route
    delivery: DeliverySetting
    active: bool
    certificate: CertificateInfo | None = None
    webhook_secret: str | None = Field(
        default=None,
        description="in the answer of the POST or PUT that set up push delivery; later "
        "`GET /organizations/{organ_id}/webhook-secret` (admin, audited)",
    )
    created_at: str
    updated_at: str


class WebhookSecretOut(BaseModel):
    """The Standard Webhooks secret of a push organization (docs/WEBHOOKS.md)."""

    organ_id: str
    url: str
    secret: str = Field(
        description="`whsec_` + base64 key: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}"
        ".{body}`",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class FingerprintOut(BaseModel):
    organ_id: str
    sha256: str
    created_at: str | None


class FingerprintRemoved(BaseModel):
    organ_id: str
    sha256: str
    registered: bool
