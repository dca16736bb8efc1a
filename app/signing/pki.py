"""Demo PKI: a root CA standing in for the national CA, issuing CAs, organization certificates.

Pure functions on `cryptography` objects: nothing here touches the filesystem, the database or
the network, so the CLI (`lienthong pki`), the demo seeding and the tests can all share it and
decide for themselves where the results are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""The key types the hub signs with (RSA for the national profile, ECDSA P-256 optionally)."""

KeyUsageName = Literal[
    "digital_signature",
    "content_commitment",
    "non_repudiation",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
]
"""Names of the end-entity key-usage bits; `non_repudiation` is cryptography's
`content_commitment` (both spellings accepted)."""

DEFAULT_LEAF_KEY_USAGE: tuple[KeyUsageName, ...] = ("digital_signature", "content_commitment")

_VN = "VN"
_DEMO_ORG = "Ban Cơ yếu Chính phủ (demo)"


class KeyDecryptionError(ValueError):
    """A stored private key could not be decrypted (wrong passphrase or damaged PEM)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _aki(cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _revocation_pointers(
    builder: x509.CertificateBuilder, crl_url: str | None, ocsp_url: str | None
) -> x509.CertificateBuilder:
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    return builder


def generate_key(key_type: Literal["rsa", "ec"] = "rsa", key_size: int = 2048) -> PrivateKey:
    """Make a fresh key: RSA of `key_size` bits, or ECDSA on P-256 (`key_size` is ignored)."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    raise ValueError(f"unknown key type {key_type!r}")


def create_root_ca(
    name: str,
    *,
    key_size: int = 3072,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Self-signed root that stands in for the national CA (Ban Cơ yếu Chính phủ) in demos."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, _VN),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEMO_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    start = not_before or _now() - dt.timedelta(days=1)
    end = not_after or start + dt.timedelta(days=365 * 20)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def create_issuing_ca(
    root_key: PrivateKey,
    root_cert: x509.Certificate,
    name: str,
    *,
    key_size: int = 2048,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    crl_url: str | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Intermediate CA under the root that issues the organizations' certificates.

    `crl_url` names where the root's CRL (covering this CA) is published.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, _VN),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEMO_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    start = not_before or _now() - dt.timedelta(days=1)
    end = not_after or min(start + dt.timedelta(days=365 * 10), root_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(key), critical=False)
        .add_extension(_aki(root_cert), critical=False)
    )
    builder = _revocation_pointers(builder, crl_url, None)
    return key, builder.sign(root_key, hashes.SHA256())


def issue_org_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    organ_id: str,
    org_name: str,
    *,
    key_type: Literal["rsa", "ec"] = "rsa",
    key_size: int = 2048,
    key: PrivateKey | None = None,
    common_name: str | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: Iterable[KeyUsageName] = DEFAULT_LEAF_KEY_USAGE,
    include_organ_id: bool = True,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """Signing certificate of one organization, bound to it by organizationIdentifier (2.5.4.97).

    `include_organ_id=False` gives a certificate that only counts for an organization once an
    admin registers its fingerprint (SPEC section 5). `key` reuses an existing key (renewal).
    """
    if key is None:
        key = generate_key(key_type, key_size)
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, _VN),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name),
    ]
    if include_organ_id:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organ_id))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{org_name} ({organ_id})"))
    usage = {"content_commitment" if u == "non_repudiation" else u for u in key_usage}
    unknown = usage - set(get_args(KeyUsageName))
    if unknown:
        raise ValueError(f"unknown key usage {sorted(unknown)}")
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or start + dt.timedelta(days=365 * 2)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature="digital_signature" in usage,
                content_commitment="content_commitment" in usage,
                key_encipherment="key_encipherment" in usage,
                data_encipherment="data_encipherment" in usage,
                key_agreement="key_agreement" in usage,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(_ski(key), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    builder = _revocation_pointers(builder, crl_url, ocsp_url)
    return key, builder.sign(ca_key, hashes.SHA256())


def _end_entity(
    ca_cert: x509.Certificate,
    key: PrivateKey,
    subject: list[x509.NameAttribute[str]],
    start: dt.datetime,
    end: dt.datetime,
) -> x509.CertificateBuilder:
    """A non-CA certificate for `key` under `ca_cert` (subject in Viet Nam), extensions to add."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, _VN), *subject]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )


def issue_ocsp_responder_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    name: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """Delegated OCSP responder certificate (EKU id-kp-OCSPSigning) issued by `ca_cert`."""
    key = generate_key("ec")
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or start + dt.timedelta(days=365)
    cert = (
        _end_entity(ca_cert, key, [x509.NameAttribute(NameOID.COMMON_NAME, name)], start, end)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def issue_tsa_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    name: str,
    *,
    key: PrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    crl_url: str | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """A timestamping authority's certificate (RFC 3161 2.3: the critical extended key usage
    id-kp-timeStamping and nothing else), issued by `ca_cert`. ECDSA P-256 by default: a token
    costs one signature, and an EC signature is ~30x cheaper than an RSA-2048 one."""
    key = key or generate_key("ec")
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or min(start + dt.timedelta(days=365 * 10), ca_cert.not_valid_after_utc)
    builder = (
        _end_entity(
            ca_cert,
            key,
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _DEMO_ORG),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ],
            start,
            end,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(_ski(key), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    builder = _revocation_pointers(builder, crl_url, None)
    return key, builder.sign(ca_key, hashes.SHA256())


RevocationReason = Literal[
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
    "aACompromise",
]
REVOCATION_REASONS: tuple[str, ...] = get_args(RevocationReason)
"""The CRLReason names of RFC 5280 section 5.3.1 that a revocation may give (removeFromCRL is
for delta CRLs only)."""


def _reason_extension(reason: str | None) -> x509.CRLReason | None:
    """The entry's CRLReason; none for an unknown or `unspecified` reason (RFC 5280: omit it)."""
    if reason not in REVOCATION_REASONS or reason == "unspecified":
        return None
    return x509.CRLReason(x509.ReasonFlags(reason))


