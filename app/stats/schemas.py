"""Statistics API shapes (SPEC 9). Counters may grow: every model admits further fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Counters(BaseModel):
    model_config = ConfigDict(extra="allow")

    sent: int = Field(description="documents this organization sent")
    deliveries_sent: int
    received: int = Field(description="documents delivered to it")
    sent_signed: int
    received_valid: int
    central_sent: int
    central_received: int
    failed: int
    median_delivery_seconds: float | None
    statuses: dict[str, int] = Field(description="status messages sent, by code")


class InterchangeRow(Counters):
    period: str = Field(examples=["2026-Q4"])
    organ_id: str
    name: str | None


class InterchangeOut(BaseModel):
    since: str
    until: str
    granularity: str
    items: list[InterchangeRow]
    next_cursor: str | None = None


class InactiveRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    organ_id: str
    name: str | None
    parent_id: str | None
    level: int | None


class InactiveOut(BaseModel):
    since: str
    until: str
    items: list[InactiveRow]
    next_cursor: str | None = None


class MonthRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    period: str = Field(examples=["2026-11"])
    sent: int
    received: int
    central: int
    signed: int
    exchanged: int


class OrganizationRow(Counters):
    organ_id: str
    name: str | None
    route: str
    active: bool
    parent_id: str | None


class ReportOut(BaseModel):
    """The annual report's indicators (`labels` names each in Vietnamese and English)."""

    model_config = ConfigDict(extra="allow")

    year: int
    indicators: dict[str, int | float | None]
    labels: dict[str, object]
    months: list[MonthRow]
    organizations: list[OrganizationRow]
    inactive: list[InactiveRow]
