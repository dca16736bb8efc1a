"""Signing: the exact signature shape, its canonical form, and an independent verifier."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from app.signing import TrustStore, validate
from app.signing.xmldsig import (
    DS_NS,
    ECDSA_SHA256,
    ENVELOPED_SIGNATURE,
    EXC_C14N,
    RSA_SHA256,
    SHA256,
    SigningError,
    c14n_signed_info,
    enveloped_digest,
    find_header,
    find_signatures,
    parse_document,
    sign_bytes,
    sign_tree,
)

from .conftest import NS, SAMPLES, SENDER, Check, Pki, make_edxml

DS = f"{{{DS_NS}}}"


def _signature(data: bytes) -> etree._Element:
    signatures = find_signatures(parse_document(data))
    assert len(signatures) == 1
    return signatures[0]


@pytest.mark.parametrize(("party", "method"), [("rsa", RSA_SHA256), ("ec", ECDSA_SHA256)])
def test_signature_shape(demo_pki: Pki, party: str, method: str) -> None:
    data = sign_bytes(make_edxml(), demo_pki.parties[party].signer)
    signature = _signature(data)
    header = signature.getparent()
    assert header is not None and header.tag == f"{{{NS}}}edXMLHeader"
    assert header[-1] is signature and signature.prefix == "ds"
    assert [c.tag for c in signature] == [DS + "SignedInfo", DS + "SignatureValue", DS + "KeyInfo"]
    signed_info = signature[0]
    assert signed_info.find(DS + "CanonicalizationMethod").get("Algorithm") == EXC_C14N  # type: ignore[union-attr]
    assert signed_info.find(DS + "SignatureMethod").get("Algorithm") == method  # type: ignore[union-attr]
    references = signed_info.findall(DS + "Reference")
    assert len(references) == 1 and references[0].get("URI") == ""
    transforms = references[0].findall(f"{DS}Transforms/{DS}Transform")
    assert [t.get("Algorithm") for t in transforms] == [ENVELOPED_SIGNATURE, EXC_C14N]
    assert references[0].find(DS + "DigestMethod").get("Algorithm") == SHA256  # type: ignore[union-attr]
    certs = [
        base64.b64decode(c.text or "")
        for c in signature.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    ]
    der = serialization.Encoding.DER
    assert certs == [demo_pki.parties[party].cert.public_bytes(der), demo_pki.ca.public_bytes(der)]
    assert demo_pki.root.public_bytes(der) not in certs


def test_digest_covers_the_whole_document_including_attachments(demo_pki: Pki) -> None:
    data = sign_bytes(make_edxml(attachment=b"A" * 3000), demo_pki.parties["ec"].signer)
    root = parse_document(data)
    signature = find_signatures(root)[0]
    header = signature.getparent()
    assert header is not None
    header.remove(signature)
    whole = etree.tostring(root.getroottree(), method="c14n", exclusive=True)
    assert b"QUFBQUFB" in whole  # the attachment's base64 is part of the signed bytes
    digest_value = signature.find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
    assert digest_value is not None
    assert base64.b64decode(digest_value.text or "") == hashlib.sha256(whole).digest()


def test_canonical_signed_info_template_matches_lxml(demo_pki: Pki, signed_rsa: bytes) -> None:
    """The signer writes canonical SignedInfo by hand; lxml's C14N must agree byte for byte."""
    signature = _signature(signed_rsa)
    signer = demo_pki.parties["rsa"].signer
    digest = base64.b64decode(signature[0][2][2].text or "")
    fresh = signer.signature_element(digest)
    assert c14n_signed_info(fresh[0]) == c14n_signed_info(signature[0])
    head, tail = signer._si_c14n
    assert c14n_signed_info(signature[0]) == head + base64.b64encode(digest) + tail


def test_enveloped_digest_leaves_the_tree_exactly_as_it_was(signed_rsa: bytes) -> None:
    root = parse_document(signed_rsa)
    signature = find_signatures(root)[0]
    signature.tail = "\n    "  # a tail is the case lxml would otherwise move with the element
    before = etree.tostring(root.getroottree())
    enveloped_digest(signature, "sha256")
    assert etree.tostring(root.getroottree()) == before


def test_validation_leaves_the_tree_unchanged(signed_rsa: bytes, trust: TrustStore) -> None:
    root = parse_document(signed_rsa)
    before = etree.tostring(root.getroottree())
    assert validate(root, expected_organ_id=SENDER, trust=trust).passed
    assert etree.tostring(root.getroottree()) == before


