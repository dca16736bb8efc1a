"""Status messages keep their validation report with an RFC 3161 token, as documents do
(SPEC 5, 5.2): a status the hub signs (reported as JSON, or the automatic 01) and one its
reporter signed both show `validation` in the status resource, and the token verifies with
`openssl ts -verify` against `GET /pki/ca` over the SignatureValue of the status delivered.
Re-validated "a year later", the token's gen_time is the proof of existence."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.documents.models import StatusMessage, ValidationRecord
from app.documents.validation import revalidate_status
from app.edxml import StatusMessage as EdxmlStatus
from app.edxml import build_status_tree, serialize
from app.signing.timestamps import imprint_of
from app.signing.xmldsig import parse_document, sign_tree, signature_value_of
from tests.conftest import PkiMaterial, World
from tests.delivery.test_worker import signer_for
from tests.documents.test_timestamps import YEAR, _gen_time, _short_lived_key
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


def _revalidate_status(app: Any, sessions: Any, status_id: str, now: dt.datetime) -> dict[str, Any]:
    with unit_of_work(sessions) as s:
        status = s.get(StatusMessage, status_id)
        assert status is not None
        return dict(revalidate_status(s, app.state.hub, status, actor="test", now=now).report)


def test_a_status_revalidated_a_year_later_uses_its_token_as_proof_of_existence(
    client: Any, world: World, app: Any, sessions: Any
) -> None:
    cert = _short_lived_key(app, sessions, world)  # OWN's certificate expires in two days
    doc = client.post(
        DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system")
    ).json()
    r = client.post(
        f"{DOCS}/{doc['id']}/statuses",
        json={"organ_id": world.OWN, "code": "13", "description": "Thu hồi"},
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    status, first = r.json()["id"], r.json()["validation"]["report"]
    year_later = utcnow() + YEAR
    assert cert.not_valid_after_utc < year_later

    again = _revalidate_status(app, sessions, status, year_later)
    assert again["indication"] == "TOTAL_PASSED", again["errors"]
    assert again["best_signature_time"] == first["timestamp"]["gen_time"]
    assert again["timestamp"] == first["timestamp"]

    # That key revoked, back-dated before the token: the same status no longer passes.
    with unit_of_work(sessions) as s:
        app.state.hub.custody.revoke(
            s, world.OWN, actor="test", revoked_at=_gen_time(first) - dt.timedelta(minutes=1)
        )
    failed = _revalidate_status(app, sessions, status, year_later)
    assert (failed["indication"], failed["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")

    # Over the API (auditors): the new report is kept and shown in the status resource.
    made = client.post(
        f"{DOCS}/{doc['id']}/statuses/{status}/validation", headers=world.auth("auditor")
    )
    assert made.status_code == 200, made.text
    assert made.json()["trigger"] == "revalidation"
    assert made.json()["report"]["sub_indication"] == "REVOKED"
    [listed] = [
        s
        for s in client.get(f"{DOCS}/{doc['id']}/statuses", headers=world.auth("system")).json()[
            "items"
        ]
        if s["id"] == status
    ]
    assert listed["validation"]["id"] == made.json()["id"]
    missing = client.post(
        f"{DOCS}/{doc['id']}/statuses/{doc['id']}/validation", headers=world.auth("auditor")
    )
    assert missing.status_code == 404 and missing.json()["code"] == "status.not_found"
    # The document's own report is untouched by its statuses' re-validations.
    report = client.get(f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor")).json()
    assert report["reports"] == 1
