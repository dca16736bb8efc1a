"""The trust store: anchors, intermediates, revocation data, registered fingerprints, and the
path-validation cache (SPEC section 5, steps chain, validity and revocation).

Path building, validity and revocation are delegated to pyhanko-certvalidator (RFC 5280, CRL and
OCSP, point-in-time). It costs ~7 ms, so answers are cached inside the store for as long as they
hold. certvalidator is asynchronous; `_run_coroutine` bridges it to the synchronous validator,
also when that is called inside an event loop. Its exceptions become report outcomes through one
table, `_REFUSALS`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy

from app.signing.report import (
    DEFAULT_POLICY,
    ChainEntry,
    CheckStatus,
    Message,
    Policy,
    RevocationEvidence,
    normalize_fingerprint,
)

_DER = serialization.Encoding.DER
_FAR_PAST = dt.datetime.min.replace(tzinfo=dt.UTC)
_FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class _Crl:
    der: bytes
    issuer: x509.Name
    this_update: dt.datetime
    next_update: dt.datetime | None
    revoked: Mapping[int, dt.datetime]


@dataclass(frozen=True, slots=True)
class _Ocsp:
    der: bytes
    serial: int | None
    issuer_name_hash: bytes | None
    hash_name: str | None
    this_update: dt.datetime | None
    next_update: dt.datetime | None
    revoked_at: dt.datetime | None

    def is_about(self, cert: x509.Certificate) -> bool:
        if self.serial != cert.serial_number or self.hash_name is None:
            return False
        name_hash = hashlib.new(self.hash_name, cert.issuer.public_bytes()).digest()
        return name_hash == self.issuer_name_hash


def _load_crl(der: bytes) -> _Crl:
    parsed = x509.load_der_x509_crl(der)
    return _Crl(
        der=der,
        issuer=parsed.issuer,
        this_update=parsed.last_update_utc,
        next_update=parsed.next_update_utc,
        revoked=MappingProxyType({r.serial_number: r.revocation_date_utc for r in parsed}),
    )


def _load_ocsp(der: bytes) -> _Ocsp:
    parsed = ocsp.load_der_ocsp_response(der)
    if parsed.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return _Ocsp(der, None, None, None, None, None, None)
    return _Ocsp(
        der=der,
        serial=parsed.serial_number,
        issuer_name_hash=parsed.issuer_name_hash,
        hash_name=parsed.hash_algorithm.name,
        this_update=parsed.this_update_utc,
        next_update=parsed.next_update_utc,
        revoked_at=parsed.revocation_time_utc,
    )


@dataclass(frozen=True, slots=True)
class ChainOutcome:
    """What path validation found for one signer certificate at one moment."""

    chain: CheckStatus
    validity: CheckStatus
    revocation: CheckStatus
    sub_indication: str | None = None
    error: Message | None = None
    weak_algorithm: bool = False
    path: tuple[ChainEntry, ...] = ()
    revocation_data: tuple[RevocationEvidence, ...] = ()

    @property
    def passed(self) -> bool:
        return self.sub_indication is None


@dataclass(slots=True)
class _CacheEntry:
    outcome: ChainOutcome
    valid_from: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True, slots=True)
class _Refusal:
    """How one kind of certvalidator refusal reads in the report."""

    chain: CheckStatus
    validity: CheckStatus
    revocation: CheckStatus
    sub_indication: str
    code: str
    explanation: str = ""
    """Appended to certvalidator's message."""


# fmt: off
_REFUSALS: tuple[tuple[type[PathValidationError], _Refusal], ...] = (
    # Subclasses first: the first entry the exception is an instance of applies.
    #                                   chain            validity         revocation       sub-indication                       code
    (RevokedError,             _Refusal("passed",        "passed",        "failed",        "REVOKED",                           "revocation.revoked")),
    (InsufficientRevinfoError, _Refusal("passed",        "passed",        "indeterminate", "TRY_LATER",                         "revocation.unavailable")),
    (ExpiredError,             _Refusal("passed",        "indeterminate", "not_checked",   "OUT_OF_BOUNDS_NO_POE",              "validity.expired",
                                        "; no proof that the signature existed before that")),
    (NotYetValidError,         _Refusal("passed",        "failed",        "not_checked",   "NOT_YET_VALID",                     "validity.not_yet_valid")),
    (DisallowedAlgorithmError, _Refusal("indeterminate", "not_checked",   "not_checked",   "CRYPTO_CONSTRAINTS_FAILURE",        "algorithm.chain")),
    (PathValidationError,      _Refusal("indeterminate", "not_checked",   "not_checked",   "CERTIFICATE_CHAIN_GENERAL_FAILURE", "chain.invalid")),
)
# fmt: on
"""certvalidator's refusals, by exception type: the checks they settle, the sub-indication
(SPEC section 5) and the error code. Revocation outcomes keep the revocation data they rest on;
an algorithm refusal is reported under the algorithm check (`ChainOutcome.weak_algorithm`)."""

