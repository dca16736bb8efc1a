"""What makes an answer usable, one rule at a time (app/revocation/checks.py): RSASSA-PSS
signatures with the SHA-2 family, OCSP nonces, the scope of a CRL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asn1crypto import algos
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from app.revocation import checks

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DER = serialization.Encoding.DER


def _cert(cn: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any, ca: bool) -> Any:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def rsa_ca() -> tuple[Any, x509.Certificate, x509.Certificate]:
    """An RSA CA (its key), its certificate, and an end-entity certificate it issued."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("RSA CA", key, None, key, ca=True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, ca, _cert("Leaf", leaf_key, ca, key, ca=False)


def _pss(digest: str, salt: int) -> algos.SignedDigestAlgorithm:
    return algos.SignedDigestAlgorithm(
        {
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": digest},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": digest},
                    },
                    "salt_length": salt,
                }
            ),
        }
    )


def _ocsp_answer(key: Any, ca: x509.Certificate, leaf: x509.Certificate, pss: str | None) -> bytes:
    """An answer signed by the CA itself; with `pss` (a hash name), re-signed with RSASSA-PSS
    (cryptography's builder signs PKCS#1 v1.5 only; asn1crypto rewrites the structure)."""
    der = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=ca,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW - dt.timedelta(minutes=1),
            next_update=NOW + dt.timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
        .sign(key, hashes.SHA256())
        .public_bytes(DER)
    )
    if pss is None:
        return der
    algorithm = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}[pss]()
    basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"].dump()
    basic["signature_algorithm"] = _pss(pss, algorithm.digest_size)
    basic["signature"] = key.sign(
        tbs, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm
    )
    response = asn1_ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    )
    return bytes(response.dump(force=True))


def test_an_ocsp_answer_signed_with_rsassa_pss_is_accepted(rsa_ca: Any) -> None:
    key, ca, leaf = rsa_ca
    plain = _ocsp_answer(key, ca, leaf, None)
    pss = _ocsp_answer(key, ca, leaf, "sha256")
    assert ocsp.load_der_ocsp_response(pss).signature_algorithm_oid.dotted_string == (
        "1.2.840.113549.1.1.10"
    )
    for der in (plain, pss):
        window = checks.check_ocsp(der, leaf.serial_number, ca, NOW)
        assert window.this_update < NOW < window.next_update


def test_rsassa_pss_over_sha1_is_refused(rsa_ca: Any) -> None:
    key, ca, leaf = rsa_ca
    with pytest.raises(checks.Unusable, match="signed neither by the issuer"):
        checks.check_ocsp(_ocsp_answer(key, ca, leaf, "sha1"), leaf.serial_number, ca, NOW)


def test_a_crl_signed_with_rsassa_pss_is_accepted(rsa_ca: Any) -> None:
    key, ca, _ = rsa_ca
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(NOW - dt.timedelta(minutes=1))
        .next_update(NOW + dt.timedelta(hours=1))
        .sign(
            key,
            hashes.SHA256(),
            rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
        )
    )
    assert checks.check_crl(crl.public_bytes(DER), ca, NOW).next_update > NOW


def test_a_renewal_asks_the_same_question_with_a_new_nonce(rsa_ca: Any) -> None:
    _, ca, leaf = rsa_ca
    first = checks.ocsp_request(leaf, ca)
    again = checks.renewed_request(first)
    a, b = ocsp.load_der_ocsp_request(first), ocsp.load_der_ocsp_request(again)
    assert (a.serial_number, a.issuer_name_hash, a.issuer_key_hash) == (
        b.serial_number,
        b.issuer_name_hash,
        b.issuer_key_hash,
    )
    nonces = [r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce for r in (a, b)]
    assert len(nonces[0]) == checks.NONCE_BYTES and nonces[0] != nonces[1]


def test_a_crl_keeps_the_scope_it_was_accepted_with(rsa_ca: Any) -> None:
    key, ca, _ = rsa_ca

    def crl(*extensions: x509.ExtensionType) -> bytes:
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(NOW - dt.timedelta(minutes=1))
            .next_update(NOW + dt.timedelta(hours=1))
        )
        for e in extensions:
            b = b.add_extension(e, critical=True)
        return b.sign(key, hashes.SHA256()).public_bytes(DER)

    users = x509.IssuingDistributionPoint(None, None, True, False, None, False, False)
    assert checks.crl_scope(crl()) == (False, False)
    assert checks.crl_scope(crl(users)) == (True, False)
