"""RFC 3161 timestamps over signature values (SPEC section 5.2), pure.

- `build_request`: a `TimeStampReq` whose message imprint is the SHA-256 of the decoded
  `SignatureValue` bytes, with a nonce and `certReq`.
- `TimestampAuthority`: a TSA (the hub's demo one): `respond` answers a DER request with a
  `TimeStampResp` (a rejection status for a request it cannot serve, never an exception);
  `stamp` is the in-process shortcut that skips the request's encoding.
- `parse_response`: the token of a response to our request (status, nonce and imprint checked).
- `verify_token`: a `TimeStampToken` checked in full: imprint, the CMS signature over the
  signed attributes, the message digest of the `TSTInfo`, the ESS signing-certificate-v2
  binding, a critical extended key usage `id-kp-timeStamping` (and nothing else), and a path
  from the TSA certificate to the trust store at the token's time.

ASN.1 is asn1crypto's (`tsp`, `cms`); keys and signatures are `cryptography`'s. No database, no
HTTP: the caller moves the bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.signing.pki import PrivateKey
from app.signing.report import TIMESTAMP_PENDING, TimestampToken
from app.signing.trust import TrustStore

TSA_POLICY = "2.999.3161.1"
"""The demo TSA's policy OID (under the ITU-T/ISO example arc `2.999`)."""

MAX_REQUEST_BYTES = 4096
"""A TimeStampReq is a few hundred bytes; anything larger is refused unread."""
MAX_RESPONSE_BYTES = 64 * 1024
"""A TimeStampResp with its TSA's chain fits in a few KiB; the client stops reading past this."""

_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_DER = serialization.Encoding.DER


