"""Revocation data for certificates the hub did not issue (SPEC 5.1): from the cache, else
fetched within the limits of `fetch.py`, checked (`checks.py`), kept (`revocation_answers`).

For each certificate of a path to a configured anchor whose issuer is not one of the hub's own
CAs (those publish their CRLs into the trust store): OCSP from the AIA OCSP URL first where the
certificate names one, else (or when that gives nothing usable) the CRL from its distribution
points; an intermediate missing from KeyInfo comes from AIA caIssuers. Fresh answers are used
from the process memo or the database without any fetch; a fetch happens only when none is
fresh (the worker renews them ahead of expiry, `refresh_due`). What cannot be obtained leaves
the trust store without it, so validation ends INDETERMINATE/TRY_LATER.

Over ~600 lines because the walk, the three caches (memo, database, network) and the
worker's renewal share one notion of "fresh"; split them and that rule would be written twice.

Public entry points (used by the document pipeline, re-validation, the PDF checks):
`Revocation.material(session, base, certificates)` → `Material` (DER, for any
ValidationContext) and `Revocation.trust_store(session, base, certificates)` → the base
`TrustStore` with that material added (memoised, so its path cache stays warm).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import committed, is_writing, read_first, unit_of_work
from app.core.ids import new_id
from app.core.metrics import Metrics
from app.core.timeutil import utcnow
from app.revocation import checks
from app.revocation import repository as repo
from app.revocation.fetch import Fetched, Fetcher, Kind, Request
from app.revocation.models import RevocationAnswer
from app.signing.trust import TrustStore

log = logging.getLogger(__name__)

MAX_CACHE_AGE = dt.timedelta(hours=24)
"""An answer is used until its nextUpdate, at most this long after it was fetched."""
REFRESH_AHEAD = dt.timedelta(hours=1)
"""The worker renews an answer this long before it expires (a quarter of its life if shorter)."""
FAILURE_MEMO_SECONDS = 30.0
"""After a failed fetch the request path does not ask the same URL again for this long, so a
flood of documents does not wait on a dead responder one by one (the worker still asks)."""
MAX_DEPTH = 5
MAX_CA_FETCHES = 2
"""caIssuers fetches per set of certificates (every URL counts, also one that fails): a KeyInfo
cannot make the hub walk a long chain or try a long list of URLs."""
_MEMO_MAX = 256
_DER = serialization.Encoding.DER


@dataclass(frozen=True, slots=True)
class _Entry:
    """A usable answer, in memory."""

    lookup: str
    kind: Kind
    url: str
    der: bytes
    sha256: str
    this_update: dt.datetime | None
    next_update: dt.datetime | None
    expires_at: dt.datetime
    issuers: tuple[x509.Certificate, ...] = ()  # kind "cert": the CA certificates found


@dataclass(frozen=True, slots=True)
class _Need:
    """A certificate whose status must come from the network, and its issuer."""

    cert: x509.Certificate
    issuer: x509.Certificate
    ocsp: tuple[tuple[str, str], ...]  # (lookup, url)
    crl: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    needs: tuple[_Need, ...]
    ca_entries: tuple[_Entry, ...]
    problems: tuple[str, ...]
    valid_until: dt.datetime


@dataclass(frozen=True)
class Material:
    """What the network gave for a set of certificates, as DER: `certificates` (intermediates
    from caIssuers), `crls`, `ocsp_responses`; `sources` maps each answer's SHA-256 to its URL;
    `problems` says what could not be obtained (and why)."""

    certificates: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()
    """The SHA-256 of every answer used, sorted: equal for equal material."""

    @property
    def empty(self) -> bool:
        return not (self.certificates or self.crls or self.ocsp_responses)


_NOTHING = Material(sources=MappingProxyType({}))
"""The material of a plan that asks nothing of the network (shared: it is immutable)."""


def lookup_key(
    kind: Kind, url: str, key_id: str, serial: int | None = None, *, ca: bool = False
) -> str:
    """How an answer is filed. A CRL asked for a CA certificate is filed apart from one asked
    for an end-entity certificate: a CRL's scope (issuingDistributionPoint) may cover one kind
    only, and a cache hit is not checked again."""
    text = f"{kind}|{url}|{key_id}|{'' if serial is None else format(serial, 'x')}"
    if ca:
        text += "|ca"
    return hashlib.sha256(text.encode()).hexdigest()


def _fp(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


class Revocation:
    """The revocation service of one process: the fetcher, the memo, the derived stores."""

    def __init__(
        self,
        fetch_timeout: float = 5.0,
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        allow_private: bool = False,
        allowed_hosts: Iterable[str] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self.fetcher = fetcher or Fetcher(
            fetch_timeout, allow_private=allow_private, allowed_hosts=allowed_hosts
        )
        self.clock = clock
        self.metrics = metrics
        self.fetches = 0
        """Fetches made by this process (requests and worker), for tests and benchmarks."""
        self._lock = threading.Lock()
        self._answers: dict[str, _Entry] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self._plans: OrderedDict[tuple[Any, ...], _Plan] = OrderedDict()
        self._stores: OrderedDict[tuple[Any, ...], TrustStore] = OrderedDict()

    def forget(self) -> None:
        """Drop what this process remembers (answers, failures, plans, derived stores)."""
        with self._lock:
            self._answers.clear()
            self._failures.clear()
            self._plans.clear()
            self._stores.clear()

    # -- the request path ---------------------------------------------------------------------

    def trust_store(
        self,
        session: Session,
        base: TrustStore,
        certificates: Sequence[bytes],
        *,
        fetch: bool = True,
    ) -> tuple[TrustStore, Material]:
        """`base` with the network's material for `certificates` added (the same store object
        for the same material, so its path-validation cache stays warm), and that material."""
        material = self.material(session, base, certificates, fetch=fetch)
        if material.empty:
            return base, material
        key = (base.identity, material.identity)
        with self._lock:
            store = self._stores.get(key)
            if store is not None:
                self._stores.move_to_end(key)
                return store, material
        store = base.with_fetched(
            intermediates=[x509.load_der_x509_certificate(d) for d in material.certificates],
            crls=material.crls,
            ocsp_responses=material.ocsp_responses,
            sources=material.sources,
        )
        with self._lock:
            self._stores[key] = store
            while len(self._stores) > _MEMO_MAX:
                self._stores.popitem(last=False)
        return store, material

    def material(
        self,
        session: Session,
        base: TrustStore,
        certificates: Sequence[bytes],
        *,
        fetch: bool = True,
    ) -> Material:
        """Fresh revocation data (and missing intermediates) for every certificate of the paths
        from `certificates` to `base`'s anchors that the hub did not issue. From the cache;
        fetched (and kept) only when nothing fresh is cached and `fetch` is true."""
        if not certificates:
            return Material()
        now = self.clock()
        plan = self._plan(session, base, certificates, now, fetch)
        if not plan.needs and not plan.ca_entries:
            # Nothing asked of the network (the hub's own CAs, or no path to an anchor): the
            # material is empty whatever the memo holds; no lookups, no tuples to build.
            return Material(problems=plan.problems) if plan.problems else _NOTHING
        entries: list[_Entry] = list(plan.ca_entries)
        problems = list(plan.problems)
        unresolved: list[_Need] = []
        for need in plan.needs:
            found = self._cached(session, [*need.ocsp, *need.crl], now)
            if found is None:
                unresolved.append(need)
            else:
                entries.append(found)
        if unresolved:
            got, failed = self._obtain(session, unresolved, now, fetch)
            entries += got
            problems += failed
        crls = tuple(dict.fromkeys(e.der for e in entries if e.kind == "crl"))
        ocsps = tuple(dict.fromkeys(e.der for e in entries if e.kind == "ocsp"))
        certs = tuple(
            dict.fromkeys(
                c.public_bytes(_DER) for e in entries if e.kind == "cert" for c in e.issuers
            )
        )
        return Material(
            certificates=certs,
            crls=crls,
            ocsp_responses=ocsps,
            sources={e.sha256: e.url for e in entries if e.kind != "cert"},
            problems=tuple(problems),
            identity=tuple(sorted({e.sha256 for e in entries})),
        )

    # -- paths ----------------------------------------------------------------------------------

    def _plan(
        self,
        session: Session,
        base: TrustStore,
        certificates: Sequence[bytes],
        now: dt.datetime,
        fetch: bool,
    ) -> _Plan:
        key = (base.identity, tuple(hashlib.sha256(d).digest() for d in certificates))
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None and now < plan.valid_until:
                self._plans.move_to_end(key)
                return plan
        plan = self._build_plan(session, base, certificates, now, fetch)
        if not plan.problems:
            with self._lock:
                self._plans[key] = plan
                while len(self._plans) > _MEMO_MAX:
                    self._plans.popitem(last=False)
        return plan

    def _build_plan(
        self,
        session: Session,
        base: TrustStore,
        certificates: Sequence[bytes],
        now: dt.datetime,
        fetch: bool,
    ) -> _Plan:
        """Walk from each KeyInfo certificate up to an anchor, fetching missing issuers from
        caIssuers; only a walk that reaches an anchor asks for revocation data (so the hub
        fetches only URLs that a chain of trusted signatures vouches for)."""
        anchors = {_fp(a) for a in base.anchors}
        local_issuers = base.crl_issuers
        pool: list[x509.Certificate] = [*base.anchors, *base.intermediates]
        starts: list[x509.Certificate] = []
        for der in certificates:
            try:
                starts.append(x509.load_der_x509_certificate(der))
            except ValueError:
                continue
        pool += starts
        needs: dict[bytes, _Need] = {}
        ca_entries: list[_Entry] = []
        problems: list[str] = []
        ca_fetches = 0
        valid_until = now + MAX_CACHE_AGE
        for start in starts:
            walk: list[tuple[x509.Certificate, x509.Certificate]] = []
            cur, anchored = start, False
            for _ in range(MAX_DEPTH):
                if _fp(cur) in anchors:
                    anchored = True
                    break
                issuer = next(
                    (
                        c
                        for c in pool
                        if checks.issued_by(cur, c) and (_fp(c) in anchors or checks.may_issue(c))
                    ),
                    None,
                )
                if issuer is None and _may_fetch_issuer(cur, pool):
                    for url in checks.ca_issuer_urls(cur):
                        if ca_fetches >= MAX_CA_FETCHES:
                            problems.append(
                                f"{url}: not fetched, {MAX_CA_FETCHES} caIssuers fetches already"
                            )
                            break
                        ca_fetches += 1
                        entry, problem = self._ca_issuer(session, cur, url, now, fetch)
                        if entry is None:
                            problems.append(problem)
                            continue
                        ca_entries.append(entry)
                        valid_until = min(valid_until, entry.expires_at)
                        pool += entry.issuers
                        issuer = entry.issuers[0]
                        break
                if issuer is None:
                    break
                walk.append((cur, issuer))
                cur = issuer
            if not anchored:
                continue
            for cert, issuer in walk:
                if issuer.subject in local_issuers or _fp(cert) in needs:
                    continue
                kid = checks.key_id(issuer)
                needs[_fp(cert)] = _Need(
                    cert,
                    issuer,
                    ocsp=tuple(
                        (lookup_key("ocsp", u, kid, cert.serial_number), u)
                        for u in checks.ocsp_urls(cert)
                    ),
                    crl=tuple(
                        (lookup_key("crl", u, kid, ca=checks.is_ca(cert)), u)
                        for u in checks.crl_urls(cert)
                    ),
                )
        for need in needs.values():
            if not need.ocsp and not need.crl:
                problems.append(
                    f"{need.cert.subject.rfc4514_string()} names no OCSP responder and no CRL"
                )
        return _Plan(tuple(needs.values()), tuple(ca_entries), tuple(problems), valid_until)

    def _ca_issuer(
        self, session: Session, cert: x509.Certificate, url: str, now: dt.datetime, fetch: bool
    ) -> tuple[_Entry | None, str]:
        lookup = lookup_key("cert", url, checks.key_id(cert))
        cached = self._cached(session, [(lookup, url)], now)
        if cached is not None:
            return cached, ""
        if not fetch or self._failed_recently(lookup):
            return None, f"{url}: no fresh copy (fetch failed recently)"
        done = self._fetch([Request("cert", url)])[0]
        row = self._accept_cert(done, lookup, cert, now)
        if isinstance(row, str):
            self._remember_failure(lookup, row)
            return None, row
        self._keep(session, [row])
        return self._remember(row), ""

    # -- cache ----------------------------------------------------------------------------------

    def _cached(
        self, session: Session, candidates: Iterable[tuple[str, str]], now: dt.datetime
    ) -> _Entry | None:
        """The first candidate (lookup, url) with a fresh answer: memo first, then the DB."""
        candidates = list(candidates)
        missing: list[str] = []
        with self._lock:
            for lookup, _ in candidates:
                entry = self._answers.get(lookup)
                if entry is not None and now < entry.expires_at:
                    return entry
                missing.append(lookup)
        if not missing:
            return None
        rows = repo.fresh(session, missing, now)
        for lookup, _ in candidates:
            row = rows.get(lookup)
            if row is not None:
                return self._remember(_row_fields(row))
        return None

    def _remember(self, fields: dict[str, Any]) -> _Entry:
        issuers: tuple[x509.Certificate, ...] = ()
        if fields["kind"] == "cert":
            child = x509.load_der_x509_certificate(fields["checked_with"])
            issuers = tuple(checks.issuers_in(fields["der"], child))
        entry = _Entry(
            lookup=fields["lookup"],
            kind=fields["kind"],
            url=fields["url"],
            der=fields["der"],
            sha256=fields["sha256"],
            this_update=fields["this_update"],
            next_update=fields["next_update"],
            expires_at=fields["expires_at"],
            issuers=issuers,
        )
        with self._lock:
            self._answers[entry.lookup] = entry
            self._failures.pop(entry.lookup, None)
            if len(self._answers) > 4 * _MEMO_MAX:
                now = self.clock()
                for k in [k for k, v in self._answers.items() if v.expires_at <= now]:
                    del self._answers[k]
        return entry

    def _failed_recently(self, lookup: str) -> bool:
        with self._lock:
            failed = self._failures.get(lookup)
        return failed is not None and time.monotonic() < failed[0]

    def _remember_failure(self, lookup: str, reason: str) -> None:
        log.warning("revocation data unavailable: %s", reason)
        with self._lock:
            self._failures[lookup] = (time.monotonic() + FAILURE_MEMO_SECONDS, reason)
            if len(self._failures) > 4 * _MEMO_MAX:
                self._failures.pop(next(iter(self._failures)))

    # -- fetching ---------------------------------------------------------------------------------

    def _fetch(self, requests: Sequence[Request]) -> list[Fetched]:
        with self._lock:
            self.fetches += len(requests)
        done = self.fetcher.fetch_all(requests)
        if self.metrics is not None:
            for result in done:
                if not result.ok:
                    reason = "refused" if result.refused else "failed"
                    self.metrics.revocation_fetch_failures.labels(result.request.kind, reason).inc()
        return done

    def _obtain(
        self, session: Session, needs: Sequence[_Need], now: dt.datetime, fetch: bool
    ) -> tuple[list[_Entry], list[str]]:
        """OCSP first (every need that names a responder, concurrently), then CRLs for the needs
        still without an answer; the usable answers are kept."""
        got: dict[bytes, _Entry] = {}
        problems: dict[bytes, list[str]] = {_fp(n.cert): [] for n in needs}
        kept: list[dict[str, Any]] = []
        # Round 1: each certificate's first choice (OCSP where it names a responder, else its
        # CRL); round 2: the CRL of those whose OCSP gave nothing usable. Each round is one
        # batch of concurrent fetches.
        for round_ in (1, 2):
            requests: dict[str, tuple[Request, _Need]] = {}
            for need in needs:
                if _fp(need.cert) in got or (round_ == 2 and not need.ocsp):
                    continue
                kind: Kind = "ocsp" if round_ == 1 and need.ocsp else "crl"
                for lookup, url in need.ocsp if kind == "ocsp" else need.crl:
                    if lookup in requests:
                        continue
                    if not fetch or self._failed_recently(lookup):
                        problems[_fp(need.cert)].append(f"{url}: no fresh answer cached")
                        continue
                    body = checks.ocsp_request(need.cert, need.issuer) if kind == "ocsp" else None
                    requests[lookup] = (Request(kind, url, body), need)
            if not requests:
                continue
            done = self._fetch([r for r, _ in requests.values()])
            for (lookup, (_, need)), result in zip(requests.items(), done, strict=True):
                row = self._accept(result, lookup, need, now)
                if isinstance(row, str):
                    self._remember_failure(lookup, row)
                    problems[_fp(need.cert)].append(row)
                    continue
                kept.append(row)
                entry = self._remember(row)
                for other in needs:  # every certificate this answer speaks for
                    if _fp(other.cert) not in got and lookup in {
                        k for k, _ in (*other.ocsp, *other.crl)
                    }:
                        got[_fp(other.cert)] = entry
        self._keep(session, kept)
        failed = [
            f"{n.cert.subject.rfc4514_string()}: "
            + "; ".join(problems[_fp(n.cert)] or ["no answer"])
            for n in needs
            if _fp(n.cert) not in got
        ]
        return list(got.values()), failed

    def _accept(
        self, result: Fetched, lookup: str, need: _Need, now: dt.datetime
    ) -> dict[str, Any] | str:
        """The row to keep for a fetched OCSP answer or CRL, or why it is unusable."""
        request = result.request
        if result.der is None:
            return result.error or f"{request.url}: no answer"
        try:
            if request.kind == "ocsp":
                window = checks.check_ocsp(
                    result.der,
                    need.cert.serial_number,
                    need.issuer,
                    now,
                    request_der=request.body,
                )
            else:
                window = checks.check_crl(
                    result.der, need.issuer, now, cert=need.cert, url=request.url
                )
        except checks.Unusable as exc:
            return f"{request.url}: {exc}"
        return _row(
            lookup,
            request.kind,
            request.url,
            result.der,
            now,
            window.this_update,
            window.next_update,
            expires=window.next_update,
            issuer_key=checks.key_id(need.issuer),
            serial=need.cert.serial_number if request.kind == "ocsp" else None,
            subject_not_after=(
                need.cert if request.kind == "ocsp" else need.issuer
            ).not_valid_after_utc,
            checked_with=need.issuer.public_bytes(_DER),
            request_der=request.body,
        )

    def _accept_cert(
        self, result: Fetched, lookup: str, child: x509.Certificate, now: dt.datetime
    ) -> dict[str, Any] | str:
        if result.der is None:
            return result.error or f"{result.request.url}: no answer"
        try:
            issuers = checks.issuers_in(result.der, child)
        except checks.Unusable as exc:
            return f"{result.request.url}: {exc}"
        return _row(
            lookup,
            "cert",
            result.request.url,
            result.der,
            now,
            None,
            None,
            expires=min(c.not_valid_after_utc for c in issuers),
            issuer_key=checks.key_id(child),
            serial=None,
            subject_not_after=child.not_valid_after_utc,
            checked_with=child.public_bytes(_DER),
            request_der=None,
        )

    def _keep(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Persist fetched answers. They are a shared cache and evidence, not part of the
        caller's unit of work: kept in a short transaction of their own (so a refused document
        keeps the evidence of its refusal), or in the caller's when it already writes on SQLite
        (a second writer would wait for the lock it holds). A failure to keep is logged; the
        answers are used all the same."""
        if not rows:
            return
        try:
            if session.in_transaction() and is_writing(session) and _is_sqlite(session):
                repo.insert(session, rows)
                return
            bind = session.get_bind()
            engine = bind.engine if isinstance(bind, Connection) else bind
            with committed(Session(engine)) as own:
                repo.insert(own, rows)
        except SQLAlchemyError:
            log.exception("could not keep fetched revocation data")

    # -- the worker ----------------------------------------------------------------------------

    def refresh_due(self, sessions: sessionmaker[Session], now: dt.datetime | None = None) -> int:
        """Renew the cache entries due for refresh (ahead of expiry) and prune long-expired rows;
        returns how many were renewed. Reads, fetches outside any transaction, then writes."""
        now = now or self.clock()
        with sessions() as s:
            read_first(s)
            due = [_row_fields(r) for r in repo.due(s, now)]
        renewed: list[dict[str, Any]] = []
        if due:
            done = self._fetch(
                [
                    Request(
                        d["kind"],
                        d["url"],
                        checks.renewed_request(d["request_der"]) if d["request_der"] else None,
                    )
                    for d in due
                ]
            )
            for fields, result in zip(due, done, strict=True):
                row = self._renewed(fields, result, now)
                if isinstance(row, str):
                    log.warning("revocation refresh failed: %s", row)
                    continue
                renewed.append(row)
        with unit_of_work(sessions) as s:
            repo.insert(s, renewed)
            repo.prune(s, now)
        for row in renewed:
            self._remember(row)
        return len(renewed)

    def _renewed(
        self, old: dict[str, Any], result: Fetched, now: dt.datetime
    ) -> dict[str, Any] | str:
        checked_with = x509.load_der_x509_certificate(old["checked_with"])
        if old["kind"] == "cert":
            return self._accept_cert(result, old["lookup"], checked_with, now)
        if result.der is None:
            return result.error or f"{old['url']}: no answer"
        try:
            if old["kind"] == "ocsp":
                serial = checks.request_serial(old["request_der"])
                window = checks.check_ocsp(
                    result.der, serial, checked_with, now, request_der=result.request.body
                )
            else:
                window = checks.check_crl(result.der, checked_with, now, url=old["url"])
                if checks.crl_scope(result.der) != checks.crl_scope(old["der"]):
                    raise checks.Unusable("the renewed CRL's scope is not its predecessor's")
        except checks.Unusable as exc:
            return f"{old['url']}: {exc}"
        return _row(
            old["lookup"],
            old["kind"],
            old["url"],
            result.der,
            now,
            window.this_update,
            window.next_update,
            expires=window.next_update,
            issuer_key=old["issuer_key"],
            serial=int(old["serial"], 16) if old["serial"] else None,
            subject_not_after=old["subject_not_after"],
            checked_with=old["checked_with"],
            request_der=result.request.body,
        )


