"""Delivery through real HTTP: push webhooks and the mock axis, retries, dead letters,
re-drive, ordering, and inbound items from the axis (SPEC sections 6 and 7)."""

from __future__ import annotations

import base64
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import select, update

from app.connectors.vpcp import AckStatus, AxisConnector, AxisError
from app.core import webhooks
from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.delivery import outbox
from app.delivery.models import Delivery
from app.edxml import EdxmlDocument, build_document_tree, build_status_tree, serialize
from app.edxml import StatusMessage as EdxmlStatus
from app.signing.xmldsig import Signer, sign_tree
from app.worker import Worker
from tests.conftest import PkiMaterial, World
from tests.delivery.conftest import HUB, OTHER, VPCP, Receiver, connector
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"


@pytest.fixture
def worker(app: Any, axis: str, monkeypatch: pytest.MonkeyPatch) -> Worker:
    app.state.hub.settings.max_attempts = 3
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis, HUB))


def drain(worker: Worker, sessions: Any, rounds: int = 10, *, skip_backoff: bool = True) -> None:
    """Run the worker until two rounds in a row find nothing; `skip_backoff` makes retries due."""
    idle = 0
    for _ in range(rounds):
        if skip_backoff:
            with unit_of_work(sessions) as s:
                s.execute(
                    update(Delivery)
                    .where(Delivery.state == "retrying")
                    .values(next_attempt_at=utcnow())
                )
        worker._last_poll = 0.0
        idle = 0 if worker.run_once() else idle + 1
        if idle == 2:
            return


def states(sessions: Any) -> dict[tuple[str, str], str]:
    with sessions() as s:
        return {(d.kind, d.organ_id): d.state for d in s.scalars(select(Delivery))}


