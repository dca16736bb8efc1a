"""What a validation says and what it accepts: the report model and the policy (SPEC section 5).

The report is kept for every check ever made and read back from storage (`from_dict`), so its
shape is the stable part of the signing package; `Policy` is hashable because it is part of the
trust store's cache key.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from app.signing.xmldsig import (
    ECDSA_SHA256,
    ECDSA_SHA384,
    ECDSA_SHA512,
    RSA_SHA256,
    RSA_SHA384,
    RSA_SHA512,
    SHA256,
    SHA384,
    SHA512,
)

CheckStatus = Literal["passed", "failed", "not_checked", "indeterminate"]
CHECK_NAMES: tuple[str, ...] = (
    "format",
    "digest",
    "signature",
    "algorithm",
    "chain",
    "validity",
    "revocation",
    "key_usage",
    "signer_matches_sender",
)

TOTAL_PASSED = "TOTAL_PASSED"
TOTAL_FAILED = "TOTAL_FAILED"
INDETERMINATE = "INDETERMINATE"
NO_SIGNATURE_FOUND = "NO_SIGNATURE_FOUND"

FAILED_SUB_INDICATIONS = frozenset(
    {
        "FORMAT_FAILURE",
        "HASH_FAILURE",
        "SIG_CRYPTO_FAILURE",
        "REVOKED",
        "NOT_YET_VALID",
        "SIG_CONSTRAINTS_FAILURE",
    }
)
"""Sub-indications that make a signature TOTAL_FAILED; all others are INDETERMINATE.

