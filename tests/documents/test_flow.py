"""The document flow through the HTTP API, on both databases (SPEC sections 3 and 4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World
from tests.factories import document_id_of, document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"


def submit(
    client: Any, world: World, body: dict[str, Any], role: str = "system", **headers: str
) -> Any:
    return client.post(DOCS, json=body, headers=world.auth(role) | headers)


def inbox(
    client: Any, world: World, organ_id: str, role: str = "system", state: str = "pending"
) -> list[dict[str, Any]]:
    r = client.get(
        "/api/v1/inbox", params={"organ_id": organ_id, "state": state}, headers=world.auth(role)
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_json_submission_is_signed_stored_and_in_the_inbox(client, world: World) -> None:
    body = document_json(
        world.OWN, [world.OWN2, world.FOREIGN], attachments=[("Công văn.pdf", b"%PDF-1.7 hello")]
    )
    r = submit(client, world, body)
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["document_id"] == document_id_of(body)
    assert doc["from"] == world.OWN and doc["to"] == [world.OWN2, world.FOREIGN]
    assert doc["signature"]["indication"] == "TOTAL_PASSED"
    assert doc["signature"]["signed_by"]["organ_id"] == world.OWN
    assert sorted((d["organ_id"], d["state"]) for d in doc["deliveries"]) == [
        (world.OWN2, "available"),
        (world.FOREIGN, "available"),
    ]
    edxml = client.get(f"{DOCS}/{doc['id']}/edxml", headers=world.auth("system"))
    assert edxml.status_code == 200 and b"SignatureValue" in edxml.content
    assert "triển khai liên thông".encode() in edxml.content
    att = client.get(f"{DOCS}/{doc['id']}/attachments/cid:1", headers=world.auth("system"))
    assert att.status_code == 200 and att.content == b"%PDF-1.7 hello"

    mine = inbox(client, world, world.OWN2)
    assert [(i["document"], i["message_type"], i["from"]) for i in mine] == [
        (doc["id"], "document", world.OWN)
    ]
    theirs = inbox(client, world, world.FOREIGN, role="system_foreign")
    assert len(theirs) == 1
    got = client.get(f"/api/v1/inbox/{theirs[0]['id']}/edxml", headers=world.auth("system_foreign"))
    assert got.content == edxml.content


def test_xml_submission_and_validate_endpoint(client, world: World) -> None:
    from app.edxml import EdxmlDocument, build_document

    body = document_json(world.OWN, [world.OWN2])
    xml = build_document(EdxmlDocument.model_validate(body))
    v = client.post(
        "/api/v1/edxml/validate",
        content=xml,
        headers=world.auth("reporter") | {"Content-Type": "application/xml"},
    )
    assert v.status_code == 200 and v.json()["valid"] is True
    assert v.json()["signature"]["indication"] == "NO_SIGNATURE_FOUND"
    r = client.post(
        DOCS, content=xml, headers=world.auth("system") | {"Content-Type": "application/xml"}
    )
    assert r.status_code == 202, r.text
    signed = client.get(f"{DOCS}/{r.json()['id']}/edxml", headers=world.auth("system")).content
    v = client.post(
        "/api/v1/edxml/validate",
        content=signed,
        headers=world.auth("reporter") | {"Content-Type": "application/xml"},
    )
    assert v.json()["signature"]["indication"] == "TOTAL_PASSED"


def test_idempotent_retry_and_duplicates(client, world: World) -> None:
    body = document_json(world.OWN, [world.OWN2])
    first = submit(client, world, body, **{"Idempotency-Key": "k-1"})
    again = submit(client, world, body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers.get("idempotency-replayed") == "true"
    other = submit(
        client, world, document_json(world.OWN, [world.OWN2]), **{"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency.conflict"
    dup = submit(client, world, body)
    assert dup.status_code == 409 and dup.json()["code"] == "document.duplicate"
    assert len(inbox(client, world, world.OWN2)) == 1


def test_ack_twice_sends_status_01_once(client, world: World) -> None:
    doc = submit(client, world, document_json(world.OWN, [world.FOREIGN])).json()
    item = inbox(client, world, world.FOREIGN, role="system_foreign")[0]
    for _ in range(2):
        r = client.post(
            f"/api/v1/inbox/{item['id']}/ack",
            json={"result": "done"},
            headers=world.auth("system_foreign"),
        )
        assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert inbox(client, world, world.FOREIGN, role="system_foreign") == []
    back = inbox(client, world, world.OWN)
    assert [(i["message_type"], i["status_code"], i["from"]) for i in back] == [
        ("status", "01", world.FOREIGN)
    ]
    statuses = client.get(f"{DOCS}/{doc['id']}/statuses", headers=world.auth("system")).json()[
        "items"
    ]
    assert [s["code"] for s in statuses] == ["01"]


def test_three_recipients_report_03_to_06_and_the_sender_sees_every_status(
    client, world: World, sessions
) -> None:
    from app.clients.schemas import ClientCreate
    from app.clients.service import create_client
    from app.core.db import unit_of_work

    with unit_of_work(sessions) as s:
        _, province_key = create_client(
            s, ClientCreate(name="ubnd", role="system", organ_ids=[world.PROVINCE]), actor="t"
        )
    province = {"Authorization": f"Bearer {province_key}"}
    recipients = [
        (world.OWN, world.auth("system")),
        (world.OWN2, world.auth("system")),
        (world.FOREIGN, world.auth("system_foreign")),
    ]
    doc = client.post(
        DOCS, json=document_json(world.PROVINCE, [r for r, _ in recipients]), headers=province
    ).json()
    for organ, auth in recipients:
        items = client.get("/api/v1/inbox", params={"organ_id": organ}, headers=auth).json()[
            "items"
        ]
        assert [i["document"] for i in items] == [doc["id"]]
        assert (
            client.post(
                f"/api/v1/inbox/{items[0]['id']}/ack", json={"result": "done"}, headers=auth
            ).status_code
            == 200
        )
        for code in ("03", "04", "05", "06"):
            r = client.post(
                f"{DOCS}/{doc['id']}/statuses",
                json={
                    "organ_id": organ,
                    "code": code,
                    "description": f"bước {code}",
                    "staff": {"staff": "Trần Thị B"},
                },
                headers=auth,
            )
            assert r.status_code == 202, r.text
    statuses = client.get(f"{DOCS}/{doc['id']}/statuses", headers=province).json()["items"]
    assert sorted((s["from"], s["code"]) for s in statuses) == sorted(
        (organ, code) for organ, _ in recipients for code in ("01", "03", "04", "05", "06")
    )
    sender_inbox = client.get(
        "/api/v1/inbox", params={"organ_id": world.PROVINCE, "limit": 500}, headers=province
    ).json()["items"]
    assert len(sender_inbox) == 15 and {i["message_type"] for i in sender_inbox} == {"status"}
    view = client.get(f"{DOCS}/{doc['id']}", headers=province).json()
    assert {d["organ_id"]: d["status_code"] for d in view["deliveries"]} == {
        r: "06" for r, _ in recipients
    }


def test_statuses_out_of_order_are_refused(client, world: World) -> None:
    doc = submit(client, world, document_json(world.OWN, [world.FOREIGN])).json()
    auth = world.auth("system_foreign")
    url = f"{DOCS}/{doc['id']}/statuses"
    assert (
        client.post(url, json={"organ_id": world.FOREIGN, "code": "04"}, headers=auth).status_code
        == 202
    )
    for code in ("03", "01", "04", "15"):
        r = client.post(url, json={"organ_id": world.FOREIGN, "code": code}, headers=auth)
        assert r.status_code == 409 and r.json()["code"] == "status.transition", (code, r.text)
    assert (
        client.post(url, json={"organ_id": world.FOREIGN, "code": "06"}, headers=auth).status_code
        == 202
    )
    r = client.post(url, json={"organ_id": world.FOREIGN, "code": "02"}, headers=auth)
    assert r.status_code == 409
    codes = [s["code"] for s in client.get(url, headers=world.auth("system")).json()["items"]]
    assert codes == ["04", "06"]


def test_foreign_client_sees_nothing(client, world: World) -> None:
    doc = submit(client, world, document_json(world.OWN, [world.OWN2])).json()
    other = world.auth("system_foreign")
    for path in ("", "/edxml", "/trace", "/statuses", "/validation", "/attachments/cid:1"):
        r = client.get(f"{DOCS}/{doc['id']}{path}", headers=other)
        assert r.status_code == 404, (path, r.text)
    assert client.get(DOCS, headers=other).json()["items"] == []
    item = inbox(client, world, world.OWN2)[0]
    assert client.get(f"/api/v1/inbox/{item['id']}/edxml", headers=other).status_code == 404
    assert (
        client.post(
            f"/api/v1/inbox/{item['id']}/ack", json={"result": "done"}, headers=other
        ).status_code
        == 404
    )
    assert inbox(client, world, world.OWN2, role="system_foreign") == []
    r = client.post(
        f"{DOCS}/{doc['id']}/statuses",
        json={"organ_id": world.FOREIGN, "code": "01"},
        headers=other,
    )
    assert r.status_code == 404
    r = submit(client, world, document_json(world.OWN, [world.OWN2]), role="system_foreign")
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"


def test_unknown_recipient_and_trace(client, world: World) -> None:
    r = submit(client, world, document_json(world.OWN, ["000.00.77.H39"]))
    assert r.status_code == 422 and r.json()["code"] == "organization.unknown"
    doc = submit(client, world, document_json(world.OWN, [world.OWN2])).json()
    events = [
        e["event"]
        for e in client.get(f"{DOCS}/{doc['id']}/trace", headers=world.auth("system")).json()[
            "items"
        ]
    ]
    assert events[:3] == ["accepted", "signed", "document.available"]


def test_listing_sent_and_received_with_cursor(client, world: World) -> None:
    sent = [
        submit(client, world, document_json(world.OWN, [world.FOREIGN])).json()["id"]
        for _ in range(3)
    ]
    received = client.post(
        DOCS, json=document_json(world.FOREIGN, [world.OWN2]), headers=world.auth("system_foreign")
    ).json()["id"]
    mine = client.get(
        DOCS,
        params={"direction": "sent", "organ_id": world.OWN, "limit": 2},
        headers=world.auth("system"),
    ).json()
    assert [d["id"] for d in mine["items"]] == sent[:2] and mine["next_cursor"]
    rest = client.get(
        DOCS,
        params={"direction": "sent", "organ_id": world.OWN, "cursor": mine["next_cursor"]},
        headers=world.auth("system"),
    ).json()
    assert [d["id"] for d in rest["items"]] == sent[2:] and rest["next_cursor"] is None
    inbound = client.get(
        DOCS, params={"direction": "received"}, headers=world.auth("system")
    ).json()["items"]
    assert [d["id"] for d in inbound] == [received]
    theirs = client.get(
        DOCS, params={"direction": "received"}, headers=world.auth("system_foreign")
    ).json()["items"]
    assert {d["id"] for d in theirs} == set(sent)
    assert (
        client.get(DOCS, params={"organ_id": world.FOREIGN}, headers=world.auth("system")).json()[
            "items"
        ]
        == []
    )
    everything = client.get(DOCS, headers=world.auth("auditor")).json()["items"]
    assert len(everything) == 4
    assert client.get(DOCS, headers=world.auth("reporter")).status_code == 403
