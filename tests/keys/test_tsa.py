"""The hub's demo TSA (SPEC 5.2): its certificate, `POST /pki/tsa`, and the token every
accepted signature gets, checked with `openssl ts -verify` against `GET /pki/ca`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from asn1crypto import core, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core.db import unit_of_work
from app.keys.caches import ISSUING, TSA, ca_material
from app.keys.models import CaMaterial
from app.signing.timestamps import build_request, imprint_of
from app.signing.xmldsig import parse_document, signature_value_of
from tests.conftest import World
from tests.factories import document_json
from tests.keys.test_signatures_api import xmlsec1_verify
from tests.signing.test_timestamps import openssl, openssl_verify_token

DOCS = "/api/v1/documents"
QUERY = {"Content-Type": "application/timestamp-query"}


def _status(response: bytes) -> tuple[str, set[str]]:
    status = tsp.PKIStatusInfo.load(core.Sequence.load(response)[0].dump())
    return status["status"].native, set(status["fail_info"].native or ())


def test_pki_init_makes_an_encrypted_tsa_key_with_a_critical_timestamping_usage(
    world: World, sessions: Any, app: Any
) -> None:
    with unit_of_work(sessions) as s:
        row = s.get(CaMaterial, TSA)
        assert row is not None and row.private_key_enc is not None
        assert row.private_key_enc.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        cert = x509.load_pem_x509_certificate(row.certificate_pem.encode())
        issuing = x509.load_pem_x509_certificate(ca_material(s, ISSUING).certificate_pem.encode())
        assert cert.issuer == issuing.subject
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert ext.critical and list(ext.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "tsa.issued")).first()
        # Made once: running the demo-keys path again keeps it.
        summary = app.state.hub.custody.ensure_demo_keys(s, actor="test")
        assert not summary.created_ca
        assert ca_material(s, TSA).certificate_pem == row.certificate_pem


def test_post_pki_tsa_answers_an_openssl_query_that_openssl_verifies(
    client: Any, world: World, tmp_path: Path
) -> None:
    (tmp_path / "data.bin").write_bytes(b"a SignatureValue, decoded")
    query = openssl("ts", "-query", "-data", str(tmp_path / "data.bin"), "-sha256", "-cert")
    assert query.returncode == 0, query.stderr
    r = client.post("/pki/tsa", content=query.stdout, headers=QUERY)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/timestamp-reply"
    assert _status(r.content) == ("granted", set())
    (tmp_path / "resp.tsr").write_bytes(r.content)
    (tmp_path / "ca.pem").write_bytes(client.get("/pki/ca").content)
    ok = openssl(
        "ts", "-verify", "-in", str(tmp_path / "resp.tsr"), "-data", str(tmp_path / "data.bin"),
        "-CAfile", str(tmp_path / "ca.pem"),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "other.bin").write_bytes(b"something else")
    bad = openssl(
        "ts", "-verify", "-in", str(tmp_path / "resp.tsr"), "-data", str(tmp_path / "other.bin"),
        "-CAfile", str(tmp_path / "ca.pem"),
    )  # fmt: skip
    assert bad.returncode != 0


def test_post_pki_tsa_rejects_a_bad_query_in_rfc_3161_terms(client: Any, world: World) -> None:
    for body in (b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30" * 100_000):
        r = client.post("/pki/tsa", content=body, headers=QUERY)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/timestamp-reply"
        status, failures = _status(r.content)
        assert status == "rejection" and failures == {"bad_data_format"}
    request, _ = build_request(hashlib.sha256(b"x").digest())
    assert _status(client.post("/pki/tsa", content=request, headers=QUERY).content)[0] == "granted"


def test_every_accepted_signature_has_a_token_openssl_verifies(
    client: Any, world: World, tmp_path: Path
) -> None:
    r = client.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system"))
    assert r.status_code == 202, r.text
    doc = r.json()
    report = client.get(f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor")).json()[
        "report"
    ]
    stamp = report["timestamp"]
    assert stamp["status"] == "granted"
    assert report["best_signature_time"] == stamp["gen_time"]
    gen_time = dt.datetime.fromisoformat(stamp["gen_time"].replace("Z", "+00:00"))
    assert abs(gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert stamp["tsa"].startswith("CN=Lienthong Demo TSA")
    assert int(stamp["serial"], 16) > 0

    item = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN2}, headers=world.auth("system")
    ).json()["items"][0]
    delivered = client.get(
        f"/api/v1/inbox/{item['id']}/edxml", headers=world.auth("system")
    ).content
    value = signature_value_of(parse_document(delivered))
    assert value is not None
    ok = openssl_verify_token(
        base64.b64decode(stamp["token_base64"]),
        imprint_of(value),
        client.get("/pki/ca").content,
        tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "sig.bin").write_bytes(value)
    by_data = openssl(
        "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
        "-data", str(tmp_path / "sig.bin"), "-CAfile", str(tmp_path / "ca.pem"),
    )  # fmt: skip
    assert by_data.returncode == 0, by_data.stderr
    # The timestamp lives beside the signature, not in the document: xmlsec1 still verifies it.
    roots = [c for c in x509.load_pem_x509_certificates((tmp_path / "ca.pem").read_bytes())]
    root = next(c for c in roots if c.subject == c.issuer)
    verified = xmlsec1_verify(root, delivered, tmp_path)
    assert verified.returncode == 0, verified.stderr


def test_without_a_tsa_yet_the_document_is_accepted_and_stamped_later(
    client: Any, world: World, sessions: Any, app: Any
) -> None:
    from app.documents.models import PendingTimestamp
    from app.documents.timestamps import fetch_pending

    hub = app.state.hub
    with unit_of_work(sessions) as s:
        row = s.get(CaMaterial, TSA)
        assert row is not None
        s.delete(row)  # a database from before the TSA existed
    hub.custody.invalidate()
    r = client.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system"))
    assert r.status_code == 202, r.text
    doc_id = r.json()["id"]
    validation = f"{DOCS}/{doc_id}/validation"
    assert client.get(validation, headers=world.auth("auditor")).json()["report"]["timestamp"] == {
        "status": "pending"
    }
    assert fetch_pending(hub, sessions, "w") == 1  # still no TSA: it waits
    with unit_of_work(sessions) as s:
        assert s.scalars(select(PendingTimestamp)).one().last_error
        assert hub.custody.ensure_demo_keys(s, actor="test").created_ca is False
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert fetch_pending(hub, sessions, "w", now=later) == 1
    report = client.get(validation, headers=world.auth("auditor")).json()["report"]
    assert report["timestamp"]["status"] == "granted"
    assert report["best_signature_time"] == report["timestamp"]["gen_time"]
    with unit_of_work(sessions) as s:
        assert s.scalars(select(PendingTimestamp)).all() == []