class _TimeStampResp(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """RFC 3161's TimeStampResp, whose token is OPTIONAL (absent from a rejection); asn1crypto's
    `tsp.TimeStampResp` declares it mandatory, so neither a rejection could be written nor
    another TSA's be read with it."""

    _fields = [  # noqa: RUF012 - asn1crypto's schema declaration
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimestampError(ValueError):
    """A token or response that does not stand; `code` is stable (`timestamp.*`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def imprint_of(signature_value: bytes) -> bytes:
    """The message imprint of a signature: SHA-256 of the decoded SignatureValue bytes."""
    return hashlib.sha256(signature_value).digest()


def build_request(imprint: bytes, *, nonce: int | None = None) -> tuple[bytes, int]:
    """A DER TimeStampReq for a SHA-256 `imprint`, with `certReq`; returns it and its nonce."""
    if len(imprint) != 32:
        raise ValueError("the imprint is a SHA-256 digest (32 bytes)")
    nonce = secrets.randbits(63) if nonce is None else nonce
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": _message_imprint("sha256", imprint),
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return request.dump(), nonce


def _message_imprint(algorithm: str, digest: bytes) -> tsp.MessageImprint:
    return tsp.MessageImprint(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
            "hashed_message": digest,
        }
    )


# -- the authority ----------------------------------------------------------------------------


class TimestampAuthority:
    """A TSA holding its key and certificate (and the chain it may include in tokens).

    Thread-safe and cheap to call: the certificate parts of every token are encoded once.
    """

    def __init__(
        self,
        key: PrivateKey,
        certificate: x509.Certificate,
        *,
        policy: str = TSA_POLICY,
    ) -> None:
        self._key = key
        self._cert = certificate
        self._policy = policy
        cert_der = certificate.public_bytes(_DER)
        self._asn1_cert = asn1_x509.Certificate.load(cert_der)
        self.name = certificate.subject.rfc4514_string()
        # Encoded once, loaded per token: asn1crypto re-encodes a built value on every copy,
        # while a loaded one dumps its original bytes (7 ms against 0.3 ms a token).
        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value=cms.IssuerAndSerialNumber(
                {
                    "issuer": self._asn1_cert.issuer,
                    "serial_number": self._asn1_cert.serial_number,
                }
            ),
        )
        self._sid_der = sid.dump()
        signing_certificate = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    tsp.SigningCertificateV2(
                        {
                            "certs": [
                                tsp.ESSCertIDv2(
                                    {
                                        "hash_algorithm": {"algorithm": "sha256"},
                                        "cert_hash": hashlib.sha256(cert_der).digest(),
                                        "issuer_serial": {
                                            "issuer": [
                                                asn1_x509.GeneralName(
                                                    name="directory_name",
                                                    value=self._asn1_cert.issuer,
                                                )
                                            ],
                                            "serial_number": self._asn1_cert.serial_number,
                                        },
                                    }
                                )
                            ]
                        }
                    )
                ],
            }
        )
        self._signing_certificate_der = signing_certificate.dump()
        self._tsa_name_der = asn1_x509.GeneralName(
            name="directory_name", value=self._asn1_cert.subject
        ).dump()
        self._certificates_der = cms.CertificateSet([self._asn1_cert], implicit=0).dump()
        self._digest_algorithms_der = cms.DigestAlgorithms([{"algorithm": "sha256"}]).dump()
        self._digest_algorithm_der = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
        self._signature_algorithm_der = algos.SignedDigestAlgorithm(
            {
                "algorithm": "sha256_ecdsa"
                if isinstance(key, ec.EllipticCurvePrivateKey)
                else "sha256_rsa"
            }
        ).dump()
        self._policy_der = core.ObjectIdentifier(policy).dump()
        self._content_type_der = cms.CMSAttribute(
            {"type": "content_type", "values": ["tst_info"]}
        ).dump()

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def stamp(self, imprint: bytes, *, now: dt.datetime | None = None) -> TimestampToken:
        """A token over a SHA-256 `imprint`, without a request (the hub's in-process path)."""
        gen_time, serial = _gen_time(now), x509.random_serial_number()
        der = self._token("sha256", imprint, gen_time, serial, None, True)
        return TimestampToken(gen_time, self.name, format(serial, "x"), der)

    def respond(self, request_der: bytes, *, now: dt.datetime | None = None) -> bytes:
        """A DER TimeStampResp: granted, or rejected with the failure RFC 3161 names."""
        if len(request_der) > MAX_REQUEST_BYTES:
            return rejection("bad_data_format", "the request is too large")
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            req_policy = request["req_policy"].native
            has_extensions = not isinstance(request["extensions"], core.Void)
            version = request["version"].native
        except (ValueError, TypeError, KeyError) as exc:
            return rejection("bad_data_format", f"not a TimeStampReq: {exc}")
        if version != "v1":
            return rejection("bad_request", "only TimeStampReq version 1 is served")
        if algorithm not in _HASHES:
            return rejection("bad_alg", f"hash algorithm {algorithm} is not accepted")
        if not isinstance(digest, bytes) or len(digest) != _HASHES[algorithm]().digest_size:
            return rejection("bad_data_format", "the imprint's length does not match its hash")
        if req_policy is not None and req_policy != self._policy:
            return rejection("unaccepted_policy", f"this TSA serves policy {self._policy}")
        if has_extensions:
            return rejection("unaccepted_extension", "no request extension is supported")
        gen_time, serial = _gen_time(now), x509.random_serial_number()
        token = self._token(algorithm, digest, gen_time, serial, nonce, cert_req)
        granted = _TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token)}
        )
        return bytes(granted.dump())

    def _token(
        self,
        algorithm: str,
        digest: bytes,
        gen_time: dt.datetime,
        serial: int,
        nonce: int | None,
        include_certificate: bool,
    ) -> bytes:
        """The TimeStampToken's DER, written directly from the parts encoded once in
        `__init__` (building it with asn1crypto's dict constructors took 1.5 ms a token, most
        of the hub's timestamping cost). The same bytes asn1crypto writes: see the tests."""
        imprint = _tlv(0x30, _algorithm_der(algorithm) + _tlv(0x04, digest))
        econtent = _tlv(
            0x30,
            _int(1)
            + self._policy_der
            + imprint
            + _int(serial)
            + _tlv(0x18, gen_time.strftime("%Y%m%d%H%M%SZ").encode())
            + _ACCURACY_1S
            + (_int(nonce) if nonce is not None else b"")
            + _tlv(0xA0, self._tsa_name_der),
        )
        attributes = (
            self._content_type_der
            + _tlv(
                0x30,
                _SIGNING_TIME + _tlv(0x31, _tlv(0x17, gen_time.strftime("%y%m%d%H%M%SZ").encode())),
            )
            + _tlv(
                0x30, _MESSAGE_DIGEST + _tlv(0x31, _tlv(0x04, hashlib.sha256(econtent).digest()))
            )
            + self._signing_certificate_der
        )
        signature = _sign(self._key, _tlv(0x31, attributes))  # signed as a SET OF (RFC 5652)
        signer_info = _tlv(
            0x30,
            _int(1)
            + self._sid_der
            + self._digest_algorithm_der
            + _tlv(0xA0, attributes)
            + self._signature_algorithm_der
            + _tlv(0x04, signature),
        )
        signed_data = _tlv(
            0x30,
            _int(3)
            + self._digest_algorithms_der
            + _tlv(0x30, _TST_INFO + _tlv(0xA0, _tlv(0x04, econtent)))
            + (self._certificates_der if include_certificate else b"")
            + _tlv(0x31, signer_info),
        )
        return _tlv(0x30, _SIGNED_DATA + _tlv(0xA0, signed_data))


