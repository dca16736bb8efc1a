"""Status messages keep their validation report with an RFC 3161 token, as documents do
(SPEC 5, 5.2): a status the hub signs (reported as JSON, or the automatic 01) and one its
reporter signed both show `validation` in the status resource, and the token verifies with
`openssl ts -verify` against `GET /pki/ca` over the SignatureValue of the status delivered."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.core.db import unit_of_work
from app.documents.models import ValidationRecord
from app.edxml import StatusMessage as EdxmlStatus
from app.edxml import build_status_tree, serialize
from app.signing.timestamps import imprint_of
from app.signing.xmldsig import parse_document, sign_tree, signature_value_of
from tests.conftest import PkiMaterial, World
from tests.delivery.test_worker import signer_for
from tests.factories import document_json
from tests.signing.test_timestamps import openssl_verify_token

DOCS = "/api/v1/documents"


def _inbox(client: Any, world: World, organ: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/inbox", params={"organ_id": organ}, headers=world.auth("system"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _openssl_verifies(client: Any, token_base64: str, signed: bytes, tmp_path: Path) -> None:
    value = signature_value_of(parse_document(signed))
    assert value is not None
    token, ca = base64.b64decode(token_base64), client.get("/pki/ca").content
    ok = openssl_verify_token(token, imprint_of(value), ca, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert openssl_verify_token(token, imprint_of(value + b"x"), ca, tmp_path).returncode != 0


def test_statuses_the_hub_signs_or_accepts_keep_a_timestamped_report(
    client: Any, world: World, sessions: Any, pki_material: PkiMaterial, tmp_path: Path
) -> None:
    r = client.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system"))
    assert r.status_code == 202, r.text
    doc = r.json()

    # Acknowledged: the hub reports 01 as OWN2 and signs it.
    [item] = _inbox(client, world, world.OWN2)
    ack = client.post(
        f"/api/v1/inbox/{item['id']}/ack", json={"result": "done"}, headers=world.auth("system")
    )
    assert ack.status_code == 200, ack.text
    # Reported as JSON: the hub writes the status edXML and signs it as OWN2.
    made = client.post(
        f"{DOCS}/{doc['id']}/statuses",
        json={"organ_id": world.OWN2, "code": "03", "description": "Đã tiếp nhận"},
        headers=world.auth("system"),
    )
    assert made.status_code == 202, made.text
    signed = made.json()["validation"]
    assert signed["trigger"] == "signing"
    assert signed["report"]["indication"] == "TOTAL_PASSED"
    assert signed["report"]["signed_by"]["organ_id"] == world.OWN2
    stamp = signed["report"]["timestamp"]
    assert stamp["status"] == "granted" and stamp["tsa"].startswith("CN=Lienthong Demo TSA")
    assert signed["report"]["best_signature_time"] == stamp["gen_time"]

    # Signed by its reporter: the hub accepts the signature and timestamps it too.
    root = build_status_tree(
        EdxmlStatus.model_validate(
            {
                "from": {"organ_id": world.OWN2},
                "response_for": {"organ_id": world.OWN, "document_id": doc["document_id"]},
                "status_code": "04",
                "description": "Phân công",
                "timestamp": "2026-11-26T10:00:00",
            }
        )
    )
    sign_tree(root, signer_for(pki_material, world.OWN2))
    own = client.post(
        f"{DOCS}/{doc['id']}/statuses",
        content=serialize(root),
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert own.status_code == 202, own.text
    accepted = own.json()["validation"]
    assert accepted["trigger"] == "receipt"
    assert accepted["report"]["timestamp"]["status"] == "granted"

    listed = client.get(f"{DOCS}/{doc['id']}/statuses", headers=world.auth("system")).json()
    by_code = {s["code"]: s["validation"] for s in listed["items"]}
    assert set(by_code) == {"01", "03", "04"}
    assert by_code["01"]["trigger"] == "signing"
    assert by_code["01"]["report"]["timestamp"]["status"] == "granted"
    assert by_code["03"] == signed and by_code["04"] == accepted

    # The tokens are over the SignatureValue of what OWN receives.
    received = {
        i["status_code"]: client.get(
            f"/api/v1/inbox/{i['id']}/edxml", headers=world.auth("system")
        ).content
        for i in _inbox(client, world, world.OWN)
    }
    for code, validation in by_code.items():
        _openssl_verifies(
            client, validation["report"]["timestamp"]["token_base64"], received[code], tmp_path
        )
    # The document's own report is still its own: status reports do not count as its checks.
    report = client.get(f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor")).json()
    assert report["reports"] == 1 and report["trigger"] == "signing"
    with unit_of_work(sessions) as s:
        kept = s.scalars(
            select(ValidationRecord.status).where(ValidationRecord.document == doc["id"])
        ).all()
    assert len(kept) == 4 and kept.count(None) == 1
