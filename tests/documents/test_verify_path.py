"""The client-signed path with warm caches: every document is still verified in full (digest,
SignatureValue, organization binding), and a revocation is seen by the next submission."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree

from app.documents.service import has_signature
from app.edxml import EdxmlDocument, build_document_tree, serialize
from app.signing.xmldsig import DS_NS, Signer, sign_tree
from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back

DOCS = "/api/v1/documents"


@pytest.mark.parametrize(
    ("xml", "found"),
    [
        (b"<a><b/></a>", False),
        (b"<a><b><Signature/></b></a>", True),  # no namespace
        (b'<a xmlns="urn:x"><Signature/></a>', True),  # default namespace
        (f'<a><ds:Signature xmlns:ds="{DS_NS}"/></a>'.encode(), True),
        (b'<a><x:Signature xmlns:x="urn:other"/></a>', True),  # any namespace
        (b"<Signature/>", True),  # the root itself
        (b"<a><!--Signature--><?Signature x?><b>Signature</b><c Signature='1'/></a>", False),
        (b"<a><SignatureValue/><Signatures/></a>", False),
    ],
)
def test_has_signature_finds_what_the_xpath_found(xml: bytes, found: bool) -> None:
    """`has_signature` (lxml's tag iterator) answers as `//*[local-name()='Signature']` did,
    also when asked about an element below the root."""
    root = etree.fromstring(xml)
    assert bool(root.xpath("//*[local-name()='Signature']")) is found
    assert has_signature(root) is found
    for child in root.iter():
        if isinstance(child.tag, str):
            assert has_signature(child) is found


def _signed(world: World, pki_material: Any, number: str, *, sender: str | None = None) -> bytes:
    """A document from `sender` (default OWN) to the province, signed client-side with OWN's
    certificate."""
    body = document_json(sender or world.OWN, [world.PROVINCE])
    body["code"]["code_number"] = number
    root = build_document_tree(EdxmlDocument.model_validate(body).with_document_id())
    key, cert = pki_material.leaves[world.OWN]
    sign_tree(root, Signer(key, cert, [pki_material.issuing[1]]))
    return serialize(root)


def _post(client: Any, world: World, data: bytes) -> Any:
    headers = world.auth("system") | {"Content-Type": "application/xml"}
    return client.post(DOCS, content=data, headers=headers)


def _refusal(r: Any) -> tuple[str, str | None]:
    assert r.status_code == 422 and r.json()["code"] == "signature.invalid", r.text
    report = r.json()["validation"]
    return report["indication"], report["sub_indication"]


def _new_signature_value(data: bytes) -> bytes:
    """The same document with another (well-formed) SignatureValue."""
    root = etree.fromstring(data)
    value = root.find(f".//{{{DS_NS}}}SignatureValue")
    assert value is not None and value.text
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_each_document_is_verified_in_full_with_warm_caches(
    client, world: World, pki_material
) -> None:
    # Warm: the certificate's facts, its DER, its (empty) revocation plan, its path.
    for n in ("1", "2"):
        ok = _post(client, world, _signed(world, pki_material, n))
        assert ok.status_code == 202, ok.text
        assert ok.json()["signature"]["indication"] == "TOTAL_PASSED"
    # The same certificate on a changed document: its digest is computed again.
    forged = _signed(world, pki_material, "3").replace("triển khai".encode(), "hủy bỏ".encode())
    assert _refusal(_post(client, world, forged)) == ("TOTAL_FAILED", "HASH_FAILURE")
    # ... and on a document whose SignatureValue is another: verified again.
    changed = _new_signature_value(_signed(world, pki_material, "4"))
    assert _refusal(_post(client, world, changed)) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    # ... and for another sender: the organization binding is checked again.
    other = _signed(world, pki_material, "5", sender=world.OWN2)
    assert _refusal(_post(client, world, other)) == ("TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    # The warm path still passes a good one.
    again = _post(client, world, _signed(world, pki_material, "6"))
    assert again.status_code == 202 and again.json()["signature"]["indication"] == "TOTAL_PASSED"


def test_a_revocation_is_seen_by_the_next_client_signed_submission(
    client, world: World, pki_material
) -> None:
    ok = _post(client, world, _signed(world, pki_material, "1"))
    assert ok.status_code == 202 and ok.json()["signature"]["indication"] == "TOTAL_PASSED"
    r = client.post(
        f"/api/v1/organizations/{world.OWN}/keys/revoke",
        json={"reason": "keyCompromise"},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200, r.text
    # The certificate, its decoded facts and its DER are cached; its status is not.
    assert _refusal(_post(client, world, _signed(world, pki_material, "2"))) == (
        "TOTAL_FAILED",
        "REVOKED",
    )
