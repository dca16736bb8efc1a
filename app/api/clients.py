"""API-client routes (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import (
    AdminPrincipal,
    AnyPrincipal,
    Cursor,
    Limit,
    SessionDep,
    decode_cursor,
    encode_cursor,
)
from app.api.problems import responses
from app.clients import service
from app.clients.repository import ClientRepository
from app.clients.schemas import Caller, ClientCreate, ClientCreated, ClientOut

router = APIRouter(prefix="/clients", tags=["clients"])


@router.post("", status_code=201, response_model=ClientCreated, responses=responses(401, 403, 422))
def create_client(
    body: ClientCreate, session: SessionDep, principal: AdminPrincipal
) -> ClientCreated:
    client, key = service.create_client(session, body, actor=principal.actor)
    return ClientCreated(**service.to_out(client).model_dump(), api_key=key)


@router.get("", responses=responses(401, 403))
def list_clients(
    session: SessionDep, _: AdminPrincipal, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    rows = ClientRepository(session).list(after=decode_cursor(cursor), limit=limit + 1)
    page = rows[:limit]
    return {
        "items": [service.to_out(c).model_dump() for c in page],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }


@router.delete("/{client_id}", response_model=ClientOut, responses=responses(401, 403, 404))
def revoke_client(client_id: str, session: SessionDep, principal: AdminPrincipal) -> ClientOut:
    client = service.revoke_client(session, client_id, actor=principal.actor)
    return service.to_out(client)


@router.get("/me", response_model=Caller, responses=responses(401))
def who_am_i(principal: AnyPrincipal) -> Caller:
    """The calling client: its id, name, role and organizations (any role; no other client)."""
    return Caller(
        id=principal.client_id,
        name=principal.name,
        role=principal.role,
        organ_ids=sorted(principal.organ_ids),
    )
