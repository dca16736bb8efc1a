"""Validation: every failure gives its exact indication and sub-indication (SPEC section 5)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pytest
from cryptography import x509
from lxml import etree

from app.signing import TrustStore, ValidationReport, pki, validate
from app.signing.report import CHECK_NAMES, certificate_fingerprint
from app.signing.xmldsig import (
    DS_NS,
    ECDSA_SHA256,
    ENVELOPED_SIGNATURE,
    EXC_C14N,
    RSA_SHA1,
    SHA1,
    Signer,
    find_header,
    find_signatures,
    parse_document,
    sign_bytes,
)

from .conftest import DAY, NOW, OTHER, SENDER, UNBOUND, Check, Pki, craft_signature, make_edxml

DS = f"{{{DS_NS}}}"
XPATH_TRANSFORM = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT_TRANSFORM = "http://www.w3.org/TR/1999/REC-xslt-19991116"


def _signed(demo_pki: Pki, party: str = "rsa", data: bytes | None = None) -> bytes:
    return sign_bytes(data or make_edxml(), demo_pki.parties[party].signer)


def _edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = parse_document(data)
    change(root)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _expect(report: ValidationReport, indication: str, sub: str | None) -> None:
    assert (report.indication, report.sub_indication) == (indication, sub), report.to_dict()


# --- passing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("party", ["rsa", "ec"])
def test_signed_document_passes(demo_pki: Pki, check: Check, party: str) -> None:
    report = check(_signed(demo_pki, party))
    _expect(report, "TOTAL_PASSED", None)
    assert report.passed
    assert dict(report.checks) == dict.fromkeys(CHECK_NAMES, "passed")
    assert report.errors == () and report.warnings == ()
    cert = demo_pki.parties[party].cert
    assert report.signed_by is not None
    assert report.signed_by.organ_id == SENDER
    assert report.signed_by.serial == format(cert.serial_number, "x")
    assert report.signed_by.subject == cert.subject.rfc4514_string()
    assert [c.sha256 for c in report.chain] == [
        certificate_fingerprint(c) for c in (cert, demo_pki.ca, demo_pki.root)
    ]
    assert {r.type for r in report.revocation_data} == {"crl"}
    assert set(r.der for r in report.revocation_data) <= set(demo_pki.crls)
    # The sender's TraceHeader says 2026/11/26 09:30:00 in Hanoi time.
    assert report.claimed_signing_time == dt.datetime(2026, 11, 26, 2, 30, tzinfo=dt.UTC)
    assert report.policy == "lienthong-edxml-xmldsig/1"


def test_report_is_json_ready_and_round_trips(demo_pki: Pki, check: Check) -> None:
    at = NOW - dt.timedelta(minutes=1)
    report = check(_signed(demo_pki), at=at)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {
        "indication",
        "sub_indication",
        "signed_by",
        "chain",
        "claimed_signing_time",
        "best_signature_time",
        "checks",
        "errors",
        "warnings",
        "validated_at",
        "policy",
        "revocation_data",
        "attachments",  # the PDF attachments' verdicts (SPEC 5.3); none here
        "timestamp",
    }
    assert data["attachments"] == []
    assert set(data["signed_by"]) == {"subject", "serial", "issuer", "organ_id"}
    assert set(data["chain"][0]) == {
        "subject",
        "serial",
        "issuer",
        "not_before",
        "not_after",
        "sha256",
    }
    assert data["best_signature_time"] == at.isoformat().replace("+00:00", "Z")
    assert base64.b64decode(data["revocation_data"][0]["der"]) in demo_pki.crls
    assert ValidationReport.from_dict(data) == report


def test_report_dicts_of_cached_chain_parts_are_fresh_and_exact(
    demo_pki: Pki, check: Check
) -> None:
    """The chain entries' and revocation evidence's dicts are kept (the same objects come from
    the path cache for every report of a signer): each call still gets its own dict, equal to
    one computed from the fields, and different evidence gets its own."""
    from app.signing.report import RevocationEvidence

    first = check(_signed(demo_pki))
    second = check(_signed(demo_pki))  # the path cache answers: the same chain objects
    assert second.chain == first.chain and second.revocation_data == first.revocation_data
    one, two = first.to_dict(), second.to_dict()
    assert one["chain"] == two["chain"] and one["revocation_data"] == two["revocation_data"]
    one["chain"][0]["subject"] = "changed"
    one["revocation_data"][0]["der"] = "changed"
    again = second.to_dict()
    assert again["chain"] == two["chain"] and again["revocation_data"] == two["revocation_data"]
    assert again["chain"][0]["subject"] == first.chain[0].subject
    assert again["revocation_data"][0]["der"] != "changed"
    for evidence in (*first.revocation_data, RevocationEvidence("crl", b"\x30" * 70_000, "u")):
        data = evidence.to_dict()
        assert data == {
            "type": evidence.type,
            "url": evidence.url,
            "sha256": hashlib.sha256(evidence.der).hexdigest(),
            "this_update": _z(evidence.this_update),
            "next_update": _z(evidence.next_update),
            "der": base64.b64encode(evidence.der).decode(),
        }
        assert RevocationEvidence.from_dict(data) == evidence
    crl = demo_pki.crl(this_update=NOW - DAY)  # another CRL of the same issuer
    other = RevocationEvidence("crl", crl, None, NOW - DAY, NOW + DAY)
    assert other.to_dict()["der"] == base64.b64encode(crl).decode()
    assert other.to_dict()["sha256"] not in {e["sha256"] for e in two["revocation_data"]}


def _z(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def test_registered_fingerprint_binds_a_certificate_without_organization_identifier(
    demo_pki: Pki, check: Check
) -> None:
    data = _signed(demo_pki, "unbound")
    fingerprint = certificate_fingerprint(demo_pki.parties["unbound"].cert)
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)).upper()
    store = demo_pki.trust(registered_fingerprints={SENDER: {colons}})
    report = check(data, store=store)
    _expect(report, "TOTAL_PASSED", None)
    assert report.signed_by is not None and report.signed_by.organ_id == SENDER
    # Not registered: the certificate names no organization at all.
    report = check(data)
    _expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert report.checks["signer_matches_sender"] == "failed"
    # Registered for another organization only.
    report = check(data, store=demo_pki.trust(registered_fingerprints={UNBOUND: {fingerprint}}))
    _expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert report.signed_by is not None and report.signed_by.organ_id == UNBOUND


# --- content and format ----------------------------------------------------------------------


def test_tampered_text(demo_pki: Pki, check: Check) -> None:
    data = _signed(demo_pki).replace("liên thông".encode(), "liên kết".encode(), 1)
    report = check(data)
    _expect(report, "TOTAL_FAILED", "HASH_FAILURE")
    assert report.checks["digest"] == "failed"
    assert report.checks["signature"] == "passed"  # SignedInfo itself is intact
    assert [e.code for e in report.errors] == ["digest.mismatch"]


def test_tampered_attachment(demo_pki: Pki, check: Check) -> None:
    attachment = bytes(range(256)) * 8
    data = _signed(demo_pki, data=make_edxml(attachment=attachment))
    b64 = base64.b64encode(attachment)
    forged = base64.b64encode(attachment[:-1] + b"\x00")
    assert b64 in data
    _expect(check(data.replace(b64, forged)), "TOTAL_FAILED", "HASH_FAILURE")


def test_removed_signature(demo_pki: Pki, check: Check) -> None:
    def remove(root: etree._Element) -> None:
        signature = find_signatures(root)[0]
        signature.getparent().remove(signature)  # type: ignore[union-attr]

    report = check(_edit(_signed(demo_pki), remove))
    _expect(report, "NO_SIGNATURE_FOUND", None)
    assert not report.passed
    assert set(report.checks.values()) == {"not_checked"}


def test_invalid_signature_value(demo_pki: Pki, check: Check) -> None:
    def flip(root: etree._Element) -> None:
        value = find_signatures(root)[0][1]
        raw = bytearray(base64.b64decode(value.text or ""))
        raw[10] ^= 0x01
        value.text = base64.b64encode(bytes(raw)).decode()

    report = check(_edit(_signed(demo_pki), flip))
    _expect(report, "TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    assert report.checks["digest"] == "passed"
    assert report.checks["signature"] == "failed"


def _move_signature_to_body(root: etree._Element) -> None:
    signature = find_signatures(root)[0]
    body = root.find(f"{{{root.nsmap[None]}}}edXMLEnvelope/{{{root.nsmap[None]}}}edXMLBody")
    assert body is not None
    body.append(signature)


def _move_signature_to_root(root: etree._Element) -> None:
    root.append(find_signatures(root)[0])


def _wrap_signed_header_in_object(root: etree._Element) -> None:
    """Classic XSW: the signed content moves inside ds:Object, a forged one takes its place."""
    header = find_header(root)
    assert header is not None
    signature = find_signatures(root)[0]
    message = header[0]
    obj = etree.SubElement(signature, DS + "Object")
    forged = etree.fromstring(etree.tostring(message))
    obj.append(message)
    header.insert(0, forged)
    subject = forged.find(".//{*}Subject")
    assert subject is not None
    subject.text = "Văn bản giả mạo"


def _signature_before_trace_list(root: etree._Element) -> None:
    header = find_header(root)
    assert header is not None
    header.insert(1, find_signatures(root)[0])


def _second_signature(root: etree._Element) -> None:
    header = find_header(root)
    assert header is not None
    copy = etree.fromstring(etree.tostring(find_signatures(root)[0]))
    header.getparent().append(copy)  # type: ignore[union-attr]


def _foreign_signature_element(root: etree._Element) -> None:
    header = find_header(root)
    assert header is not None
    header.getparent().append(etree.Element("{urn:evil}Signature"))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_move_signature_to_body, "format.placement"),
        (_move_signature_to_root, "format.placement"),
        (_signature_before_trace_list, "format.placement"),
        (_wrap_signed_header_in_object, "format.shape"),
        (_second_signature, "format.signature_count"),
        (_foreign_signature_element, "format.signature_count"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_signature_wrapping_is_a_format_failure(
    demo_pki: Pki, check: Check, change: Callable[[etree._Element], None], code: str
) -> None:
    report = check(_edit(_signed(demo_pki), change))
    _expect(report, "TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.checks["format"] == "failed"
    assert all(report.checks[c] == "not_checked" for c in CHECK_NAMES[1:])
    assert report.errors[0].code == code


def _set_id(root: etree._Element) -> None:
    header = find_header(root)
    assert header is not None
    header[0].set("Id", "msg")


def _c14n_of_id(root: etree._Element) -> bytes:
    target = cast(list[etree._Element], root.xpath("//*[@Id='msg']"))[0]
    return etree.tostring(target, method="c14n", exclusive=True)


def _duplicate_ids(root: etree._Element) -> None:
    header = find_header(root)
    assert header is not None
    header[0].set("Id", "dup")
    header[1].set("ID", "dup")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        # A cryptographically valid signature over one element referenced by Id.
        (
            {"uri": "#msg", "before_signing": _set_id, "digest_target": _c14n_of_id},
            "format.reference_uri",
        ),
        (
            {
                "transforms": (ENVELOPED_SIGNATURE,),
                "extra_transform_xml": f'<ds:Transform Algorithm="{XPATH_TRANSFORM}">'
                "<ds:XPath>not(ancestor-or-self::*)</ds:XPath></ds:Transform>"
                f'<ds:Transform Algorithm="{EXC_C14N}"/>',
            },
            "format.transforms",
        ),
        (
            {"extra_transform_xml": f'<ds:Transform Algorithm="{XSLT_TRANSFORM}"/>'},
            "format.transforms",
        ),
        ({"transforms": (EXC_C14N, ENVELOPED_SIGNATURE)}, "format.transforms"),
        ({"transforms": (ENVELOPED_SIGNATURE,)}, "format.transforms"),
        ({"before_signing": _duplicate_ids}, "format.duplicate_id"),
        (
            {"signature_method": "http://www.w3.org/2000/09/xmldsig#hmac-sha1"},
            "format.signature_method",
        ),
    ],
    ids=["id-reference", "xpath", "xslt", "transform-order", "no-c14n", "duplicate-ids", "hmac"],
)
def test_crafted_signature_shapes_are_format_failures(
    demo_pki: Pki, check: Check, kwargs: dict[str, object], code: str
) -> None:
    party = demo_pki.parties["rsa"]
    if "hmac" in str(kwargs.get("signature_method", "")):
        data = _signed(demo_pki)
        data = data.replace(
            b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            b"http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        )
    else:
        data = craft_signature(make_edxml(), party.key, [party.cert, demo_pki.ca], **kwargs)  # type: ignore[arg-type]
    report = check(data)
    _expect(report, "TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.errors[0].code == code


def test_second_reference_is_a_format_failure(demo_pki: Pki, check: Check) -> None:
    def add_reference(root: etree._Element) -> None:
        signed_info = find_signatures(root)[0][0]
        signed_info.append(etree.fromstring(etree.tostring(signed_info[2])))

    report = check(_edit(_signed(demo_pki), add_reference))
    _expect(report, "TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.errors[0].code == "format.reference_count"


def test_signature_outside_edxml_and_bad_certificates(demo_pki: Pki, check: Check) -> None:
    data = _signed(demo_pki)
    signature = etree.tostring(find_signatures(parse_document(data))[0])
    report = check(b"<doc>" + signature + b"</doc>")
    _expect(report, "TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.errors[0].code == "format.not_edxml"

    def garble(root: etree._Element) -> None:
        cert = find_signatures(root)[0].find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
        assert cert is not None
        cert.text = base64.b64encode(b"not a certificate").decode()

    report = check(_edit(data, garble))
    _expect(report, "TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.errors[0].code == "format.certificate"


def test_missing_key_info_is_no_signing_certificate(demo_pki: Pki, check: Check) -> None:
    def drop_key_info(root: etree._Element) -> None:
        signature = find_signatures(root)[0]
        signature.remove(signature[2])

    report = check(_edit(_signed(demo_pki), drop_key_info))
    _expect(report, "INDETERMINATE", "NO_SIGNING_CERTIFICATE_FOUND")
    assert report.checks["digest"] == "passed"


# --- algorithms ------------------------------------------------------------------------------


def test_sha1_signature(demo_pki: Pki, check: Check) -> None:
    party = demo_pki.parties["rsa"]
    data = craft_signature(
        make_edxml(),
        party.key,
        [party.cert, demo_pki.ca],
        signature_method=RSA_SHA1,
        digest_method=SHA1,
        hash_name="sha1",
    )
    report = check(data)
    _expect(report, "INDETERMINATE", "CRYPTO_CONSTRAINTS_FAILURE")
    # Mathematically correct, just not acceptable any more.
    assert report.checks["digest"] == "passed"
    assert report.checks["signature"] == "passed"
    assert report.checks["algorithm"] == "failed"
    assert {e.code for e in report.errors} == {"algorithm.sha1"}


def test_rsa_1024_key(demo_pki: Pki, check: Check) -> None:
    report = check(_signed(demo_pki, "rsa1024"))
    _expect(report, "INDETERMINATE", "CRYPTO_CONSTRAINTS_FAILURE")
    assert report.checks["signature"] == "passed"
    assert [e.code for e in report.errors] == ["algorithm.key_size"]


# --- certificates ----------------------------------------------------------------------------


def test_certificate_from_an_unknown_ca(demo_pki: Pki, check: Check) -> None:
    """KeyInfo carries a complete chain to a look-alike root; only configured anchors count."""
    party = demo_pki.parties["foreign"]
    assert demo_pki.foreign_root is not None
    assert demo_pki.foreign_root.subject == demo_pki.root.subject
    chain = [party.cert, *party.chain]  # the look-alike root included
    report = check(craft_signature(make_edxml(), party.key, chain))
    _expect(report, "INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert report.checks["signature"] == "passed"
    assert report.checks["chain"] == "indeterminate"
    assert report.checks["validity"] == "not_checked"
    assert [w.code for w in report.warnings] == ["chain.as_presented"]
    assert len(report.chain) == 3


def test_expired_certificate(demo_pki: Pki, check: Check) -> None:
    data = _signed(demo_pki, "expired")
    report = check(data)
    _expect(report, "INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    assert report.checks["validity"] == "indeterminate"
    # With proof that the document existed while the certificate was valid, it passes.
    _expect(check(data, at=NOW - 60 * DAY), "TOTAL_PASSED", None)


def test_not_yet_valid_certificate(demo_pki: Pki, check: Check) -> None:
    report = check(_signed(demo_pki, "future"))
    _expect(report, "TOTAL_FAILED", "NOT_YET_VALID")
    assert report.checks["validity"] == "failed"


def _issued_under(
    demo_pki: Pki, ca_key: pki.PrivateKey, ca: x509.Certificate, *chain: x509.Certificate
) -> tuple[bytes, TrustStore]:
    """A document signed under `ca` (an extra CA), and a store holding a CRL for that CA."""
    key, cert = pki.issue_org_certificate(ca_key, ca, SENDER, "UBND Tỉnh Long An")
    data = sign_bytes(make_edxml(), Signer(key, cert, [ca, *chain]))
    crl = pki.build_crl(ca_key, ca, [], NOW - dt.timedelta(hours=1), NOW + 7 * DAY)
    return data, demo_pki.trust(crls=[*demo_pki.crls, crl])


def test_weak_key_in_the_chain_is_a_crypto_constraints_failure(demo_pki: Pki) -> None:
    """The signer's own key and hashes are fine; its CA's 1024-bit key is not."""
    ca_key, ca = pki.create_issuing_ca(
        demo_pki.root_key, demo_pki.root, "Weak Issuing CA", key_size=1024, not_before=NOW - DAY
    )
    data, store = _issued_under(demo_pki, ca_key, ca)
    report = validate(parse_document(data), expected_organ_id=SENDER, trust=store, at=NOW)
    _expect(report, "INDETERMINATE", "CRYPTO_CONSTRAINTS_FAILURE")
    assert report.checks["algorithm"] == "failed"
    assert report.checks["chain"] == "indeterminate"
    assert [e.code for e in report.errors] == ["algorithm.chain"]


def test_path_length_violation_is_a_chain_general_failure(demo_pki: Pki) -> None:
    """The issuing CA may not issue CAs (path length 0); a sub-CA under it breaks the path."""
    sub_key, sub = pki.create_issuing_ca(
        demo_pki.ca_key, demo_pki.ca, "Sub CA", not_before=NOW - DAY
    )
    data, store = _issued_under(demo_pki, sub_key, sub, demo_pki.ca)
    report = validate(parse_document(data), expected_organ_id=SENDER, trust=store, at=NOW)
    _expect(report, "INDETERMINATE", "CERTIFICATE_CHAIN_GENERAL_FAILURE")
    assert report.checks["chain"] == "indeterminate"
    assert report.checks["validity"] == report.checks["revocation"] == "not_checked"
    assert [e.code for e in report.errors] == ["chain.invalid"]
    # The path certvalidator refused is described, signer first, anchor last.
    assert [c.subject for c in report.chain[1:]] == [
        c.subject.rfc4514_string() for c in (sub, demo_pki.ca, demo_pki.root)
    ]


def test_revoked_certificate(demo_pki: Pki, check: Check) -> None:
    data = _signed(demo_pki, "revoked")
    report = check(data)
    _expect(report, "TOTAL_FAILED", "REVOKED")
    assert report.checks["revocation"] == "failed"
    assert report.checks["chain"] == "passed"
    assert any(r.der == demo_pki.crls[1] for r in report.revocation_data)
    # Revoked two hours ago: a document the hub received three hours ago still passes.
    _expect(check(data, at=NOW - dt.timedelta(hours=3)), "TOTAL_PASSED", None)


def test_wrong_key_usage(demo_pki: Pki, check: Check) -> None:
    report = check(_signed(demo_pki, "encipher"))
    _expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert report.checks["key_usage"] == "failed"
    assert report.checks["signer_matches_sender"] == "passed"


def test_signer_of_another_organization(demo_pki: Pki, check: Check) -> None:
    data = _signed(demo_pki, "other")
    report = check(data)
    _expect(report, "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert report.checks["signer_matches_sender"] == "failed"
    assert report.signed_by is not None and report.signed_by.organ_id == OTHER
    assert [e.code for e in report.errors] == ["signer.organ_mismatch"]
    _expect(check(data, organ=OTHER), "TOTAL_PASSED", None)


def test_no_fresh_crl_is_try_later(demo_pki: Pki, check: Check) -> None:
    stale = demo_pki.crl(this_update=NOW - 9 * DAY, next_update=NOW - DAY)
    data = _signed(demo_pki)
    report = check(data, store=demo_pki.trust(crls=[demo_pki.crls[0], stale]))
    _expect(report, "INDETERMINATE", "TRY_LATER")
    assert report.checks["revocation"] == "indeterminate"
    # No CRL at all for the issuing CA.
    report = check(data, store=demo_pki.trust(crls=[demo_pki.crls[0]]))
    _expect(report, "INDETERMINATE", "TRY_LATER")
    # ... nor for the root's subordinate (the issuing CA itself).
    report = check(data, store=demo_pki.trust(crls=[demo_pki.crls[1]]))
    _expect(report, "INDETERMINATE", "TRY_LATER")


def test_failures_take_precedence_over_indeterminate(demo_pki: Pki, check: Check) -> None:
    """An unknown CA (INDETERMINATE) with tampered content (FAILED) is TOTAL_FAILED."""
    data = _signed(demo_pki, "foreign").replace("liên thông".encode(), "liên kết".encode(), 1)
    report = check(data)
    _expect(report, "TOTAL_FAILED", "HASH_FAILURE")
    assert report.checks["chain"] == "indeterminate"


def test_naive_time_is_refused(demo_pki: Pki, check: Check) -> None:
    with pytest.raises(ValueError, match="timezone"):
        check(_signed(demo_pki), at=dt.datetime(2026, 1, 1))


# --- OCSP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ocsp_material(demo_pki: Pki) -> dict[str, bytes]:
    key, responder = pki.issue_ocsp_responder_certificate(
        demo_pki.ca_key, demo_pki.ca, "Demo OCSP responder", not_before=NOW - 10 * DAY
    )
    party = demo_pki.parties["ocsp"]

    def response(revoked_at: dt.datetime | None) -> bytes:
        return pki.build_ocsp_response(
            key,
            responder,
            party.cert,
            demo_pki.ca,
            this_update=NOW - dt.timedelta(minutes=10),
            next_update=NOW + DAY,
            revoked_at=revoked_at,
        )

    return {"good": response(None), "revoked": response(NOW - dt.timedelta(hours=1))}


def test_ocsp_good(demo_pki: Pki, check: Check, ocsp_material: dict[str, bytes]) -> None:
    report = check(
        _signed(demo_pki, "ocsp"), store=demo_pki.trust(ocsp_responses=[ocsp_material["good"]])
    )
    _expect(report, "TOTAL_PASSED", None)
    assert ("ocsp", ocsp_material["good"]) in {(r.type, r.der) for r in report.revocation_data}


def test_ocsp_revoked(demo_pki: Pki, check: Check, ocsp_material: dict[str, bytes]) -> None:
    """The CRL does not list it, the responder says revoked: revoked."""
    report = check(
        _signed(demo_pki, "ocsp"), store=demo_pki.trust(ocsp_responses=[ocsp_material["revoked"]])
    )
    _expect(report, "TOTAL_FAILED", "REVOKED")


def test_ocsp_named_but_absent_falls_back_to_the_crl(demo_pki: Pki, check: Check) -> None:
    _expect(check(_signed(demo_pki, "ocsp")), "TOTAL_PASSED", None)


# --- the cache and concurrency ---------------------------------------------------------------


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = TrustStore._compute_chain

    def counted(self: TrustStore, *args: object, **kwargs: object):
        calls.append(1)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TrustStore, "_compute_chain", counted)
    return calls


def test_path_validation_is_cached_per_signer(
    demo_pki: Pki, check: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    store = demo_pki.trust()
    for i in range(5):
        data = _signed(demo_pki, data=make_edxml(attachment=bytes([i]) * 100))
        _expect(check(data, store=store), "TOTAL_PASSED", None)
    assert len(calls) == 1
    assert store.cache_stats()["entries"] == 1
    _expect(check(_signed(demo_pki, "ec"), store=store), "TOTAL_PASSED", None)
    assert len(calls) == 2


def test_cached_result_does_not_outlive_the_crl(
    demo_pki: Pki, check: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    store = demo_pki.trust()
    data = _signed(demo_pki)
    _expect(check(data, store=store), "TOTAL_PASSED", None)
    # Past the CRLs' nextUpdate the cached answer no longer applies.
    _expect(check(data, store=store, at=NOW + 8 * DAY), "INDETERMINATE", "TRY_LATER")
    assert len(calls) == 2


def test_new_crl_makes_a_new_store(demo_pki: Pki, check: Check) -> None:
    store = demo_pki.trust()
    data = _signed(demo_pki, "ec")
    _expect(check(data, store=store), "TOTAL_PASSED", None)
    serial = demo_pki.parties["ec"].cert.serial_number
    updated = store.with_crl(demo_pki.crl([(serial, NOW - dt.timedelta(minutes=30))]))
    assert updated.identity != store.identity
    assert len(updated.crls) == len(store.crls)  # replaced the issuing CA's CRL, not added
    _expect(check(data, store=updated), "TOTAL_FAILED", "REVOKED")
    _expect(check(data, store=store), "TOTAL_PASSED", None)  # the old store is unchanged


def test_concurrent_validation(demo_pki: Pki, trust: TrustStore) -> None:
    documents = [
        _signed(demo_pki, party, make_edxml(attachment=bytes([i]) * 50))
        for i, party in enumerate(["rsa", "ec", "other", "rsa"] * 5)
    ]
    expected = {"rsa": "TOTAL_PASSED", "ec": "TOTAL_PASSED", "other": "TOTAL_FAILED"}
    parties = ["rsa", "ec", "other", "rsa"] * 5
    store = demo_pki.trust()
    barrier = threading.Barrier(4)

    def run(index: int) -> str:
        if index < 4:
            barrier.wait()
        root = parse_document(documents[index])
        return validate(root, expected_organ_id=SENDER, trust=store).indication

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(len(documents))))
    assert results == [expected[p] for p in parties]


def test_validate_inside_an_event_loop(demo_pki: Pki, trust: TrustStore) -> None:
    data = _signed(demo_pki, "ec")

    async def handler() -> str:
        store = demo_pki.trust()  # fresh store: the path validation really runs
        return validate(parse_document(data), expected_organ_id=SENDER, trust=store).indication

    assert asyncio.run(handler()) == "TOTAL_PASSED"


def test_comments_are_not_signed_and_are_flagged(demo_pki: Pki, trust: TrustStore) -> None:
    """Comments are outside the signed data (URI=""): still valid, but the hub is warned."""
    data = _signed(demo_pki).replace("liên thông".encode(), "liên<!-- x --> thông".encode(), 1)
    root = etree.fromstring(data)  # a parser that keeps comments
    report = validate(root, expected_organ_id=SENDER, trust=trust)
    _expect(report, "TOTAL_PASSED", None)
    assert [w.code for w in report.warnings] == ["document.comments"]
    # The module's own parser drops them.
    assert not list(parse_document(data).iter(etree.Comment))


@pytest.mark.parametrize(("prefix", "pretty"), [("ds", True), ("", False), ("", True)])
def test_other_serializations_of_the_profile_pass(
    demo_pki: Pki, check: Check, prefix: str, pretty: bool
) -> None:
    """Other signers indent SignedInfo or use a default namespace: same profile, still valid."""
    party = demo_pki.parties["rsa"]
    data = craft_signature(
        make_edxml(), party.key, [party.cert, demo_pki.ca], prefix=prefix, pretty=pretty
    )
    _expect(check(data), "TOTAL_PASSED", None)


def test_comment_inside_signed_info_is_ignored(demo_pki: Pki, trust: TrustStore) -> None:
    data = _signed(demo_pki).replace(b"<ds:Reference ", b"<!-- note --><ds:Reference ", 1)
    report = validate(etree.fromstring(data), expected_organ_id=SENDER, trust=trust)
    _expect(report, "TOTAL_PASSED", None)


def test_claimed_signing_time_sources(demo_pki: Pki, check: Check) -> None:
    from app.signing.validation import claimed_signing_time

    # Another organization's trace entry is not the sender's claim.
    data = make_edxml().replace(
        f"<edXML:TraceHeader><edXML:OrganId>{SENDER}".encode(),
        f"<edXML:TraceHeader><edXML:OrganId>{OTHER}".encode(),
    )
    assert claimed_signing_time(parse_document(data)) is None
    # Status messages carry MessageHeader/Timestamp.
    status = data.replace(
        b"</edXML:MessageHeader>",
        b"<edXML:Timestamp>2015/09/20 11:08:36</edXML:Timestamp></edXML:MessageHeader>",
    )
    assert claimed_signing_time(parse_document(status)) == dt.datetime(
        2015, 9, 20, 4, 8, 36, tzinfo=dt.UTC
    )
    # An unreadable claim is a warning, never a failure.
    report = check(_signed(demo_pki, data=make_edxml(trace_time="26/11/2026 9h30")))
    _expect(report, "TOTAL_PASSED", None)
    assert report.claimed_signing_time is None
    assert [w.code for w in report.warnings] == ["claimed_signing_time.unparseable"]


def test_revoked_issuing_ca(demo_pki: Pki, check: Check) -> None:
    root_crl = pki.build_crl(
        demo_pki.root_key,
        demo_pki.root,
        [(demo_pki.ca.serial_number, NOW - dt.timedelta(hours=1))],
        NOW - dt.timedelta(minutes=30),
        NOW + DAY,
    )
    store = demo_pki.trust(crls=[root_crl, demo_pki.crls[1]])
    report = check(_signed(demo_pki, "ec"), store=store)
    _expect(report, "TOTAL_FAILED", "REVOKED")
    assert root_crl in {r.der for r in report.revocation_data}


def test_too_many_keyinfo_certificates(demo_pki: Pki, check: Check) -> None:
    party = demo_pki.parties["ec"]
    data = craft_signature(
        make_edxml(), party.key, [party.cert] + [demo_pki.ca] * 8, signature_method=ECDSA_SHA256
    )
    report = check(data)
    _expect(report, "TOTAL_FAILED", "FORMAT_FAILURE")
    assert report.errors[0].code == "format.key_info"


def test_policy_without_revocation_checking(demo_pki: Pki) -> None:
    """An explicit policy choice (e.g. an offline re-check), recorded in the report."""
    from app.signing import Policy

    policy = Policy(name="offline", revocation_mode="none")
    store = demo_pki.trust(crls=[])
    report = validate(
        parse_document(_signed(demo_pki)), expected_organ_id=SENDER, trust=store, policy=policy
    )
    _expect(report, "TOTAL_PASSED", None)
    assert report.checks["revocation"] == "not_checked"
    assert report.policy == "offline/1"
