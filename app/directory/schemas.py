"""Directory API shapes."""

from __future__ import annotations

from typing import Annotated, Literal

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


class OrganizationWrite(BaseModel):
    """Body of POST and PUT. `level` is derived from the OrganId, never sent."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=300)]
    parent_id: str | None = None
    email: Annotated[str, Field(max_length=200)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    route: Route = "local"
    delivery: Delivery = Field(default_factory=Delivery)
    active: bool = True


class OrganizationCreate(OrganizationWrite):
    organ_id: str


class CertificateInfo(BaseModel):
    subject: str
    serial: str
    issuer: str
    not_before: str
    not_after: str
    sha256: str


class OrganizationOut(BaseModel):
    organ_id: str
    name: str
    parent_id: str | None
    level: int
    email: str | None
    address: str | None
    route: Route
    delivery: dict[str, str | None]
    active: bool
    certificate: CertificateInfo | None = None
    webhook_secret: str | None = Field(
        default=None,
        description="shown to the admin who set up push delivery; verify webhooks with it",
    )
    created_at: str
    updated_at: str