def build_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked: Sequence[tuple[int, dt.datetime]],
    this_update: dt.datetime,
    next_update: dt.datetime,
    *,
    crl_number: int | None = None,
    reasons: Mapping[int, str | None] | None = None,
) -> bytes:
    """A DER CRL of `ca_cert` listing `(serial, revoked_at)` pairs.

    `crl_number` defaults to `this_update` as a Unix timestamp, which increases monotonically for
    a CA that publishes at most once per second. `reasons` gives each serial's RFC 5280 reason
    name; without it every entry says keyCompromise.
    """
    number = crl_number if crl_number is not None else int(this_update.timestamp())
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    for serial, revoked_at in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        reason = _reason_extension(reasons.get(serial) if reasons is not None else "keyCompromise")
        if reason is not None:
            entry = entry.add_extension(reason, critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


def build_ocsp_response(
    responder_key: PrivateKey,
    responder_cert: x509.Certificate,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked_at: dt.datetime | None = None,
) -> bytes:
    """A DER OCSP response on `cert` (good, or revoked at `revoked_at`), for demos and tests."""
    status = ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA256(),
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revoked_at,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
    )
    if responder_cert is not issuer:
        builder = builder.certificates([responder_cert])
    return builder.sign(responder_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def encrypt_private_key(key: PrivateKey, passphrase: str | bytes) -> bytes:
    """PKCS#8 PEM encrypted with the best scheme cryptography offers; keys are encrypted at rest."""
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not secret:
        raise ValueError("an empty passphrase would store the key in clear")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )


def decrypt_private_key(pem: bytes, passphrase: str | bytes) -> PrivateKey:
    """Load a key stored by `encrypt_private_key`; costs ~46 ms for RSA, so do it once per key."""
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(pem, password=secret)
    except (ValueError, TypeError) as exc:
        raise KeyDecryptionError("cannot decrypt the private key (wrong passphrase?)") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyDecryptionError(f"unsupported key type {type(key).__name__}")
    return key


def cert_to_pem(cert: x509.Certificate) -> bytes:
    """PEM of one certificate (for `GET /pki/ca` bundles and xmlsec1 `--trusted-pem`)."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """All certificates of a PEM bundle, e.g. `LIENTHONG_TRUST_ANCHORS`."""
    return x509.load_pem_x509_certificates(data)
