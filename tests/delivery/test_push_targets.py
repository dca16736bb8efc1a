"""Push URLs: no loopback, link-local or private targets unless WEBHOOK_ALLOW_PRIVATE, checked
at registration and again at send time; URLs shown to admins only; generic last_error."""

from __future__ import annotations

import socket
from ipaddress import ip_address
from typing import Any

import pytest
from sqlalchemy import select

from app.core.addresses import is_private
from app.core.config import Settings
from app.core.db import unit_of_work
from app.delivery.models import Delivery
from app.directory import push_targets
from app.directory.push_targets import PushTargetRefused, check_push_url, pinned
from app.directory.schemas import OrganizationCreate
from app.directory.service import create_organization
from app.worker import Worker
from tests.conftest import World
from tests.delivery.conftest import Receiver
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

ORGS = "/api/v1/organizations"
PUSH = "000.00.05.H39"
PRIVATE_URLS = [
    "http://127.0.0.1:5432/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7:8080/hook",
    "http://192.168.1.1/",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost:6379/",
    "http://0.0.0.0:22/",
]


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.0.1", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_private_addresses(address: str, private: bool) -> None:
    assert is_private(ip_address(address)) is private


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_targets_refused_unless_allowed(url: str) -> None:
    with pytest.raises(PushTargetRefused):
        check_push_url(url, allow_private=False)
    check_push_url(url, allow_private=True)


def test_public_and_unresolvable_targets_accepted() -> None:
    check_push_url("https://8.8.8.8/hook", allow_private=False)
    check_push_url("https://qlvb.nonexistent.invalid/hook", allow_private=False)


def test_send_time_check_follows_dns_and_pins_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: public at registration, loopback at send time."""
    answers = [[ip_address("93.184.215.14")]]
    monkeypatch.setattr(push_targets, "resolve", lambda host, port: answers[0])
    check_push_url("https://qlvb.example:8443/hook?x=1", allow_private=False)
    url, headers, extensions = pinned("https://qlvb.example:8443/hook?x=1", allow_private=False)
    assert url == "https://93.184.215.14:8443/hook?x=1"
    assert headers == {"Host": "qlvb.example:8443"}
    assert extensions == {"sni_hostname": "qlvb.example"}
    answers[0] = [ip_address("93.184.215.14"), ip_address("127.0.0.1")]
    with pytest.raises(PushTargetRefused):
        pinned("https://qlvb.example:8443/hook?x=1", allow_private=False)


class TestRefusedByDefault:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        settings.webhook_allow_private = False
        return settings

    def test_api_refuses_private_push_urls_and_stores_nothing(self, client, world: World) -> None:
        admin = world.auth("admin")
        for url in PRIVATE_URLS:
            r = client.post(
                ORGS,
                json={"organ_id": PUSH, "name": "x", "delivery": {"mode": "push", "url": url}},
                headers=admin,
            )
            assert r.status_code == 422, (url, r.text)
            assert r.json()["code"] == "organization.push_url_refused"
            assert client.get(f"{ORGS}/{PUSH}", headers=admin).status_code == 404
        r = client.post(ORGS, json={"organ_id": PUSH, "name": "Sở Tư pháp"}, headers=admin)
        assert r.status_code == 201
        put = {"name": "Sở Tư pháp", "delivery": {"mode": "push", "url": PRIVATE_URLS[1]}}
        r = client.put(f"{ORGS}/{PUSH}", json=put, headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "organization.push_url_refused"
        assert client.get(f"{ORGS}/{PUSH}", headers=admin).json()["delivery"] == {"mode": "pull"}

    def test_worker_rechecks_at_send_time(
        self, client, world: World, sessions, app: Any, receiver: Receiver
    ) -> None:
        """A loopback URL stored earlier (allowed then, or DNS changed since) is not contacted."""
        with unit_of_work(sessions) as s:
            create_organization(
                s,
                OrganizationCreate.model_validate(
                    {
                        "organ_id": PUSH,
                        "name": "x",
                        "delivery": {"mode": "push", "url": receiver.url},
                    }
                ),
                actor="test",
                allow_private_push=True,
            )
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [PUSH]),
            headers=world.auth("system"),
        )
        assert r.status_code == 202
        Worker(app.state.hub, app.state.sessionmaker, axis=None).run_once()
        assert receiver.received == []
        with sessions() as s:
            d = s.scalars(select(Delivery).where(Delivery.organ_id == PUSH)).one()
        assert d.state == "dead"
        assert "private address" in (d.last_error or "")
        assert "127.0.0.1" not in (d.last_error or "")


def test_last_error_does_not_describe_internal_services(
    client, world: World, sessions, app: Any
) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    r = client.post(
        ORGS,
        json={
            "organ_id": PUSH,
            "name": "x",
            "delivery": {"mode": "push", "url": f"http://127.0.0.1:{port}/hook"},
        },
        headers=world.auth("admin"),
    )
    assert r.status_code == 201  # WEBHOOK_ALLOW_PRIVATE is set for this directory's tests
    client.post(
        "/api/v1/documents", json=document_json(world.OWN, [PUSH]), headers=world.auth("system")
    )
    Worker(app.state.hub, app.state.sessionmaker, axis=None).run_once()
    with sessions() as s:
        d = s.scalars(select(Delivery).where(Delivery.organ_id == PUSH)).one()
    assert d.state == "retrying"
    assert d.last_error == "webhook not reachable: connection refused or failed"


def test_push_url_shown_to_admins_only(client, world: World, receiver: Receiver) -> None:
    r = client.post(
        ORGS,
        json={"organ_id": PUSH, "name": "x", "delivery": {"mode": "push", "url": receiver.url}},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201
    assert client.get(f"{ORGS}/{PUSH}", headers=world.auth("admin")).json()["delivery"] == {
        "mode": "push",
        "url": receiver.url,
    }
    for role in ("system", "auditor", "reporter"):
        one = client.get(f"{ORGS}/{PUSH}", headers=world.auth(role)).json()
        assert one["delivery"] == {"mode": "push"}, role
        listed = client.get(ORGS, headers=world.auth(role)).json()["items"]
        assert all("url" not in o["delivery"] for o in listed), role
    listed = client.get(ORGS, headers=world.auth("admin")).json()["items"]
    assert any(o["delivery"].get("url") == receiver.url for o in listed)
