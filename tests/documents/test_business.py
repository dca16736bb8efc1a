"""Revoke (1), update (2) and replace (3), and the recipients' answers 15/16 (SPEC section 3)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"


def _post(client: Any, world: World, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(DOCS, json=body, headers=world.auth("system"))
    assert r.status_code == 202, r.text
    return dict(r.json())


def _inbox(client: Any, world: World, organ: str, role: str) -> list[dict[str, Any]]:
    return list(
        client.get(
            "/api/v1/inbox", params={"organ_id": organ, "state": "all"}, headers=world.auth(role)
        ).json()["items"]
    )


def test_revoke_reaches_every_recipient_and_marks_their_copy(client, world: World) -> None:
    target = _post(client, world, document_json(world.OWN, [world.OWN2, world.FOREIGN]))
    revoke = document_json(
        world.OWN,
        [world.OWN2],  # FOREIGN is added by the hub: it received the target
        business={"business_doc_type": 1, "business_doc_reason": "Ban hành nhầm"},
        response_for=[{"organ_id": world.OWN, "document_id": target["document_id"]}],
    )
    r = _post(client, world, revoke)
    assert r["business_type"] == 1 and r["response_for"] == [target["document_id"]]
    assert sorted(d["organ_id"] for d in r["deliveries"]) == sorted([world.OWN2, world.FOREIGN])
    theirs = _inbox(client, world, world.FOREIGN, "system_foreign")
    assert {(i["business_type"], i["revoked"]) for i in theirs} == {(0, True), (1, False)}
    view = client.get(f"{DOCS}/{target['id']}", headers=world.auth("system")).json()
    assert all(d["revoked"] for d in view["deliveries"])
    # The recipients answer: 15 accepted, 16 refused; a second answer has nothing pending.
    url = f"{DOCS}/{r['id']}/statuses"
    assert (
        client.post(
            url,
            json={"organ_id": world.FOREIGN, "code": "15"},
            headers=world.auth("system_foreign"),
        ).status_code
        == 202
    )
    assert (
        client.post(
            url,
            json={"organ_id": world.OWN2, "code": "16", "description": "Đã xử lý xong"},
            headers=world.auth("system"),
        ).status_code
        == 202
    )
    again = client.post(
        url, json={"organ_id": world.FOREIGN, "code": "16"}, headers=world.auth("system_foreign")
    )
    assert again.status_code == 409 and again.json()["code"] == "status.transition"
    codes = sorted(s["code"] for s in client.get(url, headers=world.auth("system")).json()["items"])
    assert codes == ["15", "16"]


def test_revoke_of_an_unknown_document_is_refused(client, world: World) -> None:
    body = document_json(
        world.OWN,
        [world.OWN2],
        business={"business_doc_type": 1},
        response_for=[{"document_id": "000.00.02.H39,2026/01/01,1/X"}],
    )
    r = client.post(DOCS, json=body, headers=world.auth("system"))
    assert r.status_code == 422 and r.json()["code"] == "document.unknown_target"


def test_update_adds_and_removes_receivers(client, world: World) -> None:
    target = _post(client, world, document_json(world.OWN, [world.OWN2]))
    update = document_json(
        world.OWN,
        [world.OWN2],
        business={
            "business_doc_type": 2,
            "document_id": target["document_id"],
            "document_info": {
                "document_info": "Bổ sung nơi nhận",
                "receivers": [
                    {"organ_id": world.FOREIGN, "receiver_type": 0},
                    {"organ_id": world.OWN2, "receiver_type": 1},
                ],
            },
        },
    )
    u = _post(client, world, update)
    # The new receiver gets the original document; the removed one's copy is revoked.
    theirs = _inbox(client, world, world.FOREIGN, "system_foreign")
    assert [(i["document"], i["business_type"]) for i in theirs] == [(target["id"], 0)]
    view = client.get(f"{DOCS}/{target['id']}", headers=world.auth("system")).json()
    assert {d["organ_id"]: d["revoked"] for d in view["deliveries"]} == {
        world.OWN2: True,
        world.FOREIGN: False,
    }
    assert [d["organ_id"] for d in u["deliveries"]] == [world.OWN2]
    r = client.post(
        f"{DOCS}/{u['id']}/statuses",
        json={"organ_id": world.OWN2, "code": "15"},
        headers=world.auth("system"),
    )
    assert r.status_code == 202


def test_replace_links_to_the_replaced_documents(client, world: World) -> None:
    old = _post(client, world, document_json(world.OWN, [world.OWN2]))
    new = _post(
        client,
        world,
        document_json(
            world.OWN,
            [world.OWN2],
            business={
                "business_doc_type": 3,
                "replacement_infos": [
                    {"document_id": old["document_id"], "organ_ids": [world.OWN2]}
                ],
            },
        ),
    )
    assert new["business_type"] == 3 and new["response_for"] == [old["document_id"]]
    trace = client.get(f"{DOCS}/{new['id']}/edxml", headers=world.auth("system")).content
    assert b"ReplacementInfo" in trace and old["document_id"].encode() in trace
    bad = client.post(
        DOCS,
        json=document_json(
            world.OWN,
            [world.OWN2],
            business={
                "business_doc_type": 3,
                "replacement_infos": [{"document_id": "nope", "organ_ids": []}],
            },
        ),
        headers=world.auth("system"),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "document.unknown_target"


def test_sender_asks_back_with_13_and_recipients_answer(client, world: World) -> None:
    doc = _post(client, world, document_json(world.OWN, [world.FOREIGN]))
    url = f"{DOCS}/{doc['id']}/statuses"
    r = client.post(
        url,
        json={"organ_id": world.OWN, "code": "13", "description": "Đề nghị trả lại"},
        headers=world.auth("system"),
    )
    assert r.status_code == 202 and r.json()["to"] == [world.FOREIGN]
    items = _inbox(client, world, world.FOREIGN, "system_foreign")
    assert sorted((i["message_type"], i["status_code"]) for i in items) == [
        ("document", None),
        ("status", "13"),
    ]
    assert (
        client.post(
            url,
            json={"organ_id": world.FOREIGN, "code": "15"},
            headers=world.auth("system_foreign"),
        ).status_code
        == 202
    )
    forged = client.post(
        url, json={"organ_id": world.FOREIGN, "code": "13"}, headers=world.auth("system_foreign")
    )
    assert forged.status_code == 409
