"""Validation of edXML signatures with an ETSI EN 319 102-1 style report (SPEC section 5).

The checks run in the order the SPEC gives and each one is recorded, so that an auditor can see
not only *that* a signature failed but which step failed and what the others found:

    format -> digest -> signature -> algorithm -> chain -> validity -> revocation
           -> key_usage -> signer_matches_sender

A format failure stops everything (nothing in the signature can be trusted to point at the right
data). After that every step runs when its inputs exist; the final indication is the first
TOTAL_FAILED-class sub-indication in that order, else the first INDETERMINATE one, else
TOTAL_PASSED.

The report model and policy are in `report`, the trust store (chain, validity and revocation,
cached) in `trust`; this module is the run itself, a few hundred microseconds for a 20 KB
document when the trust store has the chain's answer cached.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from app.core.timeutil import LOCAL_TZ
from app.edxml.payloads import DetachedPayloads
from app.signing.report import (
    CHECK_NAMES,
    DEFAULT_POLICY,
    FAILED_SUB_INDICATIONS,
    INDETERMINATE,
    NO_SIGNATURE_FOUND,
    TOTAL_FAILED,
    TOTAL_PASSED,
    ChainEntry,
    CheckStatus,
    Message,
    Policy,
    RevocationEvidence,
    SignedBy,
    ValidationReport,
    certificate_fingerprint,
    organ_id_of,
)
from app.signing.trust import TrustStore
from app.signing.xmldsig import (
    DIGEST_METHODS,
    EDXML_NS,
    SIGNATURE_METHODS,
    ParsedSignature,
    SignatureFormatError,
    decode_base64,
    ds,
    enveloped_digest,
    find_header,
    find_signatures,
    parse_signature,
    verify_raw_signature,
)

logger = logging.getLogger(__name__)

_DS_SIGNATURE = ds("Signature")
# lxml serializes calls of one XPath object with an internal lock, so sharing it is safe.
_DUPLICATE_ID_ATTRS = etree.XPath(
    "//@*[local-name()='Id' or local-name()='ID' or local-name()='id']"
)
_TIMESTAMP = re.compile(r"\s*(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})\s*")
_XPATH_NS = {"e": EDXML_NS}
_SENDER_TRACE_TIME = etree.XPath(
    "string(e:TraceHeaderList/e:TraceHeader[normalize-space(e:OrganId) != '' and "
    "normalize-space(e:OrganId) = normalize-space(../../e:MessageHeader/e:From/e:OrganId)]"
    "/e:Timestamp)",
    namespaces=_XPATH_NS,
)
_MESSAGE_TIME = etree.XPath("string(e:MessageHeader/e:Timestamp)", namespaces=_XPATH_NS)
_STRONG_CERT_HASHES = frozenset({"sha256", "sha384", "sha512"})
# The sub-indication of a step that raised unexpectedly (hostile input must give a report).
_UNEXPECTED_SUB = {
    "format": "FORMAT_FAILURE",
    "digest": "HASH_FAILURE",
    "signature": "SIG_CRYPTO_FAILURE",
    "algorithm": "CRYPTO_CONSTRAINTS_FAILURE",
    "chain": "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    "validity": "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    "revocation": "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    "key_usage": "SIG_CONSTRAINTS_FAILURE",
    "signer_matches_sender": "SIG_CONSTRAINTS_FAILURE",
}


def validate(
    root: etree._Element,
    *,
    expected_organ_id: str,
    trust: TrustStore,
    at: dt.datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
    payloads: DetachedPayloads | None = None,
    now: dt.datetime | None = None,
) -> ValidationReport:
    """Validate the one signature of an edXML document; never raises on hostile input.

    `at` is the proof-of-existence time the hub knows (a timestamp token's gen_time, else its
    receipt time; default now): the certificate must be valid then and not revoked before
    then. `now` is when the validation happens (`validated_at`; default the clock). `expected_organ_id` is the
    document's `From` organization. `payloads` are the large attachment texts taken out of this
    tree (`detach_payloads`), if any: the digest covers them. The tree is briefly modified (the
    Signature is detached for the enveloped transform) and restored, so no other thread may
    read it meanwhile.
    """
    validated_at = now or _utcnow()
    if at is None:
        at = validated_at
    elif at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` must be timezone-aware")
    run = _Run(at, validated_at, policy)
    try:
        _validate_into(run, root, expected_organ_id, trust, policy, payloads)
    except Exception as exc:  # hostile input must give a report, not a crash
        logger.exception("signature validation failed unexpectedly at step %s", run.stage)
        run.fail(
            run.stage,
            _UNEXPECTED_SUB[run.stage],
            "internal.error",
            f"validation could not complete the {run.stage} step: {type(exc).__name__}: {exc}",
        )
    return run.report()


def validate_bytes(
    data: bytes,
    *,
    expected_organ_id: str,
    trust: TrustStore,
    at: dt.datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> ValidationReport:
    """Parse (safely) and validate; unparseable input is a FORMAT_FAILURE report."""
    from app.signing.xmldsig import SigningError, parse_document

    try:
        root = parse_document(data)
    except SigningError as exc:
        validated_at = _utcnow()
        run = _Run(at or validated_at, validated_at, policy)
        run.fail("format", "FORMAT_FAILURE", "format.xml", str(exc))
        return run.report()
    return validate(root, expected_organ_id=expected_organ_id, trust=trust, at=at, policy=policy)


def claimed_signing_time(root: etree._Element) -> dt.datetime | None:
    """The sender's TraceHeader Timestamp, else MessageHeader/Timestamp (status messages).

    edXML times are `yyyy/MM/dd HH:mm:ss` in Asia/Ho_Chi_Minh (UTC+7, no DST). Raises
    ValueError for a timestamp in another format.
    """
    header = find_header(root)
    return None if header is None else _claimed_from_header(header)


# -- the steps, in the order of SPEC section 5 -------------------------------------------------


def _validate_into(
    run: _Run,
    root: etree._Element,
    expected_organ_id: str,
    trust: TrustStore,
    policy: Policy,
    payloads: DetachedPayloads | None,
) -> None:
    """The steps of SPEC section 5, in its order; `run.stage` names the one running."""
    root = root.getroottree().getroot()
    header = find_header(root)
    _read_claimed_time(run, header)

    run.stage = "format"
    found = _check_format(run, root, header)
    if found is None:
        return
    parsed, certs = found

    run.stage = "digest"
    _check_digest(run, parsed, payloads)

    run.stage = "signature"
    signer = _check_signature_value(run, parsed, certs)
    if signer is not None:
        run.signed_by = _signed_by(signer, expected_organ_id, trust)

    run.stage = "algorithm"
    _check_algorithm(run, parsed, signer, policy)
    if signer is None:
        return  # nothing to build a chain from, nor to check usage or owner on

    run.stage = "chain"  # chain, validity and revocation are answered together
    _check_chain(run, signer, certs, trust, policy)

    run.stage = "key_usage"
    _check_key_usage(run, signer)

    run.stage = "signer_matches_sender"
    _check_signer_matches_sender(run, signer, expected_organ_id, trust)


def _read_claimed_time(run: _Run, header: etree._Element | None) -> None:
    if header is None:
        return
    try:
        run.claimed = _claimed_from_header(header)
    except ValueError as exc:
        run.warnings.append(Message("claimed_signing_time.unparseable", str(exc)))


def _check_format(
    run: _Run, root: etree._Element, header: etree._Element | None
) -> tuple[ParsedSignature, list[_CertFacts]] | None:
    """Exactly one signature, at its place, in the profile's shape; None stops the run."""
    signatures = find_signatures(root)
    if not signatures:
        run.no_signature = True
        run.errors.append(Message("signature.missing", "the document carries no signature"))
        return None
    try:
        if len(signatures) > 1:
            raise SignatureFormatError(
                "format.signature_count",
                f"{len(signatures)} Signature elements; exactly one is allowed",
            )
        signature = signatures[0]
        if signature.tag != _DS_SIGNATURE:
            raise SignatureFormatError(
                "format.namespace",
                f"the Signature element is {signature.tag!r}, not in the XML-DSig namespace",
            )
        _check_placement(header, signature)
        _check_duplicate_ids(root)
        parsed = parse_signature(signature)
        certs = [_cert_facts(text) for text in parsed.certificate_texts]
    except SignatureFormatError as exc:
        run.fail("format", "FORMAT_FAILURE", exc.code, str(exc))
        return None
    run.passed("format")
    if next(root.iter(etree.Comment), None) is not None:
        run.warnings.append(
            Message(
                "document.comments",
                "the document contains comments, which the signature does not cover; read "
                "text with itertext() or parse with remove_comments=True",
            )
        )
    return parsed, certs


