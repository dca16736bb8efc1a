"""Audit API shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    seq: int
    at: str | None
    actor: str = Field(examples=["client:0193a4b2-…"])
    action: str = Field(examples=["document.accepted"])
    target_type: str
    target_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class BrokenLink(BaseModel):
    seq: int | None
    reason: str | None


class ChainVerdictOut(BaseModel):
    ok: bool
    entries: int
    head: str | None
    first_broken: BrokenLink | None = Field(
        default=None,
        description="the first entry that does not match (absent when ok)",
        exclude_if=lambda v: v is None,
    )