This is the project's mapping (the brief lists SIG_CONSTRAINTS_FAILURE as a failure: a
certificate of the wrong organization or key usage will never become acceptable later), where
EN 319 102-1 and pyHanko would call SIG_CONSTRAINTS_FAILURE INDETERMINATE."""


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def normalize_fingerprint(value: str) -> str:
    """SHA-256 fingerprints are compared as lowercase hex without separators."""
    return value.replace(":", "").replace(" ", "").strip().lower()


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the DER certificate (the form admins register)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def organ_id_of(cert: x509.Certificate) -> str | None:
    """The subject's organizationIdentifier (OID 2.5.4.97), if it has exactly one."""
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Report model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """One error or warning, with a stable `code` for machines and a `message` for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class SignedBy:
    """Who the signing certificate names; serials are lowercase hex, like the directory's."""

    subject: str
    serial: str
    issuer: str
    organ_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "serial": self.serial,
            "issuer": self.issuer,
            "organ_id": self.organ_id,
        }


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One certificate of the chain, signer first, trust anchor last."""

    subject: str
    serial: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> ChainEntry:
        return cls(
            subject=cert.subject.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha256=certificate_fingerprint(cert),
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(_chain_entry_dict(self))


@dataclass(frozen=True, slots=True)
class RevocationEvidence:
    """A CRL or OCSP response (DER) that the chain decision rested on, kept for re-validation.

    `url` is where the hub fetched it (None for the hub's own CRLs); `sha256` names the row of
    `revocation_answers` that keeps it; `this_update`/`next_update` are its validity window.
    """

    type: Literal["crl", "ocsp"]
    der: bytes
    url: str | None = None
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    def to_dict(self) -> dict[str, str | None]:
        if len(self.der) > _MEMO_DER_MAX:
            return _evidence_dict(self)
        return dict(_evidence_dict_memo(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RevocationEvidence:
        return cls(
            type=data["type"],
            der=base64.b64decode(data["der"]),
            url=data.get("url"),
            this_update=_parse_iso(data.get("this_update")),
            next_update=_parse_iso(data.get("next_update")),
        )


# The chain entries and revocation evidence of a report come from the trust store's path cache,
# so the same (immutable) objects are written into every report of a signer until its path is
# validated again: their dicts are a pure function of the frozen fields and are kept, bounded,
# and copied out (callers may change the dict they get).
_MEMO_DER_MAX = 64 * 1024
"""Evidence larger than this (a big CA's CRL) is encoded each time, not kept in memory twice."""


@functools.lru_cache(maxsize=512)
def _chain_entry_dict(entry: ChainEntry) -> dict[str, Any]:
    return {
        "subject": entry.subject,
        "serial": entry.serial,
        "issuer": entry.issuer,
        "not_before": _iso(entry.not_before),
        "not_after": _iso(entry.not_after),
        "sha256": entry.sha256,
    }


def _evidence_dict(evidence: RevocationEvidence) -> dict[str, str | None]:
    return {
        "type": evidence.type,
        "url": evidence.url,
        "sha256": evidence.sha256,
        "this_update": _iso(evidence.this_update),
        "next_update": _iso(evidence.next_update),
        "der": base64.b64encode(evidence.der).decode("ascii"),
    }


_evidence_dict_memo = functools.lru_cache(maxsize=256)(_evidence_dict)


@dataclass(frozen=True, slots=True)
class PdfSignatureResult:
    """One signature of a PDF attachment (SPEC 5.3)."""

    field: str
    indication: str
    sub_indication: str | None
    signed_by: SignedBy | None
    signing_time: dt.datetime | None
    """The time the signer claims (the CMS signingTime / the PDF /M entry)."""
    timestamp_time: dt.datetime | None
    """genTime of a valid signature timestamp, when the signature carries one."""
    coverage: Literal["entire_file", "entire_revision", "partial"]
    modified_after_signing: bool
    errors: tuple[Message, ...] = ()

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "signed_by": self.signed_by.to_dict() if self.signed_by else None,
            "signing_time": _iso(self.signing_time),
            "timestamp_time": _iso(self.timestamp_time),
            "coverage": self.coverage,
            "modified_after_signing": self.modified_after_signing,
            "errors": [e.to_dict() for e in self.errors],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PdfSignatureResult:
        signed_by = data.get("signed_by")
        return cls(
            field=data["field"],
            indication=data["indication"],
            sub_indication=data.get("sub_indication"),
            signed_by=SignedBy(**signed_by) if signed_by else None,
            signing_time=_parse_iso(data.get("signing_time")),
            timestamp_time=_parse_iso(data.get("timestamp_time")),
            coverage=data["coverage"],
            modified_after_signing=bool(data["modified_after_signing"]),
            errors=tuple(Message(**e) for e in data.get("errors", ())),
        )


@dataclass(frozen=True, slots=True)
class AttachmentVerdict:
    """The signatures of one PDF attachment, or of one PDF inside a ZIP attachment (SPEC 5.3).

    `indication` is TOTAL_PASSED only when every signature passes; NO_SIGNATURE_FOUND when it
    has none; a PDF that cannot be parsed or a ZIP over the limits is INDETERMINATE /
    FORMAT_FAILURE (then `path_in_zip` is None for the ZIP as a whole)."""

    content_id: str
    name: str
    path_in_zip: str | None
    indication: str
    sub_indication: str | None
    signatures: tuple[PdfSignatureResult, ...] = ()
    errors: tuple[Message, ...] = ()

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED

    def signed_by_organ(self, organ_id: str) -> bool:
        """Every signature passes and at least one is `organ_id`'s (the sender's own)."""
        return self.passed and any(
            s.signed_by is not None and s.signed_by.organ_id == organ_id for s in self.signatures
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "content_id": self.content_id,
            "name": self.name,
            "path_in_zip": self.path_in_zip,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "signatures": [s.to_dict() for s in self.signatures],
            "errors": [e.to_dict() for e in self.errors],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttachmentVerdict:
        return cls(
            content_id=data["content_id"],
            name=data["name"],
            path_in_zip=data.get("path_in_zip"),
            indication=data["indication"],
            sub_indication=data.get("sub_indication"),
            signatures=tuple(PdfSignatureResult.from_dict(s) for s in data.get("signatures", ())),
            errors=tuple(Message(**e) for e in data.get("errors", ())),
        )


@dataclass(frozen=True, slots=True)
class TimestampToken:
    """An RFC 3161 token over the signature's value, as the report keeps it (SPEC 5.2:
    `timestamp{gen_time, tsa, serial, token_base64}`); `der` is the CMS ContentInfo."""

    gen_time: dt.datetime
    tsa: str
    serial: str
    der: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "granted",
            "gen_time": _iso(self.gen_time),
            "tsa": self.tsa,
            "serial": self.serial,
            "token_base64": base64.b64encode(self.der).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimestampToken:
        return cls(
            gen_time=cast(dt.datetime, _parse_iso(data["gen_time"])),
            tsa=data["tsa"],
            serial=data["serial"],
            der=base64.b64decode(data["token_base64"]),
        )


TIMESTAMP_PENDING: Mapping[str, Any] = MappingProxyType({"status": "pending"})
"""The report's `timestamp` while the worker still has to fetch the token (SPEC 5.2)."""


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of one validation (SPEC section 5), kept for every check ever made.

    `claimed_signing_time` is the sender's own TraceHeader Timestamp (the TraceHeader whose
    OrganId is MessageHeader/From/OrganId), or for status messages MessageHeader/Timestamp.
    Both are inside the signed content, but they are the signer's claim, not a trusted time;
    `best_signature_time` is the proof-of-existence time the hub knows (`at`).
    """

    indication: str
    sub_indication: str | None
    signed_by: SignedBy | None
    chain: tuple[ChainEntry, ...]
    claimed_signing_time: dt.datetime | None
    best_signature_time: dt.datetime
    checks: Mapping[str, CheckStatus]
    errors: tuple[Message, ...]
    warnings: tuple[Message, ...]
    validated_at: dt.datetime
    policy: str
    revocation_data: tuple[RevocationEvidence, ...] = ()
    attachments: tuple[AttachmentVerdict, ...] = ()
    """The PDF attachments' own signatures (SPEC 5.3); they do not change `indication`."""
    timestamp: TimestampToken | None = None
    """The RFC 3161 token over the SignatureValue; `best_signature_time` is its gen_time."""
    timestamp_pending: bool = False
    """True while the token is still to be fetched (the TSA did not answer yet)."""

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED

    @property
    def pdf_indication(self) -> str | None:
        """The PDF attachments' verdict as one word: None without PDFs, else TOTAL_PASSED when
        all pass, else the first of TOTAL_FAILED, INDETERMINATE, NO_SIGNATURE_FOUND found."""
        if not self.attachments:
            return None
        found = {a.indication for a in self.attachments}
        for word in (TOTAL_FAILED, INDETERMINATE, NO_SIGNATURE_FOUND):
            if word in found:
                return word
        return TOTAL_PASSED

    def pdfs_signed_by(self, organ_id: str) -> bool:
        """At least one PDF, and every PDF passes with a signature of `organ_id` (SPEC 9's
        `sent_pdf_signed`)."""
        return bool(self.attachments) and all(a.signed_by_organ(organ_id) for a in self.attachments)

    def with_timestamp(self, token: TimestampToken) -> ValidationReport:
        """This report with its token: the token's time becomes the best signature time."""
        return dataclasses.replace(
            self, timestamp=token, timestamp_pending=False, best_signature_time=token.gen_time
        )

    def with_timestamp_pending(self) -> ValidationReport:
        return dataclasses.replace(self, timestamp=None, timestamp_pending=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: times as ISO 8601 UTC ('Z'), DER as base64."""
        return {
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "signed_by": self.signed_by.to_dict() if self.signed_by else None,
            "chain": [c.to_dict() for c in self.chain],
            "claimed_signing_time": _iso(self.claimed_signing_time),
            "best_signature_time": _iso(self.best_signature_time),
            "checks": dict(self.checks),
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
            "validated_at": _iso(self.validated_at),
            "policy": self.policy,
            "revocation_data": [r.to_dict() for r in self.revocation_data],
            "attachments": [a.to_dict() for a in self.attachments],
            "timestamp": (
                self.timestamp.to_dict()
                if self.timestamp is not None
                else dict(TIMESTAMP_PENDING)
                if self.timestamp_pending
                else None
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Inverse of `to_dict`, for reports read back from storage."""
        signed_by = data.get("signed_by")
        stamp = data.get("timestamp")
        best = _parse_iso(data["best_signature_time"])
        validated = _parse_iso(data["validated_at"])
        assert best is not None and validated is not None
        return cls(
            indication=data["indication"],
            sub_indication=data.get("sub_indication"),
            signed_by=SignedBy(**signed_by) if signed_by else None,
            chain=tuple(
                ChainEntry(
                    subject=c["subject"],
                    serial=c["serial"],
                    issuer=c["issuer"],
                    not_before=cast(dt.datetime, _parse_iso(c["not_before"])),
                    not_after=cast(dt.datetime, _parse_iso(c["not_after"])),
                    sha256=c["sha256"],
                )
                for c in data.get("chain", ())
            ),
            claimed_signing_time=_parse_iso(data.get("claimed_signing_time")),
            best_signature_time=best,
            checks=dict(data["checks"]),
            errors=tuple(Message(**e) for e in data.get("errors", ())),
            warnings=tuple(Message(**w) for w in data.get("warnings", ())),
            validated_at=validated,
            policy=data["policy"],
            revocation_data=tuple(
                RevocationEvidence.from_dict(r) for r in data.get("revocation_data", ())
            ),
            attachments=tuple(AttachmentVerdict.from_dict(a) for a in data.get("attachments", ())),
            timestamp=(
                TimestampToken.from_dict(stamp)
                if stamp is not None and stamp.get("status") == "granted"
                else None
            ),
            timestamp_pending=stamp is not None and stamp.get("status") == "pending",
        )


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What the hub accepts. Hashable: it is part of the TrustStore cache key."""

    name: str = "lienthong-edxml-xmldsig"
    version: str = "1"
    signature_methods: frozenset[str] = frozenset(
        {RSA_SHA256, RSA_SHA384, RSA_SHA512, ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512}
    )
    digest_methods: frozenset[str] = frozenset({SHA256, SHA384, SHA512})
    min_rsa_bits: int = 2048
    ec_curves: frozenset[str] = frozenset({"secp256r1", "secp384r1", "secp521r1"})
    revocation_mode: Literal["require", "hard-fail", "soft-fail", "none"] = "require"
    """"require": every certificate below the anchor needs fresh CRL or OCSP data (TRY_LATER
    otherwise); this is what SPEC section 5 asks for."""
    time_tolerance: dt.timedelta = dt.timedelta(seconds=1)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    @functools.cached_property
    def cache_key(self) -> int:
        """Hash of all fields, computed once (the dataclass hash rebuilds a tuple per call)."""
        return hash(self)


DEFAULT_POLICY = Policy()
