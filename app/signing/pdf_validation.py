"""Validation of the signatures inside PDF attachments (PAdES, SPEC 5.3).

Each signature is checked by pyHanko (`pyhanko.sign.validation`): the CMS signature and the
digest over its byte range, the path to a trust anchor of the hub's `TrustStore` with its CRLs
and OCSP answers (no fetching; the PDF's own DSS adds certificates and revocation data, so LTV
signatures validate offline), the signature timestamp when there is one, and the difference
analysis of whatever was appended after signing. The hub's own rules come on top, as for edXML:
algorithms and key sizes (`Policy`), key usage digitalSignature or nonRepudiation, and the
organization binding (organizationIdentifier or a registered fingerprint of `From`).

Hostile input never raises: an unreadable PDF or a ZIP over the limits is a verdict
(INDETERMINATE / FORMAT_FAILURE).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy

from app.signing.pdf_containers import ContainerLimit, looks_like_pdf, looks_like_zip, pdfs_in_zip
from app.signing.pdf_signing import validation_context
from app.signing.report import (
    DEFAULT_POLICY,
    FAILED_SUB_INDICATIONS,
    INDETERMINATE,
    NO_SIGNATURE_FOUND,
    TOTAL_FAILED,
    TOTAL_PASSED,
    AttachmentVerdict,
    Message,
    PdfSignatureResult,
    Policy,
    SignedBy,
    certificate_fingerprint,
    organ_id_of,
)
from app.signing.trust import TrustStore, _run_coroutine
from app.signing.validation import _key_problem

logger = logging.getLogger(__name__)

TrustFor = Callable[[Sequence[bytes]], TrustStore]
"""Certificates a PDF carries (DER, signers first) → the trust store to validate it with."""

_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)
_STRONG_DIGESTS = frozenset({"sha256", "sha384", "sha512"})
_COVERAGE: dict[SignatureCoverageLevel, Literal["entire_file", "entire_revision", "partial"]] = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
}
_HARMLESS_CHANGES = (
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
)
"""What may follow a signature without changing what it signed: revocation data and
timestamps, and filling in (signing) form fields, which is how a second signature is added."""


@dataclass(frozen=True, slots=True)
class AttachmentInput:
    """One attachment as the caller holds it (decoded bytes, or a seekable file of them for a
    large one, and its edXML metadata)."""

    content_id: str
    name: str
    content_type: str | None
    data: bytes | IO[bytes]


def validate_attachments(
    attachments: Iterable[AttachmentInput],
    *,
    expected_organ_id: str,
    trust: TrustStore,
    at: dt.datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
    max_bytes: int = 50 * 1024 * 1024,
    trust_for: TrustFor | None = None,
) -> tuple[AttachmentVerdict, ...]:
    """A verdict for every PDF attachment and every PDF inside a ZIP attachment; other
    attachments give none. `at` is the proof-of-existence time (the hub's receipt)."""
    when = at or dt.datetime.now(dt.UTC)
    verdicts: list[AttachmentVerdict] = []
    for att in attachments:
        verdicts.extend(
            _verdicts_for(att, expected_organ_id, trust, when, policy, max_bytes, trust_for)
        )
    return tuple(verdicts)


def _verdicts_for(
    att: AttachmentInput,
    organ: str,
    trust: TrustStore,
    at: dt.datetime,
    policy: Policy,
    max_bytes: int,
    trust_for: TrustFor | None,
) -> Iterator[AttachmentVerdict]:
    head = _head(att.data)
    if looks_like_zip(head):
        found: list[AttachmentVerdict] = []
        try:
            for item in pdfs_in_zip(att.data, max_bytes=max_bytes):
                found.append(
                    validate_pdf(
                        item.data,
                        content_id=att.content_id,
                        name=att.name,
                        path_in_zip=item.path,
                        expected_organ_id=organ,
                        trust=trust,
                        at=at,
                        policy=policy,
                        trust_for=trust_for,
                    )
                )
        except ContainerLimit as exc:
            yield _refused(att, None, exc.code, str(exc))
            return
        except Exception as exc:  # zlib and struct errors of a damaged archive: a verdict
            yield _refused(att, None, "zip.malformed", f"the ZIP cannot be read: {exc}")
            return
        yield from found
    elif looks_like_pdf(att.name, att.content_type, head):
        yield validate_pdf(
            att.data,
            content_id=att.content_id,
            name=att.name,
            expected_organ_id=organ,
            trust=trust,
            at=at,
            policy=policy,
            trust_for=trust_for,
        )


def _head(data: bytes | IO[bytes]) -> bytes:
    if isinstance(data, bytes):
        return data[:1024]
    data.seek(0)
    head = data.read(1024)
    data.seek(0)
    return head


def _refused(att: AttachmentInput, path: str | None, code: str, message: str) -> AttachmentVerdict:
    return AttachmentVerdict(
        content_id=att.content_id,
        name=att.name,
        path_in_zip=path,
        indication=INDETERMINATE,
        sub_indication="FORMAT_FAILURE",
        errors=(Message(code, message),),
    )


def validate_pdf(
    data: bytes | IO[bytes],
    *,
    content_id: str = "",
    name: str = "",
    path_in_zip: str | None = None,
    expected_organ_id: str,
    trust: TrustStore,
    at: dt.datetime | None = None,
    policy: Policy = DEFAULT_POLICY,
    trust_for: TrustFor | None = None,
) -> AttachmentVerdict:
    """Every signature of one PDF; never raises on hostile input. `trust_for`, when given,
    turns the certificates the PDF carries into the trust store to use (the caller adds the
    network's revocation data for them, SPEC 5.1); `trust` otherwise."""
    when = at or dt.datetime.now(dt.UTC)
    att = AttachmentInput(content_id, name, "application/pdf", b"")
    try:
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        stream.seek(0)
        reader = PdfFileReader(stream, strict=False)
        if reader.encrypted:
            return _refused(att, path_in_zip, "pdf.encrypted", "the PDF is encrypted")
        signatures = list(reader.embedded_regular_signatures)
        dss = _dss_material(reader)
    except Exception as exc:  # hostile input: a verdict, not a crash
        return _refused(att, path_in_zip, "pdf.malformed", f"the PDF cannot be read: {exc}")
    if not signatures:
        return AttachmentVerdict(
            content_id=content_id,
            name=name,
            path_in_zip=path_in_zip,
            indication=NO_SIGNATURE_FOUND,
            sub_indication=None,
            errors=(Message("pdf.unsigned", "the PDF carries no signature"),),
        )
    if trust_for is not None:
        try:
            trust = trust_for(_certificates(signatures, dss))
        except Exception as exc:  # the caller's revocation lookup: say so, keep the base store
            logger.warning("revocation data for a PDF's certificates unavailable: %s", exc)
    store, dss_certs = _with_dss(trust, dss)
    results = tuple(
        _validate_signature(sig, store, dss_certs, when, expected_organ_id, policy)
        for sig in signatures
    )
    indication, sub = _combine(results)
    return AttachmentVerdict(
        content_id=content_id,
        name=name,
        path_in_zip=path_in_zip,
        indication=indication,
        sub_indication=sub,
        signatures=results,
    )


@dataclass(frozen=True, slots=True)
class _Dss:
    """What the PDF's Document Security Store carries (LTV): DER certificates, CRLs, OCSP."""

    certs: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()


def _dss_material(reader: PdfFileReader) -> _Dss:
    dss: Any = reader.root.get("/DSS")
    if dss is None:
        return _Dss()
    dss = dss.get_object()

    def streams(key: str) -> tuple[bytes, ...]:
        found = dss.get(key)
        if found is None:
            return ()
        return tuple(bytes(ref.get_object().data) for ref in found.get_object())

    return _Dss(streams("/Certs"), streams("/CRLs"), streams("/OCSPs"))


def _with_dss(trust: TrustStore, dss: _Dss) -> tuple[TrustStore, tuple[bytes, ...]]:
    """The trust store plus the PDF's own revocation data (only what it does not hold yet, so
    a PDF whose DSS repeats the hub's CRLs keeps the store and its warm cache)."""
    have_crls, have_ocsps = set(trust.crls), set(trust.ocsp_responses)
    new_crls = [c for c in dss.crls if c not in have_crls]
    new_ocsps = [o for o in dss.ocsps if o not in have_ocsps]
    if new_crls or new_ocsps:
        return trust.with_fetched(crls=new_crls, ocsp_responses=new_ocsps), dss.certs
    return trust, dss.certs


def _certificates(signatures: list[EmbeddedPdfSignature], dss: _Dss) -> list[bytes]:
    """The DER certificates the signatures carry (signers first) and the DSS's."""
    found: list[bytes] = []
    for sig in signatures:
        with contextlib.suppress(Exception):  # an unreadable one is reported by its check
            found.append(bytes(sig.signer_cert.dump()))
            found.extend(bytes(c.dump()) for c in sig.other_embedded_certs)
    return list(dict.fromkeys([*found, *dss.certs]))


def _combine(results: tuple[PdfSignatureResult, ...]) -> tuple[str, str | None]:
    for word in (TOTAL_FAILED, INDETERMINATE):
        for r in results:
            if r.indication == word:
                return word, r.sub_indication
    return TOTAL_PASSED, None


def _indication(sub: str) -> str:
    return TOTAL_FAILED if sub in FAILED_SUB_INDICATIONS else INDETERMINATE


def _signer_only_context(signer: asn1_x509.Certificate, at: dt.datetime) -> ValidationContext:
    """pyHanko checks integrity, coverage, changes and key usage against this context, which
    trusts the signer certificate alone; its chain, validity and revocation are decided by the
    trust store (`TrustStore.validate_chain`, cached), exactly as for edXML signatures."""
    return ValidationContext(
        trust_roots=[signer],
        moment=at,
        allow_fetching=False,
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy.from_legacy("none")),
    )


