"""API clients: keys shown once, stored hashed, revocation immediate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.clients.models import ApiClient
from app.core.security import hash_api_key
from tests.conftest import World

pytestmark = pytest.mark.rolled_back


def test_key_is_shown_once_and_stored_only_as_hash(client, world: World, sessions) -> None:
    r = client.post(
        "/api/v1/clients",
        json={"name": "QLVB Sở Tư pháp", "role": "system", "organ_ids": [world.OWN]},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["api_key"]
    assert key.startswith("lt_") and len(key) > 40
    listed = client.get("/api/v1/clients", headers=world.auth("admin")).json()["items"]
    mine = next(c for c in listed if c["id"] == created["id"])
    assert "api_key" not in mine and mine["organ_ids"] == [world.OWN] and mine["revoked_at"] is None
    assert key not in client.get("/api/v1/clients", headers=world.auth("admin")).text
    with sessions() as s:
        row = s.scalars(select(ApiClient).where(ApiClient.id == created["id"])).one()
        assert row.key_hash == hash_api_key(key) and key not in (row.key_hash, row.key_hint)
    assert (
        client.get("/api/v1/organizations", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )


def test_revocation_takes_effect_on_the_next_request(client, world: World) -> None:
    headers = world.auth("reporter")
    assert client.get("/api/v1/organizations", headers=headers).status_code == 200
    r = client.delete(
        f"/api/v1/clients/{world.client_ids['reporter']}", headers=world.auth("admin")
    )
    assert r.status_code == 200 and r.json()["revoked_at"]
    again = client.get("/api/v1/organizations", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "auth.invalid"
    log = client.get(
        "/api/v1/audit/log", params={"limit": 500}, headers=world.auth("auditor")
    ).json()["items"]
    assert any(
        e["action"] == "client.revoked" and e["target_id"] == world.client_ids["reporter"]
        for e in log
    )


def test_client_validation(client, world: World) -> None:
    admin = world.auth("admin")
    cases = [
        ({"name": "x", "role": "system"}, "client.invalid"),
        ({"name": "x", "role": "admin", "organ_ids": [world.OWN]}, "client.invalid"),
        ({"name": "x", "role": "system", "organ_ids": ["000.00.88.H39"]}, "organization.unknown"),
        ({"name": "x", "role": "root"}, "request.invalid"),
    ]
    before = len(client.get("/api/v1/clients", headers=admin).json()["items"])
    for body, code in cases:
        r = client.post("/api/v1/clients", json=body, headers=admin)
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
    assert len(client.get("/api/v1/clients", headers=admin).json()["items"]) == before


def test_missing_and_malformed_credentials(client, world: World) -> None:
    r = client.get("/api/v1/organizations")
    assert r.status_code == 401 and r.json()["code"] == "auth.missing"
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/api/v1/organizations", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.json()["code"] == "auth.missing"
    r = client.get("/api/v1/organizations", headers={"Authorization": "Bearer lt_nope"})
    assert r.status_code == 401 and r.json()["code"] == "auth.invalid"