def _check_digest(run: _Run, parsed: ParsedSignature, payloads: DetachedPayloads | None) -> None:
    digest = enveloped_digest(parsed.element, DIGEST_METHODS[parsed.digest_method], payloads)
    if hmac.compare_digest(digest, parsed.digest_value):
        run.passed("digest")
    else:
        run.fail(
            "digest",
            "HASH_FAILURE",
            "digest.mismatch",
            "the document was changed after signing (Reference digest does not match)",
        )


def _check_signature_value(
    run: _Run, parsed: ParsedSignature, certs: list[_CertFacts]
) -> _CertFacts | None:
    """The KeyInfo certificate whose key verifies the SignatureValue (the signer)."""
    if not certs:
        run.fail(
            "signature",
            "NO_SIGNING_CERTIFICATE_FOUND",
            "signature.no_certificate",
            "KeyInfo/X509Data carries no certificate to verify the signature with",
        )
        return None
    for facts in certs:
        if verify_raw_signature(
            facts.public_key,
            parsed.signature_method,
            parsed.signed_info_c14n,
            parsed.signature_value,
        ):
            run.passed("signature")
            return facts
    # No KeyInfo key verifies: report on the first (conventionally the signer's).
    run.fail(
        "signature",
        "SIG_CRYPTO_FAILURE",
        "signature.invalid",
        "the SignatureValue does not verify with the KeyInfo certificate",
    )
    return certs[0]


