"""Signatures in the pipeline: independent verification, re-validation, rotation, audit views."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509

from app.cli import main as cli
from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"
REQUIRE_TOOLS = bool(os.environ.get("LIENTHONG_REQUIRE_TOOLS") or os.environ.get("CI"))


def xmlsec1_verify(
    root_cert: x509.Certificate, document: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run the independent verifier (skip, or fail in CI, when xmlsec1 is missing)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    if shutil.which("xmlsec1") is None:
        if REQUIRE_TOOLS:
            pytest.fail("xmlsec1 is required here (Debian package xmlsec1)")
        pytest.skip("xmlsec1 not installed (Debian package xmlsec1)")
    (tmp_path / "root.pem").write_bytes(root_cert.public_bytes(Encoding.PEM))
    path = tmp_path / f"doc-{len(list(tmp_path.iterdir()))}.xml"
    path.write_bytes(document)
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(tmp_path / "root.pem"), str(path)],
        capture_output=True,
        text=True,
    )


def _submit(
    client: Any, world: World, organ: str | None = None, to: list[str] | None = None
) -> dict[str, Any]:
    r = client.post(
        DOCS,
        json=document_json(organ or world.OWN, to or [world.OWN2]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def test_xmlsec1_verifies_what_the_hub_delivers(client, world: World, tmp_path: Path) -> None:
    _submit(client, world)
    item = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN2}, headers=world.auth("system")
    ).json()["items"][0]
    delivered = client.get(
        f"/api/v1/inbox/{item['id']}/edxml", headers=world.auth("system")
    ).content
    bundle = client.get("/pki/ca").content
    certs = x509.load_pem_x509_certificates(bundle)
    roots = [c for c in certs if c.subject == c.issuer]
    assert len(roots) == 1 and len(certs) == 2
    ok = xmlsec1_verify(roots[0], delivered, tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = xmlsec1_verify(
        roots[0], delivered.replace("triển khai".encode(), "hủy bỏ".encode()), tmp_path
    )
    assert bad.returncode != 0


def test_pki_endpoints_publish_ca_and_crl(client, world: World, sessions, app) -> None:
    crl = x509.load_der_x509_crl(client.get("/pki/crl").content)
    assert len(list(crl)) == 0
    with unit_of_work(sessions) as s:
        serials = app.state.hub.custody.revoke(s, world.OWN2, actor="test", reason="keyCompromise")
    crl = x509.load_der_x509_crl(client.get("/pki/crl").content)
    assert [format(r.serial_number, "x") for r in crl] == serials
    assert (
        x509.load_der_x509_crl(client.get("/pki/crl/root").content).issuer
        == x509.load_pem_x509_certificates(client.get("/pki/ca").content)[1].subject
    )
    # No key left: the hub cannot sign for OWN2 until an admin issues a new certificate.
    r = client.post(DOCS, json=document_json(world.OWN2, [world.OWN]), headers=world.auth("system"))
    assert r.status_code == 503 and r.json()["code"] == "signing.unavailable"


def test_revalidation_after_a_backdated_revocation_shows_the_change(
    client, world: World, sessions, app
) -> None:
    doc = _submit(client, world)
    first = client.get(f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor")).json()
    assert first["report"]["indication"] == "TOTAL_PASSED" and first["reports"] == 1
    with unit_of_work(sessions) as s:
        app.state.hub.custody.revoke(
            s,
            world.OWN,
            actor="test",
            reason="keyCompromise",
            revoked_at=utcnow() - timedelta(hours=1),
        )
    r = client.post(f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor"))
    assert r.status_code == 200
    report = r.json()["report"]
    assert (report["indication"], report["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")
    assert report["checks"]["revocation"] == "failed" and report["revocation_data"]
    latest = client.get(f"{DOCS}/{doc['id']}/validation", headers=world.auth("admin")).json()
    assert latest["reports"] == 2 and latest["report"]["sub_indication"] == "REVOKED"
    assert (
        client.post(f"{DOCS}/{doc['id']}/validation", headers=world.auth("system")).status_code
        == 403
    )
    failed = client.get(
        "/api/v1/audit/signatures",
        params={"indication": "TOTAL_FAILED"},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert [(f["document"], f["reports"]) for f in failed] == [(doc["id"], 2)]
    log = client.get(
        "/api/v1/audit/log", params={"limit": 500}, headers=world.auth("auditor")
    ).json()["items"]
    assert any(e["action"] == "signature.revalidated" and e["target_id"] == doc["id"] for e in log)


def test_rotation_signs_new_documents_and_old_reports_still_verify(
    client, world: World, sessions, app
) -> None:
    old = _submit(client, world)
    with unit_of_work(sessions) as s:
        row = app.state.hub.custody.issue(s, world.OWN, actor="test", key_type="ec")
    new = _submit(client, world)
    assert new["signature"]["signed_by"]["serial"] == row.serial
    assert old["signature"]["signed_by"]["serial"] != row.serial
    again = client.post(f"{DOCS}/{old['id']}/validation", headers=world.auth("auditor")).json()[
        "report"
    ]
    assert again["indication"] == "TOTAL_PASSED"
    org = client.get(f"/api/v1/organizations/{world.OWN}", headers=world.auth("reporter")).json()
    assert org["certificate"]["serial"] == row.serial


def test_audit_signatures_filters(client, world: World) -> None:
    a = _submit(client, world)
    b = _submit(client, world, organ=world.OWN2, to=[world.OWN])
    by_org = client.get(
        "/api/v1/audit/signatures", params={"organ_id": world.OWN2}, headers=world.auth("auditor")
    ).json()["items"]
    assert [x["document"] for x in by_org] == [b["id"]]
    passed = client.get(
        "/api/v1/audit/signatures",
        params={"indication": "TOTAL_PASSED"},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert {x["document"] for x in passed} == {a["id"], b["id"]}
    future = client.get(
        "/api/v1/audit/signatures",
        params={"since": (utcnow() + timedelta(days=1)).isoformat()},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert future == []
    assert client.get("/api/v1/audit/signatures", headers=world.auth("reporter")).status_code == 403


@pytest.mark.rolled_back(False)  # the CLI opens a connection of its own
def test_cli_pki_revoke_issue_and_crl(
    world: World, sessions, settings, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(
        "LIENTHONG_DATABASE_URL", sessions.kw["bind"].url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("LIENTHONG_KEY_PASSPHRASE", "test-passphrase")
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    r = runner.invoke(cli, ["pki", "revoke", world.OWN2, "--reason", "superseded"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["pki", "crl", "--out", str(tmp_path / "crl.der")])
    assert (
        r.exit_code == 0
        and len(list(x509.load_der_x509_crl((tmp_path / "crl.der").read_bytes()))) == 1
    )
    r = runner.invoke(cli, ["pki", "issue", world.OWN2])
    assert r.exit_code == 0 and "issued certificate" in r.output
    r = runner.invoke(cli, ["pki", "issue", world.EXTERNAL])
    assert r.exit_code == 1 and "organization.invalid" in r.output
    bad = runner.invoke(cli, ["pki", "issue", world.OWN], env={"LIENTHONG_KEY_PASSPHRASE": "wrong"})
    assert bad.exit_code != 0


def test_large_attachments_take_the_streaming_digest_and_xmlsec1_agrees(
    pki_material, tmp_path: Path
) -> None:
    """Attachments over 1 MiB are hashed around a stand-in (memory); the digest must not change."""

    from app.edxml import EdxmlDocument, build_document_tree, serialize
    from app.signing import TrustStore, validate
    from app.signing.xmldsig import Signer, c14n_digest, sign_tree

    body = document_json(
        World.OWN,
        [World.OWN2],
        attachments=[("a.zip", os.urandom(1_500_000)), ("b.zip", os.urandom(2_000_000))],
    )
    root = build_document_tree(EdxmlDocument.model_validate(body))
    plain = __import__("hashlib").sha256()
    # lxml-stubs omit write_c14n's exclusive/with_comments keywords
    root.getroottree().write_c14n(  # type: ignore[call-arg]
        type("W", (), {"write": lambda self, d: plain.update(d)})(),
        exclusive=True,
        with_comments=False,
    )
    assert c14n_digest(root, "sha256") == plain.digest()
    before = serialize(root)
    assert c14n_digest(root, "sha256") and serialize(root) == before  # the tree is put back exactly
    key, cert = pki_material.leaves[World.OWN]
    sign_tree(root, Signer(key, cert, [pki_material.issuing[1]]))
    trust = TrustStore([pki_material.root[1]], [pki_material.issuing[1]])
    report = validate(root, expected_organ_id=World.OWN, trust=trust)
    assert report.checks["digest"] == "passed" and report.checks["signature"] == "passed"
    ok = xmlsec1_verify(pki_material.root[1], serialize(root), tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_registered_fingerprint_binds_a_certificate_without_organ_id(
    client, world: World, pki_material
) -> None:
    from cryptography.hazmat.primitives import hashes

    from app.edxml import EdxmlDocument, build_document_tree, serialize
    from app.signing import pki
    from app.signing.xmldsig import Signer, sign_tree

    ca_key, ca_cert = pki_material.issuing
    key, cert = pki.issue_org_certificate(
        ca_key, ca_cert, world.OWN, "Văn thư Sở Nội vụ", include_organ_id=False, key_type="ec"
    )

    def signed(number: str) -> bytes:
        root = build_document_tree(
            EdxmlDocument.model_validate(
                document_json(world.OWN, [world.OWN2], number=number)
            ).with_document_id()
        )
        sign_tree(root, Signer(key, cert, [ca_cert]))
        return serialize(root)

    headers = world.auth("system") | {"Content-Type": "application/xml"}
    r = client.post(DOCS, content=signed("FP1"), headers=headers)
    assert (
        r.status_code == 422
        and r.json()["validation"]["sub_indication"] == "SIG_CONSTRAINTS_FAILURE"
    )
    fp = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    reg = client.post(
        f"/api/v1/organizations/{world.OWN}/certificates",
        json={"sha256": fp},
        headers=world.auth("admin"),
    )
    assert reg.status_code == 201 and reg.json()["sha256"] == fp.replace(":", "").lower()
    assert (
        client.post(
            f"/api/v1/organizations/{world.OWN}/certificates",
            json={"sha256": fp},
            headers=world.auth("admin"),
        ).status_code
        == 409
    )
    r = client.post(DOCS, content=signed("FP2"), headers=headers)
    assert r.status_code == 202 and r.json()["signature"]["indication"] == "TOTAL_PASSED"
    gone = client.delete(
        f"/api/v1/organizations/{world.OWN}/certificates/{fp.replace(':', '')}",
        headers=world.auth("admin"),
    )
    assert gone.status_code == 200
    r = client.post(DOCS, content=signed("FP3"), headers=headers)
    assert r.status_code == 422


def test_large_attachment_through_the_api_is_signed_stored_and_served_intact(
    client, world: World, tmp_path: Path
) -> None:
    """Payloads over 1 MiB leave the tree while the hub signs and stores (memory); the bytes
    stored must be the whole signed document, which an independent verifier accepts."""
    payload = os.urandom(1_700_000)
    doc = client.post(
        DOCS,
        json=document_json(world.OWN, [world.OWN2], attachments=[("ho-so.zip", payload)]),
        headers=world.auth("system"),
    ).json()
    assert doc["signature"]["indication"] == "TOTAL_PASSED"
    assert (
        client.get(f"{DOCS}/{doc['id']}/attachments/cid:1", headers=world.auth("system")).content
        == payload
    )
    stored = client.get(f"{DOCS}/{doc['id']}/edxml", headers=world.auth("system")).content
    again = client.post(
        "/api/v1/edxml/validate",
        content=stored,
        headers=world.auth("auditor") | {"Content-Type": "application/xml"},
    ).json()
    assert again["signature"]["indication"] == "TOTAL_PASSED" and again["attachments"][0][
        "size"
    ] == len(payload)
    revalidated = client.post(
        f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor")
    ).json()["report"]
    assert revalidated["indication"] == "TOTAL_PASSED"
    certs = x509.load_pem_x509_certificates(client.get("/pki/ca").content)
    ok = xmlsec1_verify(next(c for c in certs if c.subject == c.issuer), stored, tmp_path)
    assert ok.returncode == 0, ok.stderr
