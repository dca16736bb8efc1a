"""Client API shapes. The key appears in exactly one response: creation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "admin", "auditor", "reporter"]
ROLES: tuple[Role, ...] = ("system", "admin", "auditor", "reporter")


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    organ_ids: list[str] = Field(default_factory=list)


class ClientOut(BaseModel):
    id: str
    name: str
    role: Role
    organ_ids: list[str]
    created_at: str
    revoked_at: str | None


class ClientCreated(ClientOut):
    api_key: str


class Caller(BaseModel):
    """The calling client, as its own key shows it (what a dashboard needs to know its role)."""

    id: str
    name: str
    role: Role
    organ_ids: list[str]
