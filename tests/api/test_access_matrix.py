"""Every endpoint × every role × own/foreign organization, generated from the route table."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from app.api.deps import Authorize
from app.core.config import Settings
from app.main import API_PREFIX, API_ROUTERS, OTHER_ROUTERS, create_app
from tests.api.route_samples import SAMPLES
from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

PUBLIC = {"/healthz", "/readyz", "/metrics", "/pki/ca", "/pki/crl", "/pki/crl/root", "/pki/tsa"}
ROLES = ("system", "admin", "auditor", "reporter")


def _authorize_of(route: APIRoute) -> Authorize | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Authorize):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def _routes() -> list[tuple[str, str, frozenset[str] | None]]:
    """Every operation the app serves, read from its OpenAPI document and its routers."""
    settings = Settings(
        _env_file=None, database_url="sqlite://", key_passphrase="x", worker_enabled=False
    )
    app = create_app(settings)
    gates: dict[tuple[str, str], frozenset[str] | None] = {}
    for router in (*API_ROUTERS, *OTHER_ROUTERS):
        prefix = API_PREFIX if router in API_ROUTERS else ""
        for route in router.routes:
            if isinstance(route, APIRoute):
                gate = _authorize_of(route)
                for method in (route.methods or set()) - {"HEAD"}:
                    gates[(method, prefix + route.path)] = gate.roles if gate else None
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method in ops:
            key = (method.upper(), path)
            # An operation served but absent from the routers we know is itself a failure.
            out.append((key[0], path, gates.get(key, frozenset({"<unknown router>"}))))
    return sorted(out, key=lambda t: (t[1], t[0]))


ROUTES = _routes()
PROTECTED = [(m, p, roles) for m, p, roles in ROUTES if roles is not None]


def test_every_route_declares_who_may_call_it() -> None:
    unguarded = [(m, p) for m, p, roles in ROUTES if roles is None and p not in PUBLIC]
    assert unguarded == [], "routes without an Authorize(...) rule"
    missing = [(m, p) for m, p, _ in PROTECTED if (m, p) not in SAMPLES]
    assert missing == [], "add a sample request to tests/api/route_samples.py"
    assert all("<unknown router>" not in roles for _, _, roles in PROTECTED)
    assert len(PROTECTED) >= 10


def _call(client: Any, method: str, path: str, key: str | None, sample: Any, world: World) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if sample.content:
        headers["Content-Type"] = "application/xml"
        return client.request(method, path, headers=headers, content=sample.content(world))
    body = sample.json(world) if sample.json else None
    return client.request(method, path, headers=headers, json=body, params=sample.params)


def _documents(client: Any, world: World, sessions: Any) -> None:
    """An own document (OWN -> OWN2, with an attachment) and a foreign one (FOREIGN -> PROVINCE)."""
    from app.edxml import EdxmlDocument, build_document

    own = document_json(world.OWN, [world.OWN2], attachments=[("a.pdf", b"%PDF")])
    r = client.post("/api/v1/documents", json=own, headers=world.auth("system"))
    assert r.status_code == 202, r.text
    world.ctx["own"] = r.json()["id"]
    foreign = document_json(world.FOREIGN, [world.PROVINCE], attachments=[("b.pdf", b"%PDF")])
    r = client.post("/api/v1/documents", json=foreign, headers=world.auth("system_foreign"))
    assert r.status_code == 202, r.text
    world.ctx["foreign"] = r.json()["id"]
    items = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN2}, headers=world.auth("system")
    )
    world.ctx["own_item"] = items.json()["items"][0]["id"]
    from sqlalchemy import select

    from app.core.webhooks import new_secret
    from app.delivery.models import Delivery
    from app.directory.models import Organization

    with sessions() as s:
        world.ctx["foreign_item"] = s.scalars(
            select(Delivery.id).where(Delivery.document == world.ctx["foreign"])
        ).one()
    extra = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2]),
        headers=world.auth("system"),
    )
    world.ctx["extra"] = extra.json()["id"]
    status = client.post(
        f"/api/v1/documents/{world.ctx['extra']}/statuses",
        json={"organ_id": world.OWN2, "code": "03"},
        headers=world.auth("system"),
    )
    assert status.status_code == 202, status.text
    world.ctx["extra_status"] = status.json()["id"]
    with sessions() as s:
        dead = s.scalars(
            select(Delivery).where(
                Delivery.document == extra.json()["id"], Delivery.kind == "document"
            )
        ).one()
        dead.state = "dead"
        world.ctx["dead_item"] = dead.id
        s.commit()
    with sessions() as s:
        push = s.get(Organization, world.FOREIGN)
        assert push is not None
        push.delivery_mode, push.delivery_url = "push", "https://qlvb.example.vn/hook"
        push.webhook_secret = new_secret()
        s.commit()
    world.ctx["push_org"] = world.FOREIGN
    world.ctx["fingerprint"] = "cd" * 32
    r = client.post(
        f"/api/v1/organizations/{world.OWN}/certificates",
        json={"sha256": "cd" * 32},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    world.ctx["own_xml"] = build_document(
        EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2]))
    )


@pytest.mark.parametrize(
    ("method", "path", "roles"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED]
)
def test_role_matrix(
    client, world: World, sessions, method: str, path: str, roles: frozenset[str]
) -> None:
    sample = SAMPLES[(method, path)]
    _documents(client, world, sessions)
    url = sample.path(world)
    r = _call(client, method, url, None, sample, world)
    assert r.status_code == 401 and r.json()["code"] == "auth.missing"
    # Forbidden roles first, so that allowed calls which change state come last.
    for role in sorted(ROLES, key=lambda r: r in roles):
        r = _call(client, method, url, world.keys[role], sample, world)
        if role in roles:
            assert r.status_code in sample.ok, (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["code"] == "auth.forbidden"
        if role == "system" and role in roles and sample.foreign is not None:
            f = _call(client, method, sample.foreign(world), world.keys["system"], sample, world)
            assert f.status_code == 404, (f.status_code, f.text)