def push_org(client: Any, world: World, receiver: Receiver, organ_id: str = "000.00.05.H39") -> str:
    r = client.post(
        "/api/v1/organizations",
        json={
            "organ_id": organ_id,
            "name": "Sở Tư pháp",
            "parent_id": world.PROVINCE,
            "delivery": {"mode": "push", "url": receiver.url},
        },
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    secret = r.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    return str(secret)


def signer_for(pki_material: PkiMaterial, organ: str) -> Signer:
    key, cert = pki_material.leaves[organ]
    return Signer(key, cert, [pki_material.issuing[1]])


def test_push_delivery_is_signed_with_standard_webhooks(
    client, world: World, sessions, worker: Worker, receiver: Receiver
) -> None:
    secret = push_org(client, world, receiver)
    doc = client.post(
        DOCS, json=document_json(world.OWN, ["000.00.05.H39"]), headers=world.auth("system")
    ).json()
    assert [d["state"] for d in doc["deliveries"]] == ["queued"]
    drain(worker, sessions)
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert webhooks.verify(secret, got["headers"], got["body"])
    assert not webhooks.verify(secret, got["headers"], got["body"] + b" ")
    stored = client.get(f"{DOCS}/{doc['id']}/edxml", headers=world.auth("system")).content
    assert got["body"] == stored
    view = client.get(f"{DOCS}/{doc['id']}", headers=world.auth("system")).json()
    assert (
        view["deliveries"][0]["state"] == "delivered"
        and got["headers"]["webhook-id"] == view["deliveries"][0]["id"]
    )


def test_failures_retry_then_die_and_redrive_delivers(
    client, world: World, sessions, worker: Worker, receiver: Receiver
) -> None:
    push_org(client, world, receiver)
    receiver.status = 503
    client.post(
        DOCS, json=document_json(world.OWN, ["000.00.05.H39"]), headers=world.auth("system")
    )
    worker.run_once()
    with sessions() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.state == "retrying" and d.attempts == 1 and "503" in (d.last_error or "")
        assert d.next_attempt_at > utcnow()
    drain(worker, sessions)
    assert len(receiver.received) == 3  # MAX_ATTEMPTS
    dead = client.get(
        "/api/v1/deliveries", params={"state": "dead"}, headers=world.auth("admin")
    ).json()["items"]
    assert len(dead) == 1 and dead[0]["attempts"] == 3
    assert (
        client.get(
            "/api/v1/deliveries", params={"state": "dead"}, headers=world.auth("system")
        ).status_code
        == 403
    )
    receiver.status = 204
    r = client.post(f"/api/v1/deliveries/{dead[0]['id']}/redrive", headers=world.auth("admin"))
    assert r.status_code == 200 and r.json()["state"] == "queued"
    again = client.post(f"/api/v1/deliveries/{dead[0]['id']}/redrive", headers=world.auth("admin"))
    assert again.status_code == 409 and again.json()["code"] == "delivery.state"
    drain(worker, sessions)
    assert len(receiver.received) == 4
    assert states(sessions)[("document", "000.00.05.H39")] == "delivered"
    log = client.get(
        "/api/v1/audit/log", params={"limit": 500}, headers=world.auth("auditor")
    ).json()["items"]
    assert [e["action"] for e in log if e["target_id"] == dead[0]["id"]] == [
        "delivery.dead",
        "delivery.redriven",
        "delivery.delivered",
    ]


def test_backoff_grows_with_jitter() -> None:
    import random

    rng = random.Random(7)
    waits = [outbox.backoff(n, rng) for n in range(1, 8)]
    assert all(2 ** (n - 1) <= w <= 2**n for n, w in zip(range(1, 8), waits, strict=True))
    assert len({round(outbox.backoff(3, rng), 6) for _ in range(20)}) > 10
    assert outbox.backoff(40, rng) <= outbox.BACKOFF_CAP


def test_axis_outbound_and_faults(
    client, world: World, sessions, worker: Worker, axis: str
) -> None:
    httpx.put(f"{axis}/_mock/faults", json={"error_rate": 1.0, "seed": 1})
    doc = client.post(
        DOCS, json=document_json(world.OWN, [world.EXTERNAL]), headers=world.auth("system")
    ).json()
    worker.run_once()
    assert states(sessions)[("document", world.EXTERNAL)] == "retrying"
    httpx.put(f"{axis}/_mock/faults", json={"reset_rate": 1.0, "seed": 2})
    drain(worker, sessions, rounds=1)
    with sessions() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.state == "retrying" and d.attempts == 2
    httpx.delete(f"{axis}/_mock/faults")
    drain(worker, sessions)
    msgs = httpx.get(f"{axis}/_mock/messages").json()
    assert [(m["from"], m["to"], m["messagetype"]) for m in msgs] == [
        (world.OWN, [world.EXTERNAL], "edoc")
    ]
    with sessions() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.state == "delivered" and d.external_id == msgs[0]["docId"]
    vpcp = connector(axis, VPCP)
    items = vpcp.get_received_list("edoc")
    stored = client.get(f"{DOCS}/{doc['id']}/edxml", headers=world.auth("system")).content
    assert vpcp.get_edoc(items[0].doc_id) == stored


def test_lose_after_accept_is_invisible_to_the_sender(
    client, world: World, sessions, worker: Worker, axis: str
) -> None:
    """The axis said OK: the hub counts it delivered. (Only the axis's own lists can show the loss.)"""
    httpx.put(f"{axis}/_mock/faults", json={"lose_after_accept_rate": 1.0, "seed": 3})
    client.post(DOCS, json=document_json(world.OWN, [world.EXTERNAL]), headers=world.auth("system"))
    drain(worker, sessions)
    assert states(sessions)[("document", world.EXTERNAL)] == "delivered"
    assert httpx.get(f"{axis}/_mock/messages").json() == []


def test_unknown_axis_recipient_is_dead_at_once(
    client, world: World, sessions, worker: Worker
) -> None:
    client.post(
        "/api/v1/organizations",
        json={"organ_id": "000.00.00.G99", "name": "Bộ X", "route": "vpcp"},
        headers=world.auth("admin"),
    )
    client.post(
        DOCS, json=document_json(world.OWN, ["000.00.00.G99"]), headers=world.auth("system")
    )
    worker.run_once()
    with sessions() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.state == "dead" and d.attempts == 1 and "axis" in (d.last_error or "")


def _send_from_axis(
    axis: str,
    system: Any,
    root: Any,
    to: list[str],
    message_type: Literal["edoc", "status"] = "edoc",
) -> str:
    return str(
        connector(axis, system).send_edoc(
            serialize(root), from_organ=system.organ_ids[0], to=to, message_type=message_type
        )
    )


def test_inbound_document_lands_once_even_when_update_status_fails(
    client, world: World, sessions, worker: Worker, axis: str, pki_material: PkiMaterial
) -> None:
    root = build_document_tree(
        EdxmlDocument.model_validate(
            document_json(world.OTHER_PROVINCE, [world.OWN, "000.00.00.G22"])
        ).with_document_id()
    )
    sign_tree(root, signer_for(pki_material, world.OTHER_PROVINCE))
    _send_from_axis(axis, OTHER, root, [world.OWN])
    current = worker.axis
    assert current is not None
    real: AxisConnector = current
    calls: list[str] = []

    class FlakyAck:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def update_status(self, doc_id: str, status: AckStatus) -> None:
            calls.append(doc_id)
            if len(calls) == 1:
                raise AxisError("connection reset", retryable=True)
            real.update_status(doc_id, status)

    worker.axis = FlakyAck()
    drain(worker, sessions)
    assert len(calls) == 2  # listed again after the failed ack, recognised, acknowledged
    items = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN}, headers=world.auth("system")
    ).json()["items"]
    assert [(i["from"], i["message_type"]) for i in items] == [(world.OTHER_PROVINCE, "document")]
    doc = client.get(f"{DOCS}/{items[0]['document']}", headers=world.auth("auditor")).json()
    assert doc["to"] == [world.OWN] and doc["signature"]["indication"] == "TOTAL_PASSED"
    assert connector(axis, HUB).get_received_list("edoc") == []
    # A signature accepted from the axis gets its timestamp too (SPEC 5.2).
    report = client.get(
        f"{DOCS}/{items[0]['document']}/validation", headers=world.auth("auditor")
    ).json()["report"]
    assert report["timestamp"]["status"] == "granted"
    assert report["best_signature_time"] == report["timestamp"]["gen_time"]