def _validate_signature(
    sig: EmbeddedPdfSignature,
    store: TrustStore,
    dss_certs: tuple[bytes, ...],
    at: dt.datetime,
    organ: str,
    policy: Policy,
) -> PdfSignatureResult:
    field = str(sig.field_name or "")
    try:
        return _check_signature(sig, field, store, dss_certs, at, organ, policy)
    except Exception as exc:  # a signature pyHanko cannot even read: a verdict, not a crash
        logger.info("PDF signature %r could not be validated: %s", field, exc)
        return PdfSignatureResult(
            field=field,
            indication=INDETERMINATE,
            sub_indication="FORMAT_FAILURE",
            signed_by=None,
            signing_time=None,
            timestamp_time=None,
            coverage="partial",
            modified_after_signing=False,
            errors=(Message("pdf.signature_unreadable", f"{type(exc).__name__}: {exc}"),),
        )


def _check_signature(
    sig: EmbeddedPdfSignature,
    field: str,
    store: TrustStore,
    dss_certs: tuple[bytes, ...],
    at: dt.datetime,
    organ: str,
    policy: Policy,
) -> PdfSignatureResult:
    signer = sig.signer_cert
    ts_context = (
        validation_context(store, at=at, certs=[asn1_x509.Certificate.load(c) for c in dss_certs])
        if next(extract_tst_data_iter(sig.signer_info, signed=False), None) is not None
        else None
    )
    status: PdfSignatureStatus = _run_coroutine(
        async_validate_pdf_signature(
            sig,
            signer_validation_context=_signer_only_context(signer, at),
            ts_validation_context=ts_context,
            key_usage_settings=_KEY_USAGE,
        )
    )
    candidates = [c.dump() for c in sig.other_embedded_certs]
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    problems: list[tuple[str, Message]] = []  # (sub-indication, message), in check order
    coverage = _COVERAGE.get(status.coverage or SignatureCoverageLevel.UNCLEAR, "partial")
    modified = coverage != "entire_file"
    if coverage == "partial":
        problems.append(
            (
                "FORMAT_FAILURE",
                Message("pdf.partial_coverage", "the signature covers only part of the file"),
            )
        )
    elif modified and (
        status.modification_level not in _HARMLESS_CHANGES or status.docmdp_ok is False
    ):
        problems.append(
            (
                "HASH_FAILURE",
                Message(
                    "pdf.modified_after_signing",
                    "the PDF was changed after signing beyond filling in forms and signatures "
                    f"({status.modification_level.name if status.modification_level else '?'})",
                ),
            )
        )
    if not status.intact:
        problems.append(
            ("HASH_FAILURE", Message("digest.mismatch", "the signed bytes were changed"))
        )
    elif not status.valid:
        problems.append(
            ("SIG_CRYPTO_FAILURE", Message("signature.invalid", "the signature does not verify"))
        )
    problems.extend(_algorithm_problems(status, cert, policy))
    timestamp_time = _timestamp_time(status)
    # A valid signature timestamp is proof that the signature existed then (SPEC 5.2).
    poe = min(at, timestamp_time) if timestamp_time is not None else at
    outcome = store.validate_chain(
        status.signing_cert.dump(), [*candidates, *dss_certs], poe, policy
    )
    if outcome.error is not None and outcome.sub_indication is not None:
        problems.append((outcome.sub_indication, outcome.error))
    if status.trust_problem_indic is not None:  # the leaf alone: key usage, validity
        sub = str(getattr(status.trust_problem_indic, "name", status.trust_problem_indic))
        if sub == "SIG_CONSTRAINTS_FAILURE" or outcome.error is None:
            problems.append((sub, Message("pdf." + sub.lower(), _trust_words(sub))))
    fingerprint = certificate_fingerprint(cert)
    cert_organ = organ_id_of(cert)
    if cert_organ != organ and not store.is_registered(organ, fingerprint):
        named = (
            f"organizationIdentifier {cert_organ!r}" if cert_organ else "no organizationIdentifier"
        )
        problems.append(
            (
                "SIG_CONSTRAINTS_FAILURE",
                Message(
                    "signer.organ_mismatch",
                    f"the certificate has {named} and is not registered for {organ!r}",
                ),
            )
        )
    failed = [p for p in problems if p[0] in FAILED_SUB_INDICATIONS]
    first = failed[0] if failed else (problems[0] if problems else None)
    return PdfSignatureResult(
        field=field,
        indication=_indication(first[0]) if first else TOTAL_PASSED,
        sub_indication=first[0] if first else None,
        signed_by=_signed_by(cert, cert_organ, fingerprint, organ, store),
        signing_time=status.signer_reported_dt,
        timestamp_time=timestamp_time,
        coverage=coverage,
        modified_after_signing=modified,
        errors=tuple(m for _, m in problems),
    )