def _signed_by(signer: _CertFacts, expected_organ_id: str, trust: TrustStore) -> SignedBy:
    """Who signed; without organizationIdentifier, the organization it is registered for."""
    organ = signer.organ_id
    if organ is None:
        registered = trust.organs_registered_for(signer.fingerprint)
        if expected_organ_id in registered:
            organ = expected_organ_id
        elif len(registered) == 1:
            organ = next(iter(registered))
    entry = signer.entry
    return SignedBy(entry.subject, entry.serial, entry.issuer, organ)


def _check_algorithm(
    run: _Run, parsed: ParsedSignature, signer: _CertFacts | None, policy: Policy
) -> None:
    weak = _weak_algorithms(parsed, signer, policy)
    if weak:
        run.checks["algorithm"] = "failed"
        run.subs.setdefault("algorithm", "CRYPTO_CONSTRAINTS_FAILURE")
        run.errors.extend(weak)
    else:
        run.passed("algorithm")


def _check_chain(
    run: _Run, signer: _CertFacts, certs: list[_CertFacts], trust: TrustStore, policy: Policy
) -> None:
    """Path to a configured anchor, validity at `run.at` and revocation, from the trust store."""
    others = [c for c in certs if c is not signer]
    outcome = trust.validate_chain_with_fingerprints(
        signer.fingerprint,
        tuple(c.fingerprint for c in others),
        signer.der,
        [c.der for c in others],
        run.at,
        policy,
    )
    run.checks["chain"] = outcome.chain
    run.checks["validity"] = outcome.validity
    run.checks["revocation"] = outcome.revocation
    if outcome.path:
        run.chain = outcome.path
    else:
        run.chain = (signer.entry, *(c.entry for c in others))
        run.warnings.append(
            Message("chain.as_presented", "chain[] lists the KeyInfo certificates, unverified")
        )
    run.revocation_data = outcome.revocation_data
    if outcome.error is None or outcome.sub_indication is None:
        return
    if outcome.weak_algorithm:
        run.checks["algorithm"] = "failed"
        run.subs.setdefault("algorithm", outcome.sub_indication)
    else:
        check = (
            "revocation"
            if outcome.revocation in ("failed", "indeterminate")
            else "validity"
            if outcome.validity in ("failed", "indeterminate")
            else "chain"
        )
        run.subs.setdefault(check, outcome.sub_indication)
    run.errors.append(outcome.error)


