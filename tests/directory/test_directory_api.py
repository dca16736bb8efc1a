"""Directory CRUD and validation through the HTTP API, on both databases."""

from __future__ import annotations

import pytest

from app.directory.organ_id import organ_id_problem, organ_level
from tests.conftest import World

pytestmark = pytest.mark.rolled_back

ORGS = "/api/v1/organizations"


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("000.00.00.G22", 1),
        ("000.00.01.H39", 2),
        ("000.01.31.H39", 3),
        ("001.01.31.H39", 4),
        ("28.22.H17", 3),
    ],
)
def test_organ_level_read_right_to_left(code: str, level: int) -> None:
    assert organ_id_problem(code) is None
    assert organ_level(code) == level


@pytest.mark.parametrize(
    "code",
    [
        "",
        "000.00.00.g22",
        "000..00.G22",
        "000.00.00.G2",
        ".000.G22",
        "000.00.00.G22.",
        "A" * 33 + ".G22",
        "000 00 G22",
        "000.00.00.22G",
    ],
)
def test_bad_organ_ids_are_named(code: str) -> None:
    assert organ_id_problem(code)


def test_create_read_update_deactivate(client, world: World) -> None:
    admin = world.auth("admin")
    body = {
        "organ_id": "000.01.02.H39",
        "name": "Phòng Tổ chức - Sở Nội vụ",
        "parent_id": world.OWN,
        "email": "ptc@snv.longan.gov.vn",
        "route": "local",
        "delivery": {"mode": "push", "url": "https://qlvb.snv.example/hook"},
    }
    r = client.post(ORGS, json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["level"] == 3
    assert created["delivery"] == {"mode": "push", "url": "https://qlvb.snv.example/hook"}
    assert created["webhook_secret"].startswith("whsec_")  # shown to the admin who set it up

    r = client.get(f"{ORGS}/000.01.02.H39", headers=world.auth("reporter"))
    assert r.status_code == 200 and r.json()["name"] == "Phòng Tổ chức - Sở Nội vụ"
    assert r.json()["webhook_secret"] is None  # and never again

    update = {k: v for k, v in body.items() if k != "organ_id"} | {
        "name": "Phòng Tổ chức cán bộ",
        "delivery": {"mode": "pull"},
    }
    r = client.put(f"{ORGS}/000.01.02.H39", json=update, headers=admin)
    assert r.status_code == 200 and r.json()["name"] == "Phòng Tổ chức cán bộ"
    assert r.json()["delivery"] == {"mode": "pull"}

    r = client.delete(f"{ORGS}/000.01.02.H39", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    r = client.get(ORGS, params={"active": "false"}, headers=admin)
    assert [o["organ_id"] for o in r.json()["items"]] == ["000.01.02.H39"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"organ_id": "bad id", "name": "x"}, 422, "organization.invalid"),
        (
            {"organ_id": "000.00.09.H39", "name": "x", "parent_id": "000.00.99.H39"},
            422,
            "organization.unknown",
        ),
        (
            {"organ_id": "000.00.09.H39", "name": "x", "parent_id": "000.00.09.H39"},
            422,
            "organization.invalid",
        ),
        ({"organ_id": "000.00.02.H39", "name": "dup"}, 409, "organization.exists"),
        (
            {"organ_id": "000.00.09.H39", "name": "x", "delivery": {"mode": "push"}},
            422,
            "request.invalid",
        ),
        (
            {
                "organ_id": "000.00.09.H39",
                "name": "x",
                "route": "vpcp",
                "delivery": {"mode": "push", "url": "https://a.example/h"},
            },
            422,
            "organization.invalid",
        ),
        ({"organ_id": "000.00.09.H39", "name": ""}, 422, "request.invalid"),
        ({"organ_id": "000.00.09.H39", "name": "x", "route": "smtp"}, 422, "request.invalid"),
    ],
)
def test_invalid_organizations_are_refused_and_nothing_changes(
    client, world: World, body, status, code
) -> None:
    admin = world.auth("admin")
    before = client.get(ORGS, params={"limit": 500}, headers=admin).json()["items"]
    log_before = client.get("/api/v1/audit/log/verify", headers=admin).json()["entries"]
    r = client.post(ORGS, json=body, headers=admin)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert (
        problem["code"] == code
        and problem["status"] == status
        and problem["title"]
        and problem["detail"]
    )
    assert client.get(ORGS, params={"limit": 500}, headers=admin).json()["items"] == before
    assert client.get("/api/v1/audit/log/verify", headers=admin).json()["entries"] == log_before


def test_parent_cycle_is_refused(client, world: World) -> None:
    admin = world.auth("admin")
    r = client.put(
        f"{ORGS}/{world.PROVINCE}",
        json={"name": "UBND tỉnh", "parent_id": world.OWN},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["code"] == "organization.invalid"
    assert client.get(f"{ORGS}/{world.PROVINCE}", headers=admin).json()["parent_id"] is None


def test_unknown_organization_is_404(client, world: World) -> None:
    r = client.get(f"{ORGS}/000.00.77.H39", headers=world.auth("system"))
    assert r.status_code == 404 and r.json()["code"] == "organization.not_found"


def test_cursor_pagination_walks_every_organization_once(client, world: World) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(ORGS, params=params, headers=world.auth("auditor")).json()
        assert len(page["items"]) <= 2
        seen += [o["organ_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 6
    assert client.get(ORGS, params={"limit": 501}, headers=world.auth("auditor")).status_code == 422
    bad = client.get(ORGS, params={"cursor": "%%%"}, headers=world.auth("auditor"))
    assert bad.status_code == 422 and bad.json()["code"] in {"cursor.invalid", "request.invalid"}


def test_changes_are_audited(client, world: World) -> None:
    admin = world.auth("admin")
    client.put(
        f"{ORGS}/{world.OWN}",
        json={"name": "Sở Nội vụ (mới)", "parent_id": world.PROVINCE},
        headers=admin,
    )
    client.delete(f"{ORGS}/{world.OWN2}", headers=admin)
    items = client.get(
        "/api/v1/audit/log", params={"limit": 500}, headers=world.auth("auditor")
    ).json()["items"]
    actions = [(e["action"], e["target_id"]) for e in items]
    assert ("organization.updated", world.OWN) in actions
    assert ("organization.deactivated", world.OWN2) in actions
    updated = next(e for e in items if e["action"] == "organization.updated")
    assert updated["details"]["name"] == {"from": "Sở Nội vụ", "to": "Sở Nội vụ (mới)"}
    assert updated["actor"] == f"client:{world.client_ids['admin']}"