def _tlv(tag: int, body: bytes) -> bytes:
    """One DER element (a single-byte tag, definite length)."""
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


def _int(value: int) -> bytes:
    """A DER INTEGER: minimal two's complement."""
    width = (value if value >= 0 else ~value).bit_length() // 8 + 1
    return _tlv(0x02, value.to_bytes(width, "big", signed=True))


_ALGORITHMS: dict[str, bytes] = {}


def _algorithm_der(algorithm: str) -> bytes:
    der = _ALGORITHMS.get(algorithm)
    if der is None:
        der = _ALGORITHMS[algorithm] = algos.DigestAlgorithm({"algorithm": algorithm}).dump()
    return der


_ACCURACY_1S = tsp.Accuracy({"seconds": 1}).dump()
_SIGNING_TIME = cms.CMSAttributeType("signing_time").dump()
_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()
_TST_INFO = cms.ContentType("tst_info").dump()
_SIGNED_DATA = cms.ContentType("signed_data").dump()


def _gen_time(now: dt.datetime | None) -> dt.datetime:
    when = now or dt.datetime.now(dt.UTC)
    return when.astimezone(dt.UTC).replace(microsecond=0)


def rejection(failure: str, text: str) -> bytes:
    """A TimeStampResp refusing a request (`failure`: an RFC 3161 PKIFailureInfo name)."""
    refused = _TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [text[:200]],
                "fail_info": tsp.PKIFailureInfo({failure}),
            }
        }
    )
    return bytes(refused.dump())


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# -- the client's side ------------------------------------------------------------------------


def parse_response(response_der: bytes, *, imprint: bytes, nonce: int) -> bytes:
    """The TimeStampToken (DER ContentInfo) of a response to our request; TimestampError if it
    is a rejection, malformed, or about another request (imprint, nonce)."""
    if len(response_der) > MAX_RESPONSE_BYTES:
        raise TimestampError("timestamp.too_large", "the TSA's answer is too large")
    try:
        response = _TimeStampResp.load(response_der, strict=True)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        if status not in ("granted", "granted_with_mods"):
            detail = response["status"]["status_string"].native or []
            failure = response["status"]["fail_info"].native
            raise TimestampError(
                "timestamp.rejected",
                f"the TSA answered {status} ({', '.join(sorted(failure or ()))}): "
                + "; ".join(detail),
            )
        if isinstance(token, core.Void):
            raise TimestampError("timestamp.malformed", "a granted answer without a token")
        der = bytes(token.dump())
        info = _tst_info(cms.ContentInfo.load(der))
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError("timestamp.malformed", f"not a TimeStampResp: {exc}") from exc
    if info["nonce"].native != nonce:
        raise TimestampError("timestamp.nonce", "the token answers another request (nonce)")
    _check_imprint(info, imprint)
    return der