def _check_key_usage(run: _Run, signer: _CertFacts) -> None:
    if signer.usage_problem is None:
        run.passed("key_usage")
    else:
        run.fail(
            "key_usage", "SIG_CONSTRAINTS_FAILURE", "key_usage.not_signing", signer.usage_problem
        )


def _check_signer_matches_sender(
    run: _Run, signer: _CertFacts, expected_organ_id: str, trust: TrustStore
) -> None:
    if signer.organ_id == expected_organ_id or trust.is_registered(
        expected_organ_id, signer.fingerprint
    ):
        run.passed("signer_matches_sender")
        return
    named = (
        f"organizationIdentifier {signer.organ_id!r}"
        if signer.organ_id
        else "no organizationIdentifier"
    )
    run.fail(
        "signer_matches_sender",
        "SIG_CONSTRAINTS_FAILURE",
        "signer.organ_mismatch",
        f"the certificate has {named} and is not registered for {expected_organ_id!r}",
    )


# -- what a run records, and what the steps need ----------------------------------------------


class _Run:
    """Accumulates check results; decides the indication at the end."""

    def __init__(self, at: dt.datetime, validated_at: dt.datetime, policy: Policy) -> None:
        self.at = at
        self.validated_at = validated_at
        self.policy = policy
        self.checks: dict[str, CheckStatus] = dict.fromkeys(CHECK_NAMES, "not_checked")
        self.subs: dict[str, str] = {}
        self.errors: list[Message] = []
        self.warnings: list[Message] = []
        self.signed_by: SignedBy | None = None
        self.chain: tuple[ChainEntry, ...] = ()
        self.claimed: dt.datetime | None = None
        self.revocation_data: tuple[RevocationEvidence, ...] = ()
        self.no_signature = False
        self.stage = "format"

    def passed(self, check: str) -> None:
        self.checks[check] = "passed"

    def problem(self, check: str, status: CheckStatus, sub: str, code: str, message: str) -> None:
        self.checks[check] = status
        self.subs.setdefault(check, sub)
        self.errors.append(Message(code, message))

    def fail(self, check: str, sub: str, code: str, message: str) -> None:
        status: CheckStatus = "failed" if sub in FAILED_SUB_INDICATIONS else "indeterminate"
        self.problem(check, status, sub, code, message)

    def report(self) -> ValidationReport:
        if self.no_signature:
            indication, sub = NO_SIGNATURE_FOUND, None
        else:
            ordered = [(c, self.subs[c]) for c in CHECK_NAMES if c in self.subs]
            failed = [s for _, s in ordered if s in FAILED_SUB_INDICATIONS]
            if failed:
                indication, sub = TOTAL_FAILED, failed[0]
            elif ordered:
                indication, sub = INDETERMINATE, ordered[0][1]
            elif all(
                v == "passed" or (c == "revocation" and self.policy.revocation_mode == "none")
                for c, v in self.checks.items()
            ):
                indication, sub = TOTAL_PASSED, None
            else:  # pragma: no cover - every path above records its checks
                indication, sub = INDETERMINATE, "GENERIC"
        return ValidationReport(
            indication=indication,
            sub_indication=sub,
            signed_by=self.signed_by,
            chain=self.chain,
            claimed_signing_time=self.claimed,
            best_signature_time=self.at,
            checks=MappingProxyType(dict(self.checks)),
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
            validated_at=self.validated_at,
            policy=self.policy.label,
            revocation_data=self.revocation_data,
        )


@dataclass(frozen=True, slots=True)
class _CertFacts:
    """What validation needs to know about one KeyInfo certificate, derived once."""

    der: bytes
    cert: x509.Certificate
    public_key: Any
    fingerprint: str
    entry: ChainEntry
    organ_id: str | None
    usage_problem: str | None
    signature_hash: str | None


