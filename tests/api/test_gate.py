"""The gate: authentication from the headers before any body is read, and the rate limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from app.api.gate import RateLimiter
from app.clients.models import ApiClient
from app.clients.service import Principal, PrincipalCache
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.documents.models import Document
from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

CHUNK = 64 * 1024
BIG = 63 * 1024 * 1024


class Recorder:
    """A streaming request body that counts how much of it the server pulled."""

    def __init__(self, total: int = BIG) -> None:
        self.total = total
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield b"<" * CHUNK


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/api/v1/documents", "application/xml"),
        ("/api/v1/edxml/validate", "application/xml"),
        ("/api/v1/organizations", "application/json"),  # FastAPI reads JSON bodies before deps
        ("/api/v1/clients", "application/json"),
    ],
)
def test_unauthenticated_large_post_refused_before_the_body_is_read(
    client, world: World, sessions, path: str, ctype: str
) -> None:
    for headers, code in (
        ({}, "auth.missing"),
        ({"Authorization": "Basic eDp5"}, "auth.missing"),
        ({"Authorization": "Bearer not-a-key"}, "auth.invalid"),
    ):
        body = Recorder()
        r = client.post(path, content=iter(body), headers=headers | {"Content-Type": ctype})
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["code"] == code
        assert body.pulled == 0, (path, headers)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_wrong_role_refused_before_the_body_is_read(client, world: World) -> None:
    body = Recorder()
    r = client.post(
        "/api/v1/documents",
        content=iter(body),
        headers=world.auth("reporter") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    assert body.pulled == 0


def test_revoked_key_refused_at_the_gate(client, world: World) -> None:
    r = client.delete(f"/api/v1/clients/{world.client_ids['auditor']}", headers=world.auth("admin"))
    assert r.status_code in (200, 204), r.text
    body = Recorder(1024 * 1024)
    r = client.post(
        "/api/v1/edxml/validate",
        content=iter(body),
        headers=world.auth("auditor") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 401 and r.json()["code"] == "auth.invalid"
    assert body.pulled == 0


def test_a_revocation_by_another_process_acts_within_the_cache_second(
    client, world: World, sessions
) -> None:
    now = [1000.0]
    cache = client.app.state.principals
    cache.clock = lambda: now[0]
    cache.clear()
    auditor = world.auth("auditor")
    assert client.get("/api/v1/audit/log", headers=auditor).status_code == 200  # now cached
    with sessions() as s:  # revoked in the database, as another process would
        s.get(ApiClient, world.client_ids["auditor"]).revoked_at = utcnow()
        s.commit()
    now[0] += 0.5
    assert client.get("/api/v1/audit/log", headers=auditor).status_code == 200  # within the second
    now[0] += 0.5
    r = client.get("/api/v1/audit/log", headers=auditor)
    assert r.status_code == 401 and r.json()["code"] == "auth.invalid"


def test_a_revocation_in_this_process_clears_the_cache_at_once(client, world: World) -> None:
    auditor = world.auth("auditor")
    assert client.get("/api/v1/audit/log", headers=auditor).status_code == 200  # now cached
    r = client.delete(f"/api/v1/clients/{world.client_ids['auditor']}", headers=world.auth("admin"))
    assert r.status_code in (200, 204), r.text
    assert client.get("/api/v1/audit/log", headers=auditor).status_code == 401


def test_principal_cache_expires_and_can_be_off() -> None:
    now = [0.0]
    cache = PrincipalCache(1.0, clock=lambda: now[0])
    p = Principal("c", "n", "admin", frozenset())
    cache.put("k", p)
    assert cache.get("k") is p
    now[0] = 0.999
    assert cache.get("k") is p
    now[0] = 1.0
    assert cache.get("k") is None
    off = PrincipalCache(0)
    off.put("k", p)
    assert off.get("k") is None
    with pytest.raises(ValueError):
        Settings(_env_file=None, auth_cache_seconds=1.5)


def test_rate_limiter_refills_and_says_when() -> None:
    now = [1000.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.take("k") == 0 for _ in range(60))
    wait = limiter.take("k")
    assert 0 < wait <= 1.0
    assert limiter.take("other") == 0  # keys have their own buckets
    now[0] += 1.0
    assert limiter.take("k") == 0
    assert limiter.take("k") > 0
    assert RateLimiter(0).take("k") == 0  # 0 = off


class TestRateLimitOverHttp:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        settings.rate_limit_per_minute = 3
        return settings

    def test_over_the_rate_is_429_with_retry_after(self, client, world: World) -> None:
        for _ in range(3):
            assert (
                client.get("/api/v1/organizations", headers=world.auth("auditor")).status_code
                == 200
            )
        r = client.get("/api/v1/organizations", headers=world.auth("auditor"))
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "rate.limited"
        assert int(r.headers["retry-after"]) >= 1
        # a refused submission stores nothing
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [world.OWN2]),
            headers=world.auth("system"),
        )
        assert r.status_code == 202  # another key has its own bucket
        for _ in range(2):
            client.get("/api/v1/organizations", headers=world.auth("system"))
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [world.OWN2]),
            headers=world.auth("system"),
        )
        assert r.status_code == 429 and r.json()["code"] == "rate.limited"
        listed = client.get("/api/v1/documents", headers=world.auth("admin")).json()["items"]
        assert len(listed) == 1
