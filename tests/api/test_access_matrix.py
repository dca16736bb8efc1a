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

PUBLIC = {"/healthz", "/readyz", "/metrics", "/pki/ca", "/pki/crl"}
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
    app = create_app(Settings(_env_file=None, database_url="sqlite://", worker_enabled=False))  # type: ignore[call-arg]
    gates: dict[tuple[str, str], frozenset[str] | None] = {}
    for router in (*API_ROUTERS, *OTHER_ROUTERS):
        prefix = API_PREFIX if router in API_ROUTERS else ""
        for route in router.routes:
            if isinstance(route, APIRoute):
                gate = _authorize_of(route)
                for method in route.methods - {"HEAD"}:
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
    body = sample.json(world) if sample.json else None
    return client.request(method, path, headers=headers, json=body, params=sample.params)


@pytest.mark.parametrize(
    ("method", "path", "roles"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED]
)
def test_role_matrix(client, world: World, method: str, path: str, roles: frozenset[str]) -> None:  # type: ignore[no-untyped-def]
    sample = SAMPLES[(method, path)]
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