def read_token(token_der: bytes) -> TimestampToken:
    """What a token says (time, TSA, serial), without verifying it."""
    try:
        content = cms.ContentInfo.load(token_der, strict=True)
        info = _tst_info(content)
        gen_time = info["gen_time"].native
        serial = info["serial_number"].native
        cert = _signer_certificate(content["content"])
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError("timestamp.malformed", f"not a TimeStampToken: {exc}") from exc
    name = (
        x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
        if cert is not None
        else str(info["tsa"].native)
    )
    return TimestampToken(gen_time, name, format(serial, "x"), token_der)


def verify_token(
    token_der: bytes,
    imprint: bytes,
    trust: TrustStore,
    *,
    extra_certificates: Sequence[x509.Certificate] = (),
) -> TimestampToken:
    """Check a token over `imprint` in full (see the module docstring); TimestampError if any
    part does not hold. The TSA certificate's path is validated at the token's own time."""
    token = read_token(token_der)
    content = cms.ContentInfo.load(token_der)
    if content["content_type"].native != "signed_data":
        raise TimestampError("timestamp.malformed", "the token is not CMS SignedData")
    signed_data = content["content"]
    info = _tst_info(content)
    _check_imprint(info, imprint)
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise TimestampError("timestamp.malformed", "a token has exactly one signer")
    signer_info = signer_infos[0]
    asn1_cert = _signer_certificate(signed_data)
    if asn1_cert is None:
        raise TimestampError("timestamp.no_certificate", "the token carries no TSA certificate")
    cert = x509.load_der_x509_certificate(asn1_cert.dump())
    _check_signed_attributes(signer_info, token_der, asn1_cert)
    _check_signature(signer_info, cert, token_der)
    _check_timestamping_usage(cert)
    others = [c.dump() for c in _certificates(signed_data) if c.dump() != asn1_cert.dump()]
    others += [c.public_bytes(_DER) for c in extra_certificates]
    outcome = trust.validate_chain(asn1_cert.dump(), others, token.gen_time)
    if not outcome.passed:
        detail = outcome.error.message if outcome.error else outcome.sub_indication
        raise TimestampError(
            "timestamp.untrusted", f"the TSA certificate does not validate: {detail}"
        )
    return token


def token_certificates(token_der: bytes) -> list[bytes]:
    """The DER certificates a token carries (the TSA's and any chain), for gathering their
    revocation data before `verify_token`; none from something that is not a token."""
    try:
        content = cms.ContentInfo.load(token_der)
        if content["content_type"].native != "signed_data":
            return []
        return [bytes(c.dump()) for c in _certificates(content["content"])]
    except (ValueError, TypeError, KeyError):
        return []