_LOOK_ALIKE_CA = "could not be verified"
"""certvalidator's words when an issuer's name matches but its key does not."""


def _no_path(message: str) -> ChainOutcome:
    return ChainOutcome(
        chain="indeterminate",
        validity="not_checked",
        revocation="not_checked",
        sub_indication="NO_CERTIFICATE_CHAIN_FOUND",
        error=Message("chain.not_found", message),
    )


_T = TypeVar("_T")
_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _run_coroutine(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run certvalidator's coroutine from sync code, even when called inside an event loop.

    No fetching is allowed, so nothing really awaits I/O; a private loop per call is cheap next
    to the path validation itself (and only happens on a cache miss). Unlike asyncio.run, the
    private loop never becomes (or unsets) the thread's current event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_in_private_loop(coro)
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="lienthong-certvalidator"
            )
        executor = _EXECUTOR
    return executor.submit(_run_in_private_loop, coro).result()


def _run_in_private_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


class TrustStore:
    """Trust anchors, known intermediates, revocation data and registered fingerprints.

    Immutable: to take in a new CRL, build a new store with `with_crl` (which starts with an
    empty cache, so no cached decision outlives the data it was made with). Thread-safe: the
    path-validation cache is guarded by a lock; validation itself runs outside it.
    Only `anchors` are trusted; KeyInfo certificates and `intermediates` are path candidates.
    """

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        crls: Sequence[bytes] = (),
        ocsp_responses: Sequence[bytes] = (),
        registered_fingerprints: Mapping[str, Iterable[str]] | None = None,
        *,
        sources: Mapping[str, str] | None = None,
        cache_size: int = 4096,
    ) -> None:
        if not anchors:
            raise ValueError("a TrustStore needs at least one trust anchor")
        self._anchors = tuple(anchors)
        self._intermediates = tuple(intermediates)
        self._anchor_der = tuple(c.public_bytes(_DER) for c in self._anchors)
        self._intermediate_der = tuple(c.public_bytes(_DER) for c in self._intermediates)
        self._crls = tuple(_load_crl(bytes(c)) for c in crls)
        self._ocsps = tuple(_load_ocsp(bytes(o)) for o in ocsp_responses)
        self._sources: Mapping[str, str] = MappingProxyType(dict(sources or {}))
        registered = {
            organ: frozenset(normalize_fingerprint(f) for f in fps)
            for organ, fps in (registered_fingerprints or {}).items()
        }
        self._registered: Mapping[str, frozenset[str]] = MappingProxyType(registered)
        by_fp: dict[str, set[str]] = {}
        for organ, fps in registered.items():
            for fp in fps:
                by_fp.setdefault(fp, set()).add(organ)
        self._organs_by_fp = MappingProxyType({k: frozenset(v) for k, v in by_fp.items()})
        h = hashlib.sha256()
        for part in (self._anchor_der, self._intermediate_der):
            for der in part:
                h.update(hashlib.sha256(der).digest())
        h.update(b"|revocation|")
        for der in sorted(c.der for c in self._crls) + sorted(o.der for o in self._ocsps):
            h.update(hashlib.sha256(der).digest())
        self._revocation_identity = h.hexdigest()
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], _CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    # -- views --------------------------------------------------------------------------------

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return self._anchors

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        return self._intermediates

    @property
    def crls(self) -> tuple[bytes, ...]:
        return tuple(c.der for c in self._crls)

    @property
    def ocsp_responses(self) -> tuple[bytes, ...]:
        return tuple(o.der for o in self._ocsps)

    @property
    def sources(self) -> Mapping[str, str]:
        """Where fetched revocation data came from: SHA-256 of the DER → URL."""
        return self._sources

    @property
    def crl_issuers(self) -> frozenset[x509.Name]:
        """The issuers whose CRLs the store holds."""
        return frozenset(c.issuer for c in self._crls)

    @property
    def registered_fingerprints(self) -> dict[str, set[str]]:
        return {organ: set(fps) for organ, fps in self._registered.items()}

    @property
    def identity(self) -> str:
        """Digest of the trust material and revocation data; changes whenever they change."""
        return self._revocation_identity

    def is_registered(self, organ_id: str, fingerprint: str) -> bool:
        return normalize_fingerprint(fingerprint) in self._registered.get(organ_id, frozenset())

    def organs_registered_for(self, fingerprint: str) -> frozenset[str]:
        return self._organs_by_fp.get(normalize_fingerprint(fingerprint), frozenset())

    # -- derived stores -----------------------------------------------------------------------

    def _derive(
        self,
        *,
        intermediates: Sequence[x509.Certificate] | None = None,
        crls: Sequence[bytes] | None = None,
        ocsp_responses: Sequence[bytes] | None = None,
        registered_fingerprints: Mapping[str, Iterable[str]] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> TrustStore:
        return TrustStore(
            self._anchors,
            self._intermediates if intermediates is None else intermediates,
            self.crls if crls is None else crls,
            self.ocsp_responses if ocsp_responses is None else ocsp_responses,
            self._registered if registered_fingerprints is None else registered_fingerprints,
            sources=self._sources if sources is None else sources,
            cache_size=self._cache_size,
        )

    def with_fetched(
        self,
        *,
        intermediates: Sequence[x509.Certificate] = (),
        crls: Sequence[bytes] = (),
        ocsp_responses: Sequence[bytes] = (),
        sources: Mapping[str, str] | None = None,
    ) -> TrustStore:
        """A new store with these added: intermediates (path candidates, never anchors) and
        revocation data fetched from the network; `sources` maps the SHA-256 of each DER answer
        to the URL it came from (it goes into the report's evidence)."""
        known = {c.public_bytes(_DER) for c in self._intermediates}
        extra = [c for c in intermediates if c.public_bytes(_DER) not in known]
        have_crls, have_ocsps = set(self.crls), set(self.ocsp_responses)
        return self._derive(
            intermediates=[*self._intermediates, *extra],
            crls=[*self.crls, *(c for c in crls if c not in have_crls)],
            ocsp_responses=[
                *self.ocsp_responses,
                *(o for o in ocsp_responses if o not in have_ocsps),
            ],
            sources={**self._sources, **(sources or {})},
        )

    def with_crl(self, crl_der: bytes) -> TrustStore:
        """A new store where `crl_der` replaces the CRLs of the same issuer (or is added)."""
        new = _load_crl(crl_der)
        kept = [c.der for c in self._crls if c.issuer != new.issuer]
        return self._derive(crls=[*kept, crl_der])

    def with_crls(self, crls: Sequence[bytes]) -> TrustStore:
        """A new store with exactly these CRLs."""
        return self._derive(crls=crls)

    def with_ocsp_responses(self, responses: Sequence[bytes]) -> TrustStore:
        """A new store with exactly these OCSP responses."""
        return self._derive(ocsp_responses=responses)

    def with_registered_fingerprints(self, registered: Mapping[str, Iterable[str]]) -> TrustStore:
        """A new store with another fingerprint registry (admin registered a certificate)."""
        return self._derive(registered_fingerprints=registered)

    def cache_stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._cache), "max_entries": self._cache_size}

    # -- path validation ----------------------------------------------------------------------

    def validate_chain(
        self,
        signer_der: bytes,
        candidates_der: Sequence[bytes],
        at: dt.datetime,
        policy: Policy = DEFAULT_POLICY,
    ) -> ChainOutcome:
        """Path from the signer to a configured anchor at `at`, with validity and revocation.

        Cached per (certificate fingerprints, policy) for the time window in which the same
        answer holds: all path certificates valid, every CRL/OCSP used before its nextUpdate,
        and before any listed revocation.
        """
        return self.validate_chain_with_fingerprints(
            hashlib.sha256(signer_der).hexdigest(),
            tuple(hashlib.sha256(d).hexdigest() for d in candidates_der),
            signer_der,
            candidates_der,
            at,
            policy,
        )

    def validate_chain_with_fingerprints(
        self,
        signer_fp: str,
        candidate_fps: tuple[str, ...],
        signer_der: bytes,
        candidates_der: Sequence[bytes],
        at: dt.datetime,
        policy: Policy,
    ) -> ChainOutcome:
        """`validate_chain` for callers that already know the certificates' fingerprints (the
        validator keeps them with each decoded KeyInfo certificate)."""
        key = (signer_fp, candidate_fps, self._revocation_identity, policy.cache_key)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.valid_from <= at < entry.valid_until:
                self._cache.move_to_end(key)
                return entry.outcome
        outcome, window = self._compute_chain(signer_der, candidates_der, at, policy)
        if window is not None and window[0] <= at < window[1]:
            with self._lock:
                self._cache[key] = _CacheEntry(outcome, window[0], window[1])
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return outcome

    def _revocation_for(
        self, certs: Sequence[x509.Certificate]
    ) -> tuple[tuple[RevocationEvidence, ...], dt.datetime]:
        """CRLs/OCSP responses that speak about `certs` and how long they keep the answer."""
        evidence: list[RevocationEvidence] = []
        until = _FAR_FUTURE
        for cert in certs:
            for c in self._crls:
                if c.issuer != cert.issuer:
                    continue
                evidence.append(self._evidence("crl", c.der, c.this_update, c.next_update))
                if c.next_update is not None:
                    until = min(until, c.next_update)
                revoked_at = c.revoked.get(cert.serial_number)
                if revoked_at is not None:
                    until = min(until, revoked_at)
            for o in self._ocsps:
                if not o.is_about(cert):
                    continue
                evidence.append(self._evidence("ocsp", o.der, o.this_update, o.next_update))
                if o.next_update is not None:
                    until = min(until, o.next_update)
                if o.revoked_at is not None:
                    until = min(until, o.revoked_at)
        unique = tuple({(e.type, e.der): e for e in evidence}.values())
        return unique, until

    def _evidence(
        self,
        kind: Literal["crl", "ocsp"],
        der: bytes,
        this_update: dt.datetime | None,
        next_update: dt.datetime | None,
    ) -> RevocationEvidence:
        url = self._sources.get(hashlib.sha256(der).hexdigest())
        return RevocationEvidence(kind, der, url, this_update, next_update)

    def _compute_chain(
        self,
        signer_der: bytes,
        candidates_der: Sequence[bytes],
        at: dt.datetime,
        policy: Policy,
    ) -> tuple[ChainOutcome, tuple[dt.datetime, dt.datetime] | None]:
        # Fresh asn1crypto objects per run: they parse lazily and mutate themselves, so they
        # are not shared between threads.
        leaf = asn1_x509.Certificate.load(signer_der)
        others = [asn1_x509.Certificate.load(d) for d in (*candidates_der, *self._intermediate_der)]
        context = ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(d) for d in self._anchor_der],
            other_certs=others,
            moment=at,
            best_signature_time=at,
            allow_fetching=False,
            crls=[asn1_crl.CertificateList.load(c.der) for c in self._crls],
            ocsps=[asn1_ocsp.OCSPResponse.load(o.der) for o in self._ocsps],
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy.from_legacy(policy.revocation_mode),
                retroactive_revinfo=True,
            ),
            time_tolerance=policy.time_tolerance,
        )
        validator = CertificateValidator(leaf, validation_context=context)
        try:
            path = _run_coroutine(validator.async_validate_path())
        except PathValidationError as exc:
            return self._refused(exc), None
        except (PathBuildingError, ValidationError) as exc:
            # Path building does not depend on the time: cache the refusal indefinitely (for
            # this store), which also keeps floods of unknown certificates cheap.
            outcome = _no_path(f"no path to a configured trust anchor: {exc}")
            return outcome, (_FAR_PAST, _FAR_FUTURE)

        entries, evidence = self._describe(path)
        certs = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(True)]
        _, until = self._revocation_for(certs[1:])
        valid_from = max(c.not_valid_before_utc for c in certs)
        valid_until = min([until, *(c.not_valid_after_utc for c in certs)])
        outcome = ChainOutcome(
            chain="passed",
            validity="passed",
            revocation="passed" if policy.revocation_mode != "none" else "not_checked",
            path=entries,
            revocation_data=evidence,
        )
        return outcome, (valid_from, valid_until)

    def _refused(self, exc: PathValidationError) -> ChainOutcome:
        """The outcome certvalidator's refusal stands for, from the `_REFUSALS` table."""
        kind, refusal = next((k, r) for k, r in _REFUSALS if isinstance(exc, k))
        if kind is PathValidationError and _LOOK_ALIKE_CA in exc.failure_msg:
            # A look-alike CA (right name, wrong key): there is no path to an anchor.
            return _no_path(exc.failure_msg)
        entries, evidence = self._describe(exc.original_path)
        return ChainOutcome(
            chain=refusal.chain,
            validity=refusal.validity,
            revocation=refusal.revocation,
            sub_indication=refusal.sub_indication,
            error=Message(refusal.code, exc.failure_msg + refusal.explanation),
            weak_algorithm=refusal.sub_indication == "CRYPTO_CONSTRAINTS_FAILURE",
            path=entries,
            revocation_data=evidence if refusal.revocation != "not_checked" else (),
        )

    def _describe(
        self, path: ValidationPath | None
    ) -> tuple[tuple[ChainEntry, ...], tuple[RevocationEvidence, ...]]:
        """Chain entries (signer first) and the revocation data about its non-anchor certs."""
        if path is None:
            return (), ()
        certs = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(True)]
        certs.reverse()
        anchors = set(self._anchor_der)
        below_anchor = [c for c in certs if c.public_bytes(_DER) not in anchors]
        evidence, _ = self._revocation_for(below_anchor)
        return tuple(ChainEntry.of(c) for c in certs), evidence