def _algorithm_problems(
    status: PdfSignatureStatus, cert: x509.Certificate, policy: Policy
) -> list[tuple[str, Message]]:
    found: list[tuple[str, Message]] = []
    if status.md_algorithm not in _STRONG_DIGESTS:
        found.append(
            (
                "CRYPTO_CONSTRAINTS_FAILURE",
                Message("algorithm.digest", f"digest {status.md_algorithm} is not allowed"),
            )
        )
    key_problem = _key_problem(cert.public_key(), policy)
    if key_problem:
        found.append(("CRYPTO_CONSTRAINTS_FAILURE", Message("algorithm.key_size", key_problem)))
    return found


def _trust_words(sub: str) -> str:
    return {
        "NO_CERTIFICATE_CHAIN_FOUND": "no path to a configured trust anchor",
        "TRY_LATER": "no fresh revocation data for the signer's chain",
        "OUT_OF_BOUNDS_NO_POE": "the certificate was not valid at the signing time",
        "NOT_YET_VALID": "the certificate is not yet valid",
        "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain breaks a constraint",
        "SIG_CONSTRAINTS_FAILURE": "the certificate's key usage does not allow signing",
        "CRYPTO_CONSTRAINTS_FAILURE": "an algorithm of the chain is not allowed",
    }.get(sub, f"the signer's certificate is not trusted ({sub})")


def _signed_by(
    cert: x509.Certificate,
    cert_organ: str | None,
    fingerprint: str,
    expected: str,
    trust: TrustStore,
) -> SignedBy:
    organ = cert_organ
    if organ is None:
        registered = trust.organs_registered_for(fingerprint)
        if expected in registered:
            organ = expected
        elif len(registered) == 1:
            organ = next(iter(registered))
    return SignedBy(
        cert.subject.rfc4514_string(),
        format(cert.serial_number, "x"),
        cert.issuer.rfc4514_string(),
        organ,
    )


def _timestamp_time(status: PdfSignatureStatus) -> dt.datetime | None:
    ts = status.timestamp_validity
    if ts is None or not ts.intact or not ts.valid:
        return None
    return ts.timestamp


__all__ = ["AttachmentInput", "TrustFor", "validate_attachments", "validate_pdf"]
