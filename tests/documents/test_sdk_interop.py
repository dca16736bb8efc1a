"""Round trips with what the national SDK writes, on both databases (SPEC section 3, issue 16).

Done means: a document built by the SDK with a PDF attachment, posted as the SDK wrote it, is
accepted, signed, delivered with the same bytes, and the recipient's status naming the
DocumentId it read is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from app.edxml import EdxmlDocument, parse_message
from tests.conftest import SHARED, World
from tests.edxml.sdk import SdkAttachment, SdkDocument, sdk_document, sdk_status, small_pdf
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"
XML = {"Content-Type": "application/xml"}
HUB_ORGAN = "000.00.00.H39"  # Settings.hub_organ_id's default
PDF = small_pdf()


def _sdk_package(world: World, **kwargs: Any) -> tuple[SdkDocument, bytes]:
    fields: dict[str, Any] = {"attachments": [SdkAttachment("15-UBND-VP.pdf", PDF)]}
    fields.update(kwargs)
    doc = SdkDocument(world.OWN, [world.OWN2], **fields)
    return doc, sdk_document(doc)


def _delivered(client: Any, world: World, document: str) -> bytes:
    items = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN2}, headers=world.auth("system")
    ).json()["items"]
    item = next(i for i in items if i["document"] == document)
    r = client.get(f"/api/v1/inbox/{item['id']}/edxml", headers=world.auth("system"))
    assert r.status_code == 200
    return bytes(r.content)


def _status_back(client: Any, world: World, doc: dict[str, Any], read_id: str) -> Any:
    body = sdk_status(
        from_organ=world.OWN2, response_to=world.OWN, document_id=read_id, code=doc["code"]
    )
    return client.post(
        f"{DOCS}/{doc['id']}/statuses", content=body, headers=world.auth("system") | XML
    )


def _read_back(data: bytes) -> EdxmlDocument:
    document = parse_message(data, max_bytes=10**7).document
    assert document is not None
    return document


def test_sdk_document_without_document_id_round_trips(client, world: World) -> None:
    sdk, body = _sdk_package(world)
    r = client.post(DOCS, content=body, headers=world.auth("system") | XML)
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["document_id"] == sdk.standard_document_id()
    assert doc["signature"]["indication"] == "TOTAL_PASSED"
    assert doc["signature"]["signed_by"]["organ_id"] == world.OWN
    assert [w["code"] for w in doc["warnings"]] == [
        "edxml.manifest_content_type",
        "edxml.placeholder_signature",
    ]
    assert doc["attachments"][0]["content_type"] == "application/pdf"

    delivered = _delivered(client, world, doc["id"])
    read = _read_back(delivered)
    assert read.document_id == doc["document_id"]  # carried in the package, not recomputed
    assert read.document_id is not None  # for mypy: implied by the equality above
    assert [t.organ_id for t in read.trace_headers] == [world.OWN, HUB_ORGAN]
    assert read.attachments[0].data == PDF
    assert read.attachments[0].content_type == "application/pdf"
    assert b"rsa-sha1" not in delivered and b"MIIFqTCCBJG" not in delivered  # placeholder gone
    att = client.get(f"{DOCS}/{doc['id']}/attachments/cid:209", headers=world.auth("system"))
    assert att.status_code == 200 and att.content == PDF

    # the kept report records what was accepted liberally
    report = client.get(f"{DOCS}/{doc['id']}/validation", headers=world.auth("auditor")).json()
    codes = {w["code"] for w in report["report"]["warnings"]}
    assert {"edxml.manifest_content_type", "edxml.placeholder_signature"} <= codes

    ok = _status_back(client, world, doc, read.document_id)
    assert ok.status_code == 202, ok.text
    view = client.get(f"{DOCS}/{doc['id']}", headers=world.auth("system")).json()
    assert [d["status_code"] for d in view["deliveries"]] == ["03"]
    iso_form = read.document_id.replace("2026/11/26", "2026-11-26")  # as a C# client writes
    assert iso_form != read.document_id
    later = sdk_status(
        from_organ=world.OWN2,
        response_to=world.OWN,
        document_id=iso_form,
        code=doc["code"],
        status_code="04",
    )
    r = client.post(
        f"{DOCS}/{doc['id']}/statuses", content=later, headers=world.auth("system") | XML
    )
    assert r.status_code == 202, r.text
    wrong = _status_back(client, world, doc, "0198f0c2-6a1e-7c4e-9d1a-2b3c4d5e6f70")
    assert wrong.status_code == 422 and wrong.json()["code"] == "edxml.invalid"


def test_sdk_document_with_its_own_document_id_keeps_it(client, world: World) -> None:
    _, body = _sdk_package(world, document_id=f"{world.OWN},2026/11/26,99/UBND-VP")
    r = client.post(DOCS, content=body, headers=world.auth("system") | XML)
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["document_id"] == f"{world.OWN},2026/11/26,99/UBND-VP"
    read = _read_back(_delivered(client, world, doc["id"]))
    assert read.document_id == doc["document_id"]
    assert read.document_id is not None  # for mypy: implied by the equality above
    assert read.trace_headers[-1].organ_id == HUB_ORGAN
    assert _status_back(client, world, doc, read.document_id).status_code == 202


def test_json_submission_carries_document_id_and_trace_header(client, world: World) -> None:
    body = document_json(world.OWN, [world.OWN2], attachments=[("cv.pdf", PDF)])
    r = client.post(DOCS, json=body, headers=world.auth("system"))
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["warnings"] == []
    read = _read_back(_delivered(client, world, doc["id"]))
    assert read.document_id == doc["document_id"]
    assert read.document_id is not None  # for mypy: implied by the equality above
    assert [t.organ_id for t in read.trace_headers] == [HUB_ORGAN]
    assert read.attachments[0].data == PDF
    ok = _status_back(client, world, doc, read.document_id)
    assert ok.status_code == 202, ok.text


def test_content_type_contradicted_by_the_bytes_is_a_warning(client, world: World) -> None:
    body = document_json(
        world.OWN, [world.OWN2], attachments=[("cv.pdf", b"PK\x03\x04" + b"0" * 40)]
    )
    r = client.post(DOCS, json=body, headers=world.auth("system"))
    assert r.status_code == 202, r.text
    assert [w["code"] for w in r.json()["warnings"]] == ["attachment.content_type_magic"]
    _, xml = _sdk_package(
        world, attachments=[SdkAttachment("cv.doc", PDF, content_type="application/msword")]
    )
    r = client.post(DOCS, content=xml, headers=world.auth("system") | XML)
    assert r.status_code == 202, r.text
    assert [w["code"] for w in r.json()["warnings"]] == [
        "edxml.manifest_content_type",
        "attachment.content_type_magic",
        "edxml.placeholder_signature",
    ]
    # an idempotent replay gives the first answer, warnings included
    zipped = document_json(
        world.OWN, [world.OWN2], attachments=[("b.pdf", b"PK\x03\x04" + bytes(9))]
    )
    key = world.auth("system") | {"Idempotency-Key": "sdk-1"}
    first = client.post(DOCS, json=zipped, headers=key)
    again = client.post(DOCS, json=zipped, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["warnings"] == first.json()["warnings"] != []


def test_validate_says_what_submission_would_do(client, world: World) -> None:
    _, body = _sdk_package(world)
    v = client.post("/api/v1/edxml/validate", content=body, headers=world.auth("reporter") | XML)
    assert v.status_code == 200, v.text
    out = v.json()
    assert out["valid"] is True and out["errors"] == []
    assert out["signature"]["indication"] == "NO_SIGNATURE_FOUND"  # it will be signed
    assert [w["code"] for w in out["warnings"]] == [
        "edxml.manifest_content_type",
        "edxml.placeholder_signature",
    ]
    assert out["attachments"][0]["content_type"] == "application/pdf"

    # a real XML-DSig signature that does not pass: submission refuses it, so valid is false
    r = client.post(DOCS, content=body, headers=world.auth("system") | XML)
    signed = _delivered(client, world, r.json()["id"])
    forged = signed.replace("kết nối".encode(), "hủy bỏ".encode(), 1)
    v = client.post("/api/v1/edxml/validate", content=forged, headers=world.auth("reporter") | XML)
    out = v.json()
    assert out["valid"] is False
    assert out["signature"]["indication"] == "TOTAL_FAILED"
    assert [e["code"] for e in out["errors"]] == ["signature.invalid"]
    refused = client.post(
        DOCS,
        content=forged.replace(b"15/UBND-VP", b"16/UBND-VP"),
        headers=world.auth("system") | XML,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "signature.invalid"
    v = client.post("/api/v1/edxml/validate", content=signed, headers=world.auth("reporter") | XML)
    assert v.json()["valid"] is True and v.json()["signature"]["indication"] == "TOTAL_PASSED"


def test_xmlsec1_verifies_the_sealed_sdk_package(client, world: World, tmp_path: Path) -> None:
    from tests.keys.test_signatures_api import xmlsec1_verify

    _, body = _sdk_package(world)
    r = client.post(DOCS, content=body, headers=world.auth("system") | XML)
    assert r.status_code == 202, r.text
    delivered = _delivered(client, world, r.json()["id"])
    certs = x509.load_pem_x509_certificates(client.get("/pki/ca").content)
    root = next(c for c in certs if c.subject == c.issuer)
    ok = xmlsec1_verify(root, delivered, tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_the_trace_header_names_the_configured_hub(client, world: World, app) -> None:
    app.state.hub.settings.hub_organ_id = "000.00.00.H39"
    _, body = _sdk_package(world)
    r = client.post(DOCS, content=body, headers=world.auth("system") | XML)
    assert r.status_code == 202, r.text
    read = _read_back(_delivered(client, world, r.json()["id"]))
    assert [t.organ_id for t in read.trace_headers] == [world.OWN, "000.00.00.H39"]


def test_hub_organ_id_setting_must_be_an_organ_id(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from app.core.config import Settings

    ok = Settings(_env_file=None, data_dir=tmp_path, hub_organ_id="000.00.00.H39")
    assert ok.hub_organ_id == "000.00.00.H39"
    assert Settings(_env_file=None, data_dir=tmp_path).hub_organ_id == HUB_ORGAN
    for bad in ("h39", "000..H39", "A" * 36, ""):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, data_dir=tmp_path, hub_organ_id=bad)


def test_sdk_status_with_a_placeholder_signature_is_accepted(client, world: World) -> None:
    from tests.edxml.sdk import PLACEHOLDER_SIGNATURE

    body = document_json(world.OWN, [world.OWN2])
    doc = client.post(DOCS, json=body, headers=world.auth("system")).json()
    status = sdk_status(
        from_organ=world.OWN2,
        response_to=world.OWN,
        document_id=doc["document_id"],
        code=doc["code"],
    ).replace(
        b"    </edXML:edXMLHeader>",
        PLACEHOLDER_SIGNATURE.encode() + b"    </edXML:edXMLHeader>",
    )
    assert b"<Signature>" in status
    r = client.post(
        f"{DOCS}/{doc['id']}/statuses", content=status, headers=world.auth("system") | XML
    )
    assert r.status_code == 202, r.text
    assert r.json()["code"] == "03"


def test_signed_package_without_document_id_is_kept_as_signed_with_a_warning(
    client, world: World, pki_material
) -> None:
    from app.edxml import serialize
    from app.signing.xmldsig import Signer, sign_tree

    sdk, body = _sdk_package(world, placeholder_signature=False)
    root = parse_message(body, max_bytes=10**7).root
    key, cert = pki_material.leaves[world.OWN]
    sign_tree(root, Signer(key, cert, [pki_material.issuing[1]]))
    signed = serialize(root)
    r = client.post(DOCS, content=signed, headers=world.auth("system") | XML)
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["signature"]["indication"] == "TOTAL_PASSED"
    assert [w["code"] for w in doc["warnings"]] == [
        "edxml.manifest_content_type",
        "edxml.document_id_missing",
    ]
    delivered = _delivered(client, world, doc["id"])
    assert delivered == signed  # the hub never changes what the sender signed
    assert _read_back(delivered).document_id is None
    # the id the hub files it under (the standard one) is accepted back
    assert doc["document_id"] == sdk.standard_document_id()
    assert _status_back(client, world, doc, doc["document_id"]).status_code == 202


@pytest.mark.skipif(not (SHARED / "interop" / "edxml").is_dir(), reason="shared samples absent")
def test_the_sdk_sample_itself_round_trips(
    client, world: World, app, sessions, pki_material
) -> None:
    """edoc_new.edxml from the SDK, posted byte for byte, between two units made local here."""
    from app.core.db import unit_of_work
    from app.signing import pki

    sample = (SHARED / "interop" / "edxml" / "edoc_new.edxml").read_bytes()
    sender, recipient = "000.00.00.A80", "28.22.H17"
    admin = world.auth("admin")
    for organ in (sender, recipient):
        r = client.post(
            "/api/v1/organizations", json={"organ_id": organ, "name": organ}, headers=admin
        )
        assert r.status_code == 201, r.text
        key, cert = pki.issue_org_certificate(
            pki_material.issuing[0], pki_material.issuing[1], organ, organ
        )
        with unit_of_work(sessions) as s:
            app.state.hub.custody.install_key(s, organ, key, cert, actor="test")
    made = client.post(
        "/api/v1/clients",
        json={"name": "sdk", "role": "system", "organ_ids": [sender, recipient]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    sdk = {"Authorization": f"Bearer {made.json()['api_key']}"}

    r = client.post(DOCS, content=sample, headers=sdk | XML)
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["signature"]["indication"] == "TOTAL_PASSED"
    assert [w["code"] for w in doc["warnings"]] == ["edxml.placeholder_signature"]
    items = client.get("/api/v1/inbox", params={"organ_id": recipient}, headers=sdk).json()["items"]
    delivered = client.get(f"/api/v1/inbox/{items[0]['id']}/edxml", headers=sdk).content
    read = _read_back(delivered)
    original = _read_back(sample)
    assert read.document_id == doc["document_id"] == original.document_id
    assert read.document_id is not None  # for mypy: implied by the equality above
    assert read.attachments[0].data == original.attachments[0].data
    assert [t.organ_id for t in read.trace_headers] == ["000.00.00.G22", HUB_ORGAN]
    status = sdk_status(
        from_organ=recipient, response_to=sender, document_id=read.document_id, code=doc["code"]
    )
    back = client.post(f"{DOCS}/{doc['id']}/statuses", content=status, headers=sdk | XML)
    assert back.status_code == 202, back.text
