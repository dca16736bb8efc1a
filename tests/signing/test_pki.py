"""Demo PKI: certificate contents, CRLs, and private keys encrypted at rest."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from app.signing import pki
from app.signing.report import organ_id_of
from app.signing.xmldsig import Signer, SigningError

from .conftest import NOW, SENDER, UNBOUND, Pki


def test_root_and_issuing_ca_are_cas(demo_pki: Pki) -> None:
    for cert in (demo_pki.root, demo_pki.ca):
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
    assert demo_pki.root.subject == demo_pki.root.issuer
    assert demo_pki.ca.issuer == demo_pki.root.subject
    demo_pki.ca.verify_directly_issued_by(demo_pki.root)


def test_org_certificate_binds_the_organization(demo_pki: Pki) -> None:
    cert = demo_pki.parties["rsa"].cert
    assert organ_id_of(cert) == SENDER
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "UBND Tỉnh Long An"
    )
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert isinstance(demo_pki.parties["ec"].cert.public_key(), ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(demo_pki.ca)


def test_certificate_without_organization_identifier(demo_pki: Pki) -> None:
    assert organ_id_of(demo_pki.parties["unbound"].cert) is None
    assert UNBOUND not in demo_pki.parties["unbound"].cert.subject.rfc4514_string()


def test_non_repudiation_only_certificate(demo_pki: Pki) -> None:
    _, cert = pki.issue_org_certificate(
        demo_pki.ca_key, demo_pki.ca, SENDER, "x", key_type="ec", key_usage=("non_repudiation",)
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and not usage.digital_signature


def test_unknown_key_usage_is_refused(demo_pki: Pki) -> None:
    with pytest.raises(ValueError, match="unknown key usage"):
        pki.issue_org_certificate(
            demo_pki.ca_key,
            demo_pki.ca,
            SENDER,
            "x",
            key_type="ec",
            key_usage=("fly",),  # type: ignore[arg-type]
        )


def test_crl_lists_revoked_serials(demo_pki: Pki) -> None:
    serial = demo_pki.parties["revoked"].cert.serial_number
    revoked_at = NOW - dt.timedelta(hours=3)
    der = demo_pki.crl([(serial, revoked_at)])
    crl = x509.load_der_x509_crl(der)
    assert crl.issuer == demo_pki.ca.subject
    assert crl.is_signature_valid(demo_pki.ca.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None and entry.revocation_date_utc == revoked_at
    assert crl.next_update_utc is not None and crl.next_update_utc > NOW
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > 0


@pytest.mark.parametrize("party", ["rsa", "ec"])
def test_private_key_encryption_round_trip(demo_pki: Pki, party: str) -> None:
    key = demo_pki.parties[party].key
    pem = pki.encrypt_private_key(key, "mật khẩu bí mật")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = pki.decrypt_private_key(pem, "mật khẩu bí mật")
    assert loaded.private_numbers() == key.private_numbers()


def test_wrong_passphrase_is_refused(demo_pki: Pki) -> None:
    pem = pki.encrypt_private_key(demo_pki.parties["ec"].key, b"right")
    with pytest.raises(pki.KeyDecryptionError):
        pki.decrypt_private_key(pem, b"wrong")
    with pytest.raises(ValueError, match="empty passphrase"):
        pki.encrypt_private_key(demo_pki.parties["ec"].key, "")


def test_signer_from_encrypted_pem(demo_pki: Pki) -> None:
    party = demo_pki.parties["ec"]
    pem = pki.encrypt_private_key(party.key, "pw")
    bundle = (
        pki.cert_to_pem(party.cert) + pki.cert_to_pem(demo_pki.ca) + pki.cert_to_pem(demo_pki.root)
    )
    signer = Signer.from_pem(pem, "pw", bundle)
    assert signer.certificate == party.cert
    assert signer.intermediates == (demo_pki.ca,)  # the root never goes into KeyInfo
    assert len(signer.key_info_certificates) == 2


def test_signer_refuses_a_key_that_is_not_the_certificates(demo_pki: Pki) -> None:
    with pytest.raises(SigningError, match="does not belong"):
        Signer(demo_pki.parties["rsa"].key, demo_pki.parties["other"].cert)
    with pytest.raises(SigningError, match="cannot sign"):
        Signer(
            demo_pki.parties["rsa"].key,
            demo_pki.parties["rsa"].cert,
            signature_method="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        )


def test_ocsp_response_builder(demo_pki: Pki) -> None:
    from cryptography.x509 import ocsp

    responder_key, responder = pki.issue_ocsp_responder_certificate(
        demo_pki.ca_key, demo_pki.ca, "OCSP responder"
    )
    party = demo_pki.parties["ocsp"]
    der = pki.build_ocsp_response(
        responder_key,
        responder,
        party.cert,
        demo_pki.ca,
        this_update=NOW,
        next_update=NOW + dt.timedelta(days=1),
        revoked_at=NOW - dt.timedelta(hours=1),
    )
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.serial_number == party.cert.serial_number
