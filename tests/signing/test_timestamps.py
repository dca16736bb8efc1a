"""RFC 3161 timestamps, pure (SPEC 5.2): request, the TSA's answer, and the token's checks.

`openssl ts -verify` is the independent verifier (skip, or fail with LIENTHONG_REQUIRE_TOOLS,
when openssl is missing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.signing import TrustStore, pki
from app.signing.pki import PrivateKey
from app.signing.timestamps import (
    TimestampAuthority,
    TimestampError,
    build_request,
    imprint_of,
    parse_response,
    read_token,
    verify_token,
)

REQUIRE_TOOLS = bool(os.environ.get("LIENTHONG_REQUIRE_TOOLS") or os.environ.get("CI"))
SIGNATURE_VALUE = b"\x01\x02 the decoded SignatureValue bytes \xff" * 8


@dataclasses.dataclass
class Tsa:
    root: tuple[PrivateKey, x509.Certificate]
    issuing: tuple[PrivateKey, x509.Certificate]
    authority: TimestampAuthority
    trust: TrustStore

    def bundle(self) -> bytes:
        return pki.cert_to_pem(self.issuing[1]) + pki.cert_to_pem(self.root[1])


@pytest.fixture(scope="module")
def tsa() -> Tsa:
    root = pki.create_root_ca("TSA Test Root", key_size=2048)
    issuing = pki.create_issuing_ca(root[0], root[1], "TSA Test Issuing CA")
    key, cert = pki.issue_tsa_certificate(issuing[0], issuing[1], "TSA Test")
    now = dt.datetime.now(dt.UTC)  # not the import time: xdist may run this much later
    crls = [
        pki.build_crl(k, c, [], now - dt.timedelta(hours=1), now + dt.timedelta(days=7))
        for k, c in (root, issuing)
    ]
    trust = TrustStore([root[1]], [issuing[1]], crls)
    return Tsa(root, issuing, TimestampAuthority(key, cert), trust)


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    if shutil.which("openssl") is None:
        if REQUIRE_TOOLS:
            pytest.fail("openssl is required here (Debian package openssl)")
        pytest.skip("openssl not installed (Debian package openssl)")
    return subprocess.run(["openssl", *args], input=data, capture_output=True)


def openssl_verify_token(
    token_der: bytes, digest: bytes, ca_pem: bytes, tmp: Path
) -> subprocess.CompletedProcess[bytes]:
    """`openssl ts -verify` of a stored token against a SHA-256 digest and a CA bundle."""
    (tmp / "token.der").write_bytes(token_der)
    (tmp / "ca.pem").write_bytes(ca_pem)
    return openssl(
        "ts", "-verify", "-token_in", "-in", str(tmp / "token.der"),
        "-digest", digest.hex(), "-CAfile", str(tmp / "ca.pem"),
    )  # fmt: skip


def test_the_tsa_certificate_has_only_a_critical_timestamping_usage(tsa: Tsa) -> None:
    ext = tsa.authority.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert ext.critical
    assert list(ext.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_a_response_to_our_request_verifies_here_and_with_openssl(tsa: Tsa, tmp_path: Path) -> None:
    imprint = imprint_of(SIGNATURE_VALUE)
    request, nonce = build_request(imprint)
    response = tsa.authority.respond(request)
    token_der = parse_response(response, imprint=imprint, nonce=nonce)
    token = verify_token(token_der, imprint, tsa.trust)
    assert token.tsa == tsa.authority.name
    assert abs(token.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    info = cms.ContentInfo.load(token_der)["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == nonce
    assert format(info["serial_number"].native, "x") == token.serial

    (tmp_path / "ca.pem").write_bytes(tsa.bundle())
    (tmp_path / "resp.tsr").write_bytes(response)
    (tmp_path / "token.der").write_bytes(token_der)
    (tmp_path / "sig.bin").write_bytes(SIGNATURE_VALUE)
    ca = str(tmp_path / "ca.pem")
    by_data = openssl(
        "ts", "-verify", "-in", str(tmp_path / "resp.tsr"), "-data", str(tmp_path / "sig.bin"),
        "-CAfile", ca,
    )  # fmt: skip
    assert by_data.returncode == 0, by_data.stderr
    by_token = openssl(
        "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
        "-digest", imprint.hex(), "-CAfile", ca,
    )  # fmt: skip
    assert by_token.returncode == 0, by_token.stderr
    other = openssl(
        "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der"),
        "-digest", hashlib.sha256(b"another signature").hexdigest(), "-CAfile", ca,
    )  # fmt: skip
    assert other.returncode != 0


@pytest.mark.parametrize("nonce", [0, 127, 128, 255, 2**62, 2**63 - 1])
def test_a_token_is_the_canonical_der_asn1crypto_would_write(tsa: Tsa, nonce: int) -> None:
    """The TSA writes its tokens' DER by hand (speed): asn1crypto, re-encoding every value it
    parsed from them, must get the same bytes, and the values asked for."""
    imprint = imprint_of(SIGNATURE_VALUE + bytes([nonce % 256]))
    when = dt.datetime.now(dt.UTC).replace(microsecond=678)  # inside the certificate's life
    request, _ = build_request(imprint, nonce=nonce)
    answered = parse_response(
        tsa.authority.respond(request, now=when), imprint=imprint, nonce=nonce
    )
    stamped = tsa.authority.stamp(imprint, now=when).der
    for der, expected_nonce in ((answered, nonce), (stamped, None)):
        parsed = cms.ContentInfo.load(der)
        assert parsed.dump(force=True) == der
        signed = parsed["content"]
        info = signed["encap_content_info"]["content"].parsed
        assert info.dump(force=True) == info.dump()
        assert info["message_imprint"]["hashed_message"].native == imprint
        assert info["gen_time"].native == when.replace(microsecond=0)
        assert info["nonce"].native == expected_nonce
        attrs = signed["signer_infos"][0]["signed_attrs"]
        assert attrs.dump(force=True) == attrs.dump()
        assert verify_token(der, imprint, tsa.trust).gen_time == when.replace(microsecond=0)


def test_an_openssl_query_is_answered(tsa: Tsa, tmp_path: Path) -> None:
    (tmp_path / "sig.bin").write_bytes(SIGNATURE_VALUE)
    query = openssl("ts", "-query", "-data", str(tmp_path / "sig.bin"), "-sha256", "-cert")
    assert query.returncode == 0, query.stderr
    response = tsa.authority.respond(query.stdout)
    (tmp_path / "resp.tsr").write_bytes(response)
    (tmp_path / "ca.pem").write_bytes(tsa.bundle())
    ok = openssl(
        "ts", "-verify", "-in", str(tmp_path / "resp.tsr"), "-data", str(tmp_path / "sig.bin"),
        "-CAfile", str(tmp_path / "ca.pem"),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def _status(response: bytes) -> tuple[str, set[str]]:
    status = tsp.PKIStatusInfo.load(core.Sequence.load(response)[0].dump())
    return status["status"].native, set(status["fail_info"].native or ())


@pytest.mark.parametrize(
    ("query", "failure"),
    [
        (b"", "bad_data_format"),
        (b"not DER at all", "bad_data_format"),
        (b"\x30\x03\x02\x01\x01", "bad_data_format"),  # version only
        (b"\x30" + b"\x82\x20\x00" + b"\x00" * 0x2000, "bad_data_format"),  # too large
    ],
)
def test_a_bad_query_is_a_rejection_not_an_exception(tsa: Tsa, query: bytes, failure: str) -> None:
    response = tsa.authority.respond(query)
    status, failures = _status(response)
    assert status == "rejection"
    assert failures == {failure}
    with pytest.raises(TimestampError) as refused:
        parse_response(response, imprint=imprint_of(b"x"), nonce=1)
    assert refused.value.code == "timestamp.rejected"


def test_an_unaccepted_hash_or_policy_is_refused_by_name(tsa: Tsa) -> None:
    sha1 = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": hashlib.sha1(b"x").digest(),
            },
        }
    ).dump()
    assert _status(tsa.authority.respond(sha1)) == ("rejection", {"bad_alg"})
    policy = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(b"x").digest(),
            },
            "req_policy": "1.2.3.4",
        }
    ).dump()
    assert _status(tsa.authority.respond(policy)) == ("rejection", {"unaccepted_policy"})
    short = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"too short",
            },
        }
    ).dump()
    assert _status(tsa.authority.respond(short)) == ("rejection", {"bad_data_format"})


def test_a_token_over_another_signature_is_refused(tsa: Tsa) -> None:
    token = tsa.authority.stamp(imprint_of(SIGNATURE_VALUE))
    with pytest.raises(TimestampError) as refused:
        verify_token(token.der, imprint_of(b"another"), tsa.trust)
    assert refused.value.code == "timestamp.imprint"
    request, nonce = build_request(imprint_of(SIGNATURE_VALUE))
    response = tsa.authority.respond(request)
    with pytest.raises(TimestampError) as replayed:
        parse_response(response, imprint=imprint_of(SIGNATURE_VALUE), nonce=nonce + 1)
    assert replayed.value.code == "timestamp.nonce"


def test_a_changed_token_is_refused(tsa: Tsa) -> None:
    imprint = imprint_of(SIGNATURE_VALUE)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)  # within the TSA certificate's life
    token = tsa.authority.stamp(imprint, now=now)
    stamp = now.strftime("%Y%m%d%H%M%S").encode()
    assert token.der.count(stamp) >= 1
    moved = token.der.replace(
        stamp, (now - dt.timedelta(days=365)).strftime("%Y%m%d%H%M%S").encode(), 1
    )
    with pytest.raises(TimestampError) as refused:
        verify_token(moved, imprint, tsa.trust)
    assert refused.value.code == "timestamp.digest"
    assert verify_token(token.der, imprint, tsa.trust).gen_time == now


def test_a_token_signed_by_a_certificate_without_timestamping_usage_is_refused(tsa: Tsa) -> None:
    key, cert = pki.issue_org_certificate(
        tsa.issuing[0], tsa.issuing[1], "000.00.00.H39", "Not a TSA", key_type="ec"
    )
    impostor = TimestampAuthority(key, cert)
    imprint = imprint_of(SIGNATURE_VALUE)
    with pytest.raises(TimestampError) as refused:
        verify_token(impostor.stamp(imprint).der, imprint, tsa.trust)
    assert refused.value.code == "timestamp.usage"


def test_a_tsa_outside_the_trust_store_is_refused(tsa: Tsa) -> None:
    root = pki.create_root_ca("Elsewhere", key_size=2048)
    key, cert = pki.issue_tsa_certificate(root[0], root[1], "Elsewhere TSA")
    imprint = imprint_of(SIGNATURE_VALUE)
    stranger = TimestampAuthority(key, cert).stamp(imprint)
    assert read_token(stranger.der).tsa == cert.subject.rfc4514_string()
    with pytest.raises(TimestampError) as refused:
        verify_token(stranger.der, imprint, tsa.trust)
    assert refused.value.code == "timestamp.untrusted"


def test_an_rsa_tsa_works_too(tsa: Tsa) -> None:
    key, cert = pki.issue_tsa_certificate(
        tsa.issuing[0], tsa.issuing[1], "RSA TSA", key=pki.generate_key("rsa")
    )
    imprint = imprint_of(SIGNATURE_VALUE)
    token = TimestampAuthority(key, cert).stamp(imprint)
    assert verify_token(token.der, imprint, tsa.trust).serial == token.serial


def test_a_token_from_openssls_tsa_verifies_here(tsa: Tsa, tmp_path: Path) -> None:
    """Another implementation's token (what a remote TSA_URL answers) passes the same checks."""
    from cryptography.hazmat.primitives import serialization

    key, cert = pki.issue_tsa_certificate(tsa.issuing[0], tsa.issuing[1], "OpenSSL TSA")
    (tmp_path / "tsa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "tsa.pem").write_bytes(pki.cert_to_pem(cert))
    (tmp_path / "serial").write_text("01\n")
    (tmp_path / "tsa.cnf").write_text(
        "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\n"
        f"serial = {tmp_path / 'serial'}\nsigner_cert = {tmp_path / 'tsa.pem'}\n"
        f"signer_key = {tmp_path / 'tsa.key'}\nsigner_digest = sha256\n"
        "default_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\n"
        "ess_cert_id_alg = sha256\n"
    )
    imprint = imprint_of(SIGNATURE_VALUE)
    request, nonce = build_request(imprint)
    (tmp_path / "q.tsq").write_bytes(request)
    reply = openssl(
        "ts", "-reply", "-config", str(tmp_path / "tsa.cnf"),
        "-queryfile", str(tmp_path / "q.tsq"), "-out", str(tmp_path / "r.tsr"),
    )  # fmt: skip
    assert reply.returncode == 0, reply.stderr
    token_der = parse_response((tmp_path / "r.tsr").read_bytes(), imprint=imprint, nonce=nonce)
    token = verify_token(token_der, imprint, tsa.trust)
    assert token.tsa == cert.subject.rfc4514_string()
    assert int(token.serial, 16) == int((tmp_path / "serial").read_text(), 16)  # the one it used
    with pytest.raises(TimestampError):
        verify_token(token_der, imprint_of(b"other"), tsa.trust)