def test_sign_refuses_documents_it_must_not_sign(demo_pki: Pki, signed_rsa: bytes) -> None:
    signer = demo_pki.parties["ec"].signer
    with pytest.raises(SigningError, match="already carries"):
        sign_bytes(signed_rsa, signer)
    with pytest.raises(SigningError, match="not an edXML"):
        sign_bytes(b"<root/>", signer)
    with pytest.raises(SigningError, match="DOCTYPE"):
        sign_bytes(b'<!DOCTYPE edXML [<!ENTITY x "y">]>' + make_edxml().split(b"?>", 1)[1], signer)
    with pytest.raises(SigningError, match="well-formed"):
        sign_bytes(b"<edXML", signer)
    root = parse_document(make_edxml())
    header = find_header(root)
    assert header is not None
    with pytest.raises(SigningError, match="document element"):
        sign_tree(header, signer)


def test_placeholder_signature_blocks_signing(demo_pki: Pki) -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} not present")
    root = parse_document((SAMPLES / "edoc_new.edxml").read_bytes())
    with pytest.raises(SigningError, match="already carries"):
        sign_tree(root, demo_pki.parties["ec"].signer)


@pytest.mark.slow
def test_large_attachment_signs_and_validates(demo_pki: Pki, check: Check) -> None:
    """Over libxml2's 10 MB text-node limit: needs huge_tree, and must not be copied around."""
    data = make_edxml(attachment=b"\x00\xff" * (4 * 1024 * 1024))  # ~11 MB of base64
    signed = sign_bytes(data, demo_pki.parties["ec"].signer)
    assert check(signed).passed
    tampered = signed.replace(b"AP8A/wD/", b"AP8A/wD+", 1)
    assert check(tampered).sub_indication == "HASH_FAILURE"


# --- independent verifier -------------------------------------------------------------------


def _xmlsec_verify(
    xmlsec1: str, path: Path, trusted: Path, untrusted: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            xmlsec1,
            "--verify",
            "--trusted-pem",
            str(trusted),
            "--untrusted-pem",
            str(untrusted),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("party", ["rsa", "ec"])
def test_xmlsec1_accepts_the_signature(
    demo_pki: Pki, xmlsec1: str, pem_files: dict[str, Path], tmp_path: Path, party: str
) -> None:
    path = tmp_path / "signed.edxml"
    path.write_bytes(sign_bytes(make_edxml(), demo_pki.parties[party].signer))
    result = _xmlsec_verify(xmlsec1, path, pem_files["root"], pem_files["ca"])
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr


@pytest.mark.slow
def test_xmlsec1_rejects_tampering_and_untrusted_roots(
    xmlsec1: str, pem_files: dict[str, Path], tmp_path: Path, signed_rsa: bytes
) -> None:
    """Guards the interop test itself: xmlsec1 really checks the digest and the trust root."""
    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(signed_rsa.replace("liên thông".encode(), "liên kết".encode(), 1))
    assert _xmlsec_verify(xmlsec1, tampered, pem_files["root"], pem_files["ca"]).returncode != 0
    good = tmp_path / "good.edxml"
    good.write_bytes(signed_rsa)
    assert _xmlsec_verify(xmlsec1, good, pem_files["foreign_root"], pem_files["ca"]).returncode != 0


@pytest.mark.slow
def test_xmlsec1_accepts_a_signed_sample_file(
    demo_pki: Pki, xmlsec1: str, pem_files: dict[str, Path], tmp_path: Path
) -> None:
    """A real SDK sample (double namespace declaration, 360 KB zip attachment), re-signed."""
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} not present")
    root = parse_document((SAMPLES / "edoc_new.edxml").read_bytes())
    placeholder = find_signatures(root)[0]
    parent = placeholder.getparent()
    assert parent is not None
    parent.remove(placeholder)
    sign_tree(root, demo_pki.parties["rsa"].signer)
    path = tmp_path / "edoc_new.signed.edxml"
    path.write_bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))
    result = _xmlsec_verify(xmlsec1, path, pem_files["root"], pem_files["ca"])
    assert result.returncode == 0, result.stderr


def test_keyinfo_certificates_are_each_documents_own(demo_pki: Pki) -> None:
    """The DER of a KeyInfo certificate is cached by its base64 text: each document still gets
    its own certificates, and text that does not decode is left out every time."""
    from app.signing.xmldsig import keyinfo_certificates

    der = serialization.Encoding.DER
    for party in ("rsa", "ec", "rsa"):
        signer = demo_pki.parties[party].signer
        root = parse_document(sign_bytes(make_edxml(), signer))
        assert keyinfo_certificates(root) == [
            c.public_bytes(der) for c in (signer.certificate, *signer.intermediates)
        ]
    root = parse_document(sign_bytes(make_edxml(), demo_pki.parties["rsa"].signer))
    first = root.find(f".//{{{DS_NS}}}X509Certificate")
    assert first is not None
    first.text = "not base64!"
    for _ in range(2):
        assert keyinfo_certificates(root) == [demo_pki.ca.public_bytes(der)]
    first.text = base64.b64encode(b"\x30" * 20_000).decode()  # decoded, too long to be kept
    assert keyinfo_certificates(root) == [b"\x30" * 20_000, demo_pki.ca.public_bytes(der)]
