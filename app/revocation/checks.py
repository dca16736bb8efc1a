"""What makes a fetched answer usable (SPEC 5.1), checked with `cryptography` before it is kept.

- a CRL: issued by the certificate's issuer (name and signature), current (thisUpdate ≤ now <
  nextUpdate; a CRL without nextUpdate is not current);
- an OCSP answer: successful, about this serial of this issuer (name and key hashes), signed by
  the issuer or by a responder the issuer certified with id-kp-OCSPSigning, current, and
  `good` or `revoked` (`unknown` says nothing: the CRL is asked instead);
- a caIssuers answer: a CA certificate (DER, PEM or a PKCS#7 bundle) whose key signed the
  certificate that named the URL.

pyhanko-certvalidator checks CRLs and OCSP answers again when it validates the path; these checks
keep unusable answers out of the cache and out of the evidence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass

from asn1crypto import keys
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    SignatureAlgorithmOID,
)

CLOCK_SKEW = dt.timedelta(minutes=1)
"""How far an answer's thisUpdate may be ahead of our clock (a responder's clock runs fast)."""
OCSP_WITHOUT_NEXT_UPDATE = dt.timedelta(minutes=30)
"""How long an OCSP answer without nextUpdate counts as current (pyhanko-certvalidator's rule)."""


class Unusable(Exception):
    """The answer cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Window:
    this_update: dt.datetime
    next_update: dt.datetime


# -- what a certificate names ---------------------------------------------------------------


def _access(cert: x509.Certificate, method: x509.ObjectIdentifier) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == method
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    return _access(cert, AuthorityInformationAccessOID.OCSP)


def ca_issuer_urls(cert: x509.Certificate) -> list[str]:
    return _access(cert, AuthorityInformationAccessOID.CA_ISSUERS)


def crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


def key_id(cert: x509.Certificate) -> str:
    """SHA-1 of the subject public key bits (the RFC 6960 key hash), hex: how answers are
    filed."""
    return _key_hash(cert, "sha1").hex()


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def may_issue(cert: x509.Certificate) -> bool:
    """A CA certificate whose key may sign certificates (keyCertSign, when keyUsage is there):
    only such a certificate is a link of a path the hub fetches revocation data for (an
    end-entity key of a trusted CA cannot vouch for certificates of its own making)."""
    if not is_ca(cert):
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


# -- CRLs ------------------------------------------------------------------------------------


def check_crl(
    der: bytes,
    issuer: x509.Certificate,
    now: dt.datetime,
    *,
    cert: x509.Certificate | None = None,
    url: str | None = None,
) -> Window:
    """`cert` is the certificate whose status is asked (None at renewal, when only the URL it
    named is known): a CRL whose scope leaves it out is unusable (`_check_scope`)."""
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise Unusable(f"not a DER CRL: {exc}") from exc
    if crl.issuer != issuer.subject:
        raise Unusable(f"the CRL is issued by {crl.issuer.rfc4514_string()}, not the issuer")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise Unusable("the CRL is not signed by the issuer's key")
    if crl.next_update_utc is None:
        raise Unusable("the CRL has no nextUpdate")
    _check_scope(crl, cert, url)
    return _current(crl.last_update_utc, crl.next_update_utc, now, "CRL")


def crl_scope(der: bytes) -> tuple[bool, bool]:
    """(onlyContainsUserCerts, onlyContainsCACerts) of a CRL: a renewed CRL must keep the scope
    its predecessor was accepted with (renewal does not know the certificate)."""
    idp = _idp(x509.load_der_x509_crl(der))
    return (
        (False, False)
        if idp is None
        else (idp.only_contains_user_certs, idp.only_contains_ca_certs)
    )


def _idp(crl: x509.CertificateRevocationList) -> x509.IssuingDistributionPoint | None:
    try:
        return crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return None


def _check_scope(
    crl: x509.CertificateRevocationList, cert: x509.Certificate | None, url: str | None
) -> None:
    """A complete CRL for every reason, of this issuer's certificates, that covers `cert`
    (RFC 5280 6.3.3): delta CRLs, indirect CRLs and CRLs for some reasons only are not used
    (the hub asks for a complete one; lacking it, the verdict is TRY_LATER, never a pass on a
    partial list); an issuingDistributionPoint must cover the kind of certificate (CA or
    end-entity) and name the distribution point the certificate names."""
    try:
        crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    except x509.ExtensionNotFound:
        pass
    else:
        raise Unusable("a delta CRL: the hub uses complete CRLs only")
    idp = _idp(crl)
    if idp is None:
        return
    if idp.indirect_crl:
        raise Unusable("an indirect CRL (entries of other issuers) is not used")
    if idp.only_some_reasons is not None:
        raise Unusable("the CRL covers only some revocation reasons")
    if idp.only_contains_attribute_certs:
        raise Unusable("the CRL covers attribute certificates only")
    if cert is not None and idp.only_contains_user_certs and is_ca(cert):
        raise Unusable("the CRL covers end-entity certificates only; this one is a CA")
    if cert is not None and idp.only_contains_ca_certs and not is_ca(cert):
        raise Unusable("the CRL covers CA certificates only; this one is an end entity")
    named = {n.value for n in idp.full_name or () if isinstance(n, x509.UniformResourceIdentifier)}
    asked = set(crl_urls(cert)) if cert is not None else {url} if url else set()
    if named and asked and not named & asked:
        raise Unusable("the CRL's issuingDistributionPoint is not the certificate's")


def _current(
    this_update: dt.datetime, next_update: dt.datetime, now: dt.datetime, what: str
) -> Window:
    if this_update > now + CLOCK_SKEW:
        raise Unusable(f"the {what}'s thisUpdate {this_update.isoformat()} is in the future")
    if now >= next_update:
        raise Unusable(f"the {what} expired at its nextUpdate {next_update.isoformat()}")
    return Window(this_update, next_update)


# -- OCSP ------------------------------------------------------------------------------------


NONCE_BYTES = 16


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A DER OCSP request for one certificate (SHA-1 CertID, what responders expect) with a
    fresh nonce (RFC 8954: 1 to 32 bytes)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    return _with_nonce(builder)


def renewed_request(request_der: bytes) -> bytes:
    """The same question as `request_der` (its CertID) with a new nonce, for a renewal: a
    nonce asked twice would let an old answer be replayed."""
    old = ocsp.load_der_ocsp_request(request_der)
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        old.issuer_name_hash, old.issuer_key_hash, old.serial_number, old.hash_algorithm
    )
    return _with_nonce(builder)


def _with_nonce(builder: ocsp.OCSPRequestBuilder) -> bytes:
    builder = builder.add_extension(x509.OCSPNonce(os.urandom(NONCE_BYTES)), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _nonce(message: ocsp.OCSPResponse | ocsp.OCSPRequest) -> bytes | None:
    try:
        return message.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as exc:
        raise Unusable(f"unreadable extensions: {exc}") from exc


def request_serial(request_der: bytes) -> int:
    return ocsp.load_der_ocsp_request(request_der).serial_number


def check_ocsp(
    der: bytes,
    serial: int,
    issuer: x509.Certificate,
    now: dt.datetime,
    *,
    request_der: bytes | None = None,
) -> Window:
    """`request_der`: the request the answer is to; an answer that carries a nonce must carry
    its nonce (one without is accepted: many responders serve pre-signed answers)."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise Unusable(f"not a DER OCSP response: {exc}") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise Unusable(f"the responder answered {response.response_status.name}")
    echoed = _nonce(response)
    if (
        echoed is not None
        and request_der is not None
        and echoed != _nonce(ocsp.load_der_ocsp_request(request_der))
    ):
        raise Unusable("the answer's nonce is not the request's (a replayed answer?)")
    single = _single_for(response, serial, issuer)
    _check_ocsp_signer(response, der, issuer, now)
    if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        raise Unusable("the responder does not know the certificate (status unknown)")
    this_update = single.this_update_utc
    next_update = single.next_update_utc or this_update + OCSP_WITHOUT_NEXT_UPDATE
    return _current(this_update, next_update, now, "OCSP answer")


def _single_for(
    response: ocsp.OCSPResponse, serial: int, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    name_der = issuer.subject.public_bytes()
    for single in response.responses:
        algorithm = single.hash_algorithm.name
        if (
            single.serial_number == serial
            and algorithm in ("sha1", "sha256")
            and single.issuer_name_hash == hashlib.new(algorithm, name_der).digest()
            and single.issuer_key_hash == _key_hash(issuer, algorithm)
        ):
            return single
    raise Unusable(f"the answer says nothing about serial {serial:x} of this issuer")


def _key_hash(cert: x509.Certificate, algorithm: str) -> bytes:
    """The hash of the subjectPublicKey bits (RFC 6960 CertID and ResponderID byKey)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest: bytes = getattr(keys.PublicKeyInfo.load(spki), algorithm)
    return digest


def _check_ocsp_signer(
    response: ocsp.OCSPResponse, der: bytes, issuer: x509.Certificate, now: dt.datetime
) -> None:
    candidates = [issuer]
    for cert in response.certificates:
        if not issued_by(cert, issuer):
            continue
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            continue
        candidates.append(cert)
    named = [c for c in candidates if _is_responder(response, c)]
    for cert in named:
        if _verify(cert, response, der):
            return
    raise Unusable(
        "the answer is signed neither by the issuer nor by a responder it delegated "
        "(id-kp-OCSPSigning)"
    )


def _is_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_key_hash is not None:
        return response.responder_key_hash == _key_hash(cert, "sha1")
    return response.responder_name == cert.subject


_PSS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
"""The hashes an RSASSA-PSS answer may use (its MGF1 with the same hash): the SHA-2 family the
hub accepts for signatures; PSS over SHA-1 (the ASN.1 default) is refused."""


def _rsa_padding(
    response: ocsp.OCSPResponse, der: bytes
) -> tuple[padding.AsymmetricPadding, hashes.HashAlgorithm] | None:
    """How an RSA signature of the answer is checked: PKCS#1 v1.5, or RSASSA-PSS with the
    parameters the answer states (cryptography does not expose them; asn1crypto parses them)."""
    if response.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS:
        algorithm = response.signature_hash_algorithm
        return None if algorithm is None else (padding.PKCS1v15(), algorithm)
    basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    params = basic["signature_algorithm"]["parameters"]
    digest = params["hash_algorithm"]["algorithm"].native
    mgf = params["mask_gen_algorithm"]
    if (
        digest not in _PSS_HASHES
        or mgf["algorithm"].native != "mgf1"
        or mgf["parameters"]["algorithm"].native != digest
    ):
        return None
    algorithm = _PSS_HASHES[digest]()
    return padding.PSS(padding.MGF1(algorithm), params["salt_length"].native), algorithm


def _verify(cert: x509.Certificate, response: ocsp.OCSPResponse, der: bytes) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            how = _rsa_padding(response, der)
            if how is None:
                return False
            key.verify(response.signature, response.tbs_response_bytes, *how)
            return True
        algorithm = response.signature_hash_algorithm
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(response.signature, response.tbs_response_bytes)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


# -- caIssuers -------------------------------------------------------------------------------


def issuers_in(data: bytes, cert: x509.Certificate) -> list[x509.Certificate]:
    """The CA certificates in a caIssuers answer that issued `cert`."""
    found: list[x509.Certificate] = []
    for loader in (
        lambda d: [x509.load_der_x509_certificate(d)],
        pkcs7.load_der_pkcs7_certificates,
        x509.load_pem_x509_certificates,
        pkcs7.load_pem_pkcs7_certificates,
    ):
        try:
            found = list(loader(data))
        except ValueError:
            continue
        if found:
            break
    issuers = [c for c in found if may_issue(c) and issued_by(cert, c)]
    if not issuers:
        raise Unusable("no CA certificate in the answer issued the certificate")
    return issuers