def test_inbound_forgery_is_quarantined_and_answered_02(
    client, world: World, sessions, worker: Worker, axis: str, pki_material: PkiMaterial
) -> None:
    root = build_document_tree(
        EdxmlDocument.model_validate(
            document_json(world.OTHER_PROVINCE, [world.OWN])
        ).with_document_id()
    )
    # Signed by the right CA, but for another organization than From: a forgery.
    sign_tree(root, signer_for(pki_material, world.EXTERNAL))
    _send_from_axis(axis, OTHER, root, [world.OWN])
    drain(worker, sessions)
    assert (
        client.get(
            "/api/v1/inbox", params={"organ_id": world.OWN}, headers=world.auth("system")
        ).json()["items"]
        == []
    )
    audit = client.get(
        "/api/v1/audit/signatures",
        params={"indication": "TOTAL_FAILED"},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert [(a["from"], a["sub_indication"]) for a in audit] == [
        (world.OTHER_PROVINCE, "SIG_CONSTRAINTS_FAILURE")
    ]
    back = connector(axis, OTHER).get_received_list("status")
    assert len(back) == 1
    from app.edxml import parse_message

    status = parse_message(connector(axis, OTHER).get_edoc(back[0].doc_id), max_bytes=10**6).status
    assert status is not None and status.status_code == "02" and status.from_.organ_id == world.OWN


def test_status_from_the_axis_reaches_the_sender(
    client, world: World, sessions, worker: Worker, axis: str, pki_material: PkiMaterial
) -> None:
    doc = client.post(
        DOCS, json=document_json(world.OWN, [world.EXTERNAL]), headers=world.auth("system")
    ).json()
    drain(worker, sessions)
    msg = EdxmlStatus.model_validate(
        {
            "from": {"organ_id": world.EXTERNAL},
            "response_for": {"organ_id": world.OWN, "document_id": doc["document_id"]},
            "status_code": "03",
            "description": "Đã tiếp nhận",
            "timestamp": "2026-11-26T10:00:00",
        }
    )
    root = build_status_tree(msg)
    sign_tree(root, signer_for(pki_material, world.EXTERNAL))
    _send_from_axis(axis, VPCP, root, [world.OWN], message_type="status")
    drain(worker, sessions)
    items = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN}, headers=world.auth("system")
    ).json()["items"]
    assert [(i["message_type"], i["status_code"], i["from"]) for i in items] == [
        ("status", "03", world.EXTERNAL)
    ]
    view = client.get(f"{DOCS}/{doc['id']}", headers=world.auth("system")).json()
    assert view["deliveries"][0]["status_code"] == "03"


def test_a_status_never_overtakes_its_document(
    client, world: World, sessions, worker: Worker, receiver: Receiver
) -> None:
    push_org(client, world, receiver)
    receiver.status = 500
    doc = client.post(
        DOCS, json=document_json(world.OWN, ["000.00.05.H39"]), headers=world.auth("system")
    ).json()
    worker.run_once()
    r = client.post(
        f"{DOCS}/{doc['id']}/statuses",
        json={"organ_id": world.OWN, "code": "13", "description": "Thu hồi"},
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    with unit_of_work(sessions) as s:
        s.execute(update(Delivery).values(next_attempt_at=utcnow()))
    worker.run_once()  # the document fails again; the status must wait
    assert all(b"StatusCode" not in x["body"] for x in receiver.received)
    receiver.status = 200
    drain(worker, sessions)
    kinds = [b"StatusCode" in x["body"] for x in receiver.received if x["headers"]]
    assert kinds[-2:] == [False, True]  # the document is delivered first, then the 13
    assert states(sessions)[("status", "000.00.05.H39")] == "delivered"


def test_webhook_verify_rejects_stale_and_foreign_signatures() -> None:
    secret = webhooks.new_secret()
    h = webhooks.headers(secret, "msg_1", b"<edXML/>")
    assert webhooks.verify(secret, h, b"<edXML/>")
    assert not webhooks.verify(webhooks.new_secret(), h, b"<edXML/>")
    old = webhooks.headers(secret, "msg_1", b"<edXML/>", timestamp=1_000_000)
    assert not webhooks.verify(secret, old, b"<edXML/>")
    assert base64.b64decode(secret.removeprefix("whsec_"))
