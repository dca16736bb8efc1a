"""Creating, authenticating and revoking API clients."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.clients.models import ApiClient
from app.clients.repository import ClientRepository
from app.clients.schemas import ClientCreate, ClientOut
from app.core.errors import AuthInvalid, NotFound, Unprocessable
from app.core.security import generate_api_key, hash_api_key
from app.core.timeutil import iso, utcnow
from app.directory.repository import OrganizationRepository


@dataclass(frozen=True)
class Principal:
    """Who is calling: enough to authorise without touching the database again."""

    client_id: str
    name: str
    role: str
    organ_ids: frozenset[str]

    @property
    def actor(self) -> str:
        return f"client:{self.client_id}"


def to_out(client: ApiClient) -> ClientOut:
    return ClientOut(
        id=client.id,
        name=client.name,
        role=client.role,
        organ_ids=client.organ_ids,
        created_at=iso(client.created_at) or "",
        revoked_at=iso(client.revoked_at),
    )


def create_client(session: Session, data: ClientCreate, *, actor: str) -> tuple[ApiClient, str]:
    organ_ids = sorted(set(data.organ_ids))
    if data.role == "system" and not organ_ids:
        raise Unprocessable(
            "a system client must serve at least one organization", code="client.invalid"
        )
    if data.role != "system" and organ_ids:
        raise Unprocessable("only system clients serve organizations", code="client.invalid")
    orgs = OrganizationRepository(session).get_many(organ_ids)
    missing = sorted(set(organ_ids) - {o.organ_id for o in orgs})
    if missing:
        raise Unprocessable(
            f"unknown organizations: {', '.join(missing)}", code="organization.unknown"
        )
    key = generate_api_key()
    client = ApiClient(
        name=data.name,
        role=data.role,
        key_hash=hash_api_key(key),
        key_hint=key[:7],
        organizations=orgs,
    )
    ClientRepository(session).add(client)
    audit.record(
        session,
        actor=actor,
        action="client.created",
        target_type="client",
        target_id=client.id,
        details={"name": client.name, "role": client.role, "organ_ids": organ_ids},
    )
    return client, key


def revoke_client(session: Session, client_id: str, *, actor: str) -> ApiClient:
    client = ClientRepository(session).get(client_id)
    if client is None:
        raise NotFound("no such client", code="client.not_found")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        forget_principals()
        audit.record(
            session,
            actor=actor,
            action="client.revoked",
            target_type="client",
            target_id=client.id,
            details={"name": client.name},
        )
    return client


class PrincipalCache:
    """Principals by key hash for at most `ttl` seconds (AUTH_CACHE_SECONDS, ≤ 1).

    A revocation committed by any process acts within `ttl`; one made in this process clears
    every cache of the process at once. `ttl` 0 looks the key up on every request.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:  # bounded: expired entries go first
                now = self.clock()
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            self._entries[key_hash] = (principal, self.clock() + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries = {}


_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def forget_principals() -> None:
    """A client was revoked here: no cache of this process answers for any key any more."""
    for cache in list(_caches):
        cache.clear()


def authenticate(session: Session, api_key: str) -> Principal:
    """Looked up on every request, so a revocation takes effect on the next one."""
    client = ClientRepository(session).by_key_hash(hash_api_key(api_key))
    if client is None or client.revoked_at is not None:
        raise AuthInvalid("the API key is unknown or revoked")
    return Principal(client.id, client.name, client.role, frozenset(client.organ_ids))
