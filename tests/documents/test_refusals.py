"""Bad input through POST /documents: a clear problem with a stable code, and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.core.blobs import Blob
from app.delivery.models import Delivery
from app.documents.models import Document
from app.edxml import EdxmlDocument, build_document
from tests.conftest import SHARED, World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

NS = b"http://www.mic.gov.vn/TBT/QCVN_102_2016"


def _valid(world: World, **kw: Any) -> bytes:
    return build_document(
        EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2], **kw))
    )


def _attacks(world: World) -> list[tuple[str, bytes, int, str]]:
    ok = _valid(world)
    with_att = _valid(world, attachments=[("a.pdf", b"%PDF-1.7")])
    body = ok.split(b"?>", 1)[1]
    deep = b"<a>" * 200 + b"</a>" * 200
    return [
        (
            "xxe file",
            b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + body.replace(b"V/v", b"&x;"),
            422,
            "edxml.forbidden_construct",
        ),
        (
            "xxe network",
            b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'
            + body,
            422,
            "edxml.forbidden_construct",
        ),
        (
            "billion laughs",
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&c;</edXML>',
            422,
            "edxml.forbidden_construct",
        ),
        (
            "quadratic blowup",
            b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "'
            + b"x" * 50000
            + b'">]><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
            + b"&a;" * 2000
            + b"</edXML>",
            422,
            "edxml.forbidden_construct",
        ),
        (
            "doctype",
            b'<?xml version="1.0"?><!DOCTYPE edXML>' + body,
            422,
            "edxml.forbidden_construct",
        ),
        (
            "deep nesting",
            ok.replace(b"</edXML>", deep + b"</edXML>"),
            422,
            "edxml.forbidden_construct",
        ),
        (
            "huge attribute",
            ok.replace(b"<edXML ", b'<edXML a="' + b"x" * 100_000 + b'" ', 1),
            422,
            "edxml.forbidden_construct",
        ),
        ("invalid utf-8", ok.replace("triển".encode(), b"\xff\xfe"), 422, "edxml.malformed"),
        (
            "unbound prefix",
            ok.replace(b"<edXML:Subject>", b"<nope:Subject>").replace(
                b"</edXML:Subject>", b"</nope:Subject>"
            ),
            422,
            "edxml.malformed",
        ),
        ("not well-formed", ok[:-30], 422, "edxml.malformed"),
        ("wrong namespace", ok.replace(NS, b"urn:other"), 422, "edxml.invalid"),
        (
            "wrong root",
            b'<?xml version="1.0"?><html xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>',
            422,
            "edxml.invalid",
        ),
        (
            "missing subject",
            ok.replace(b"<edXML:Subject>", b"<edXML:Content>").replace(
                b"</edXML:Subject>", b"</edXML:Content>"
            ),
            422,
            "edxml.invalid",
        ),
        (
            "over-long subject",
            ok.replace("V/v triển khai".encode(), ("dài " * 200).encode()),
            422,
            "edxml.invalid",
        ),
        (
            "manifest without attachment",
            with_att.replace(b"<Attachment>", b"<Nothing>").split(b"<AttachmentEncoded")[0]
            + b"</edXML>\n",
            422,
            "edxml.invalid",
        ),
        ("bad base64", with_att.replace(b"JVBERi0xLjc=", b"JVBER!!!xLjc="), 422, "edxml.invalid"),
        ("bad organ id", ok.replace(world.OWN2.encode(), b"not-an-id"), 422, "edxml.invalid"),
    ]


def _counts(sessions: Any, blobs: Path) -> tuple[int, int, int]:
    with sessions() as s:
        docs = s.scalar(select(func.count()).select_from(Document))
        dels = s.scalar(select(func.count()).select_from(Delivery))
        rows = int(s.scalar(select(func.count()).select_from(Blob)) or 0)
    files = sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0
    files += rows  # the database blob store (PostgreSQL) or the directory (SQLite)
    return int(docs or 0), int(dels or 0), files


def test_attack_corpus_is_refused_with_its_code_and_nothing_is_stored(
    client, world: World, sessions, settings
) -> None:
    blobs = Path(settings.data_dir) / "blobs"
    before = _counts(sessions, blobs)
    for name, payload, status, code in _attacks(world):
        r = client.post(
            "/api/v1/documents",
            content=payload,
            headers=world.auth("system") | {"Content-Type": "application/xml"},
        )
        assert r.status_code == status, (name, r.text[:300])
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == code, (name, problem)
        if code == "edxml.malformed":
            assert problem["line"] and problem["column"], (name, problem)
    assert _counts(sessions, blobs) == before
    # Each refusal stays on record, and only that (SPEC 8).
    with sessions() as s:
        refused = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "document.refused")
            .order_by(AuditEntry.seq)
        ).all()
    codes = [json.loads(e.details)["code"] for e in refused]
    assert codes == [code for _, _, _, code in _attacks(world)]
    assert all(e.actor == f"client:{world.client_ids['system']}" for e in refused)


def test_oversize_is_413_before_parsing(client, world: World, app, sessions, settings) -> None:
    app.state.settings.max_document_bytes = 4096
    big = _valid(world, attachments=[("big.bin", b"\0" * 20_000)])
    r = client.post(
        "/api/v1/documents",
        content=big,
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 413 and r.json()["code"] == "payload.too_large"
    r = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2], attachments=[("b", b"\0" * 5000)]),
        headers=world.auth("system"),
    )
    assert r.status_code == 413 and r.json()["code"] == "payload.too_large"
    assert _counts(sessions, Path(settings.data_dir) / "blobs")[:2] == (0, 0)


def test_from_not_served_and_unsupported_type(client, world: World, sessions, settings) -> None:
    r = client.post(
        "/api/v1/documents",
        content=build_document(
            EdxmlDocument.model_validate(document_json(world.FOREIGN, [world.OWN]))
        ),
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    r = client.post(
        "/api/v1/documents",
        content=b"hello",
        headers=world.auth("system") | {"Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    r = client.post(
        "/api/v1/documents", json={"from": {"organ_id": world.OWN}}, headers=world.auth("system")
    )
    assert r.status_code == 422 and r.json()["code"] == "edxml.invalid" and r.json()["errors"]
    assert _counts(sessions, Path(settings.data_dir) / "blobs")[:2] == (0, 0)


def test_tampered_signed_document_is_refused_with_its_report(
    client, world: World, sessions, pki_material
) -> None:
    from app.edxml import build_document_tree, serialize
    from app.signing.xmldsig import Signer, sign_tree

    root = build_document_tree(
        EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2])).with_document_id()
    )
    key, cert = pki_material.leaves[world.OWN]
    sign_tree(root, Signer(key, cert, [pki_material.issuing[1]]))
    signed = serialize(root)
    forged = signed.replace("triển khai".encode(), "hủy bỏ".encode())
    headers = world.auth("system") | {"Content-Type": "application/xml"}
    r = client.post("/api/v1/documents", content=forged, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "signature.invalid", r.text
    report = r.json()["validation"]
    assert report["indication"] == "TOTAL_FAILED" and report["sub_indication"] == "HASH_FAILURE"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
    log = client.get(
        "/api/v1/audit/log", params={"limit": 500}, headers=world.auth("auditor")
    ).json()["items"]
    assert any(
        e["action"] == "document.refused" and e["details"]["code"] == "signature.invalid"
        for e in log
    )
    ok = client.post("/api/v1/documents", content=signed, headers=headers)
    assert ok.status_code == 202 and ok.json()["signature"]["indication"] == "TOTAL_PASSED"
    stored = client.get(
        f"/api/v1/documents/{ok.json()['id']}/edxml", headers=world.auth("system")
    ).content
    assert stored == signed  # a signed submission is kept exactly as the sender signed it


@pytest.mark.skipif(
    not (SHARED / "interop" / "edxml").exists(), reason="shared interop samples absent"
)
def test_sdk_samples_validate_with_the_placeholder_as_no_signature(client, world: World) -> None:
    sample = (SHARED / "interop" / "edxml" / "status_05_processing.edxml").read_bytes()
    v = client.post(
        "/api/v1/edxml/validate",
        content=sample,
        headers=world.auth("auditor") | {"Content-Type": "application/xml"},
    )
    assert (
        v.status_code == 200 and v.json()["valid"] is True and v.json()["message_type"] == "status"
    )
    new = (SHARED / "interop" / "edxml" / "edoc_new.edxml").read_bytes()
    v = client.post(
        "/api/v1/edxml/validate",
        content=new,
        headers=world.auth("auditor") | {"Content-Type": "application/xml"},
    )
    assert v.status_code == 200
    # the placeholder is no signature: the hub would drop it and sign (SPEC 3)
    assert v.json()["signature"]["indication"] == "NO_SIGNATURE_FOUND"
    assert v.json()["valid"] is True
    assert [w["code"] for w in v.json()["warnings"]] == ["edxml.placeholder_signature"]
    assert (
        v.json()["attachments"] and v.json()["attachments"][0]["content_type"] == "application/zip"
    )
    bad = client.post(
        "/api/v1/edxml/validate",
        content=new[:500],
        headers=world.auth("auditor") | {"Content-Type": "application/xml"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "edxml.malformed" and bad.json()["line"]


def test_a_twin_the_first_read_missed_is_refused_by_the_index_and_kept_on_record(
    client, world: World, sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two submissions of one (From, DocumentId) at once both pass `authorise`'s read; the
    partial unique index refuses the second at its flush, as 409 `document.duplicate` with
    its audit entry, like every refusal (SPEC 8)."""
    from app.documents import repository

    body = document_json(world.OWN, [world.OWN2])
    first = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert first.status_code == 202, first.text
    monkeypatch.setattr(
        repository, "document_by_sender", lambda *a: None
    )  # the read that ran before the first one committed
    twin = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert twin.status_code == 409 and twin.json()["code"] == "document.duplicate", twin.text
    document_id = first.json()["document_id"]
    with sessions() as s:
        stored = s.scalar(
            select(func.count()).select_from(Document).where(Document.document_id == document_id)
        )
        refused = s.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "document.refused")
        ).all()
    assert stored == 1
    assert [json.loads(d)["code"] for d in refused] == ["document.duplicate"]