def _tst_info(content: cms.ContentInfo) -> tsp.TSTInfo:
    if content["content_type"].native != "signed_data":
        raise TimestampError("timestamp.malformed", "the token is not CMS SignedData")
    encap = content["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("timestamp.malformed", "the token does not hold a TSTInfo")
    info = encap["content"].parsed
    if not isinstance(info, tsp.TSTInfo):
        raise TimestampError("timestamp.malformed", "the token does not hold a TSTInfo")
    return info


def _check_imprint(info: tsp.TSTInfo, imprint: bytes) -> None:
    message_imprint = info["message_imprint"]
    if (
        message_imprint["hash_algorithm"]["algorithm"].native != "sha256"
        or message_imprint["hashed_message"].native != imprint
    ):
        raise TimestampError(
            "timestamp.imprint", "the token is not over this signature (message imprint differs)"
        )


def _certificates(signed_data: cms.SignedData) -> list[asn1_x509.Certificate]:
    certs = signed_data["certificates"]
    if isinstance(certs, core.Void):
        return []
    return [c.chosen for c in certs if c.name == "certificate"]


def _signer_certificate(signed_data: cms.SignedData) -> asn1_x509.Certificate | None:
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        return None
    sid = signer_infos[0]["sid"]
    for cert in _certificates(signed_data):
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                cert.serial_number == wanted["serial_number"].native
                and cert.issuer == wanted["issuer"]
            ):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def _attribute(signed_attrs: cms.CMSAttributes, name: str) -> Any:
    values = [a["values"] for a in signed_attrs if a["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        raise TimestampError(
            "timestamp.malformed", f"the token needs exactly one {name} signed attribute"
        )
    return values[0][0]


def _check_signed_attributes(
    signer_info: cms.SignerInfo, token_der: bytes, cert: asn1_x509.Certificate
) -> None:
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void):
        raise TimestampError("timestamp.malformed", "the token has no signed attributes")
    if _attribute(attrs, "content_type").native != "tst_info":
        raise TimestampError("timestamp.malformed", "the signed content type is not TSTInfo")
    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise TimestampError("timestamp.algorithm", f"digest {algorithm} is not accepted")
    # The eContent octets as received (a fresh parse: a read value may be re-encoded).
    econtent = cms.ContentInfo.load(token_der)["content"]["encap_content_info"]["content"]
    econtent = bytes(econtent.contents)
    digest = hashlib.new(algorithm, econtent).digest()
    if _attribute(attrs, "message_digest").native != digest:
        raise TimestampError("timestamp.digest", "the TSTInfo was changed after signing")
    ess = _attribute(attrs, "signing_certificate_v2")["certs"]
    if not len(ess):
        raise TimestampError("timestamp.malformed", "signing-certificate-v2 names no certificate")
    first = ess[0]
    ess_hash = first["hash_algorithm"]["algorithm"].native
    if (
        ess_hash not in _HASHES
        or first["cert_hash"].native != hashlib.new(ess_hash, cert.dump()).digest()
    ):
        raise TimestampError(
            "timestamp.signing_certificate",
            "signing-certificate-v2 does not name the certificate that signed the token",
        )


def _check_signature(signer_info: cms.SignerInfo, cert: x509.Certificate, token_der: bytes) -> None:
    # The signed attributes as a SET, from a fresh parse: asn1crypto re-encodes a value whose
    # children were read (and a re-encoding is not what was signed if it was not DER).
    fresh = cms.ContentInfo.load(token_der)["content"]["signer_infos"][0]["signed_attrs"]
    data = fresh.untag().dump()
    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    hash_algorithm = _HASHES[algorithm]()
    signature = signer_info["signature"].native
    public_key = cert.public_key()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            scheme = signer_info["signature_algorithm"].signature_algo
            if scheme != "rsassa_pkcs1v15":
                raise TimestampError("timestamp.algorithm", f"RSA scheme {scheme} not accepted")
            public_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        else:
            raise TimestampError(
                "timestamp.algorithm", f"{type(public_key).__name__} keys are not accepted"
            )
    except InvalidSignature as exc:
        raise TimestampError(
            "timestamp.signature", "the token's signature does not verify"
        ) from exc


def _check_timestamping_usage(cert: x509.Certificate) -> None:
    """RFC 3161 2.3: the TSA certificate's only extended key usage is id-kp-timeStamping,
    and the extension is critical."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        ext = None
    if ext is None or not ext.critical or list(ext.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError(
            "timestamp.usage",
            "the TSA certificate lacks a critical extended key usage of id-kp-timeStamping only",
        )


__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "TIMESTAMP_PENDING",
    "TSA_POLICY",
    "TimestampAuthority",
    "TimestampError",
    "build_request",
    "imprint_of",
    "parse_response",
    "read_token",
    "rejection",
    "token_certificates",
    "verify_token",
]