@functools.lru_cache(maxsize=2048)
def _cert_facts(b64_text: str) -> _CertFacts:
    """Decode and describe a KeyInfo certificate; cached by its base64 text because the same
    few signer certificates arrive on every document (rfc4514 names alone cost ~0.1 ms)."""
    der = decode_base64(b64_text, "X509Certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        public_key = cert.public_key()
        hash_algorithm = cert.signature_hash_algorithm
    except (ValueError, TypeError) as exc:
        raise SignatureFormatError(
            "format.certificate", f"a KeyInfo certificate is not a usable X.509 DER: {exc}"
        ) from exc
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        usage_problem = (
            None
            if usage.digital_signature or usage.content_commitment
            else "the certificate allows neither digitalSignature nor nonRepudiation"
        )
    except x509.ExtensionNotFound:
        usage_problem = "the certificate has no KeyUsage extension"
    return _CertFacts(
        der=der,
        cert=cert,
        public_key=public_key,
        fingerprint=certificate_fingerprint(cert),
        entry=ChainEntry.of(cert),
        organ_id=organ_id_of(cert),
        usage_problem=usage_problem,
        signature_hash=hash_algorithm.name if hash_algorithm is not None else None,
    )


def _claimed_from_header(header: etree._Element) -> dt.datetime | None:
    text = str(_SENDER_TRACE_TIME(header)) or str(_MESSAGE_TIME(header))
    if not text.strip():
        return None
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"timestamp {text.strip()!r} is not yyyy/MM/dd HH:mm:ss")
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    local = dt.datetime(year, month, day, hour, minute, second, tzinfo=LOCAL_TZ)
    return local.astimezone(dt.UTC)


def _check_placement(header: etree._Element | None, signature: etree._Element) -> None:
    if header is None:
        raise SignatureFormatError(
            "format.not_edxml", "not an edXML document (edXML/edXMLEnvelope/edXMLHeader)"
        )
    if signature.getparent() is not header or any(
        isinstance(s.tag, str) for s in signature.itersiblings()
    ):
        raise SignatureFormatError(
            "format.placement", "the Signature must be the last child of edXMLHeader"
        )


def _check_duplicate_ids(root: etree._Element) -> None:
    found = _DUPLICATE_ID_ATTRS(root)
    assert isinstance(found, list)
    if len(found) < 2:
        return
    seen: set[str] = set()
    for value in found:
        text = str(value)
        if text in seen:
            raise SignatureFormatError(
                "format.duplicate_id", f"the Id value {text!r} appears more than once"
            )
        seen.add(text)


def _weak_algorithms(
    parsed: ParsedSignature, signer: _CertFacts | None, policy: Policy
) -> list[Message]:
    weak: list[Message] = []
    if parsed.signature_method not in policy.signature_methods:
        hash_name = SIGNATURE_METHODS[parsed.signature_method][1]
        code = "algorithm.sha1" if hash_name == "sha1" else "algorithm.signature_method"
        weak.append(Message(code, f"SignatureMethod {parsed.signature_method} is not allowed"))
    if parsed.digest_method not in policy.digest_methods:
        code = (
            "algorithm.sha1"
            if DIGEST_METHODS[parsed.digest_method] == "sha1"
            else "algorithm.digest"
        )
        weak.append(Message(code, f"DigestMethod {parsed.digest_method} is not allowed"))
    if signer is not None:
        key_problem = _key_problem(signer.public_key, policy)
        if key_problem:
            weak.append(Message("algorithm.key_size", key_problem))
        if signer.signature_hash not in _STRONG_CERT_HASHES:
            shown = signer.signature_hash or "unknown"
            code = "algorithm.sha1" if shown == "sha1" else "algorithm.certificate"
            weak.append(Message(code, f"the signer certificate is signed with {shown}"))
    return weak


def _key_problem(public_key: object, policy: Policy) -> str | None:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < policy.min_rsa_bits:
            return f"RSA key of {public_key.key_size} bits; at least {policy.min_rsa_bits} required"
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in policy.ec_curves:
            return f"elliptic curve {public_key.curve.name} is not allowed"
        return None
    return f"{type(public_key).__name__} keys are not allowed"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


__all__ = ["claimed_signing_time", "validate", "validate_bytes"]