def _may_fetch_issuer(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> bool:
    """caIssuers is asked only for an issuer nobody sent: not for a self-issued certificate
    (it has none to fetch) and not when a certificate of the issuer's name is at hand but did
    not sign `cert` (the chain is broken; a fetched copy of the same name would not mend it)."""
    if cert.issuer == cert.subject:
        return False
    return not any(c.subject == cert.issuer for c in pool)


def _row(
    lookup: str,
    kind: str,
    url: str,
    der: bytes,
    now: dt.datetime,
    this_update: dt.datetime | None,
    next_update: dt.datetime | None,
    *,
    expires: dt.datetime,
    issuer_key: str,
    serial: int | None,
    subject_not_after: dt.datetime,
    checked_with: bytes,
    request_der: bytes | None,
) -> dict[str, Any]:
    expires_at = min(expires, now + MAX_CACHE_AGE)
    ahead = min(REFRESH_AHEAD, (expires_at - now) / 4)
    return {
        "id": new_id(),
        "lookup": lookup,
        "kind": kind,
        "url": url,
        "issuer_key": issuer_key,
        "serial": None if serial is None else format(serial, "x"),
        "der": der,
        "sha256": hashlib.sha256(der).hexdigest(),
        "fetched_at": now,
        "this_update": this_update,
        "next_update": next_update,
        "expires_at": expires_at,
        "refresh_at": expires_at - ahead,
        "subject_not_after": subject_not_after,
        "checked_with": checked_with,
        "request_der": request_der,
    }


def _row_fields(row: RevocationAnswer) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in RevocationAnswer.__table__.columns}


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
