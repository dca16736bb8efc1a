"""Per-process caches of key custody: decrypted signers and CA keys, and the trust store.

Private keys are stored encrypted with KEY_PASSPHRASE and decrypted once per process (an RSA
key load costs ~46 ms); a Signer is cached by its certificate fingerprint. Which key of an
organization is active (its fingerprint) is reused for at most DIRECTORY_CACHE_SECONDS
(`active_keys`, `app.core.recent`): a rotation or revocation made in this process acts on the
next signature, one committed by another process within that bound. The TrustStore is rebuilt
only when the published CRLs, the registered fingerprints or the extra anchors change.

Everything here only reads the database: getting the trust store never publishes a CRL (the
worker does that ahead of expiry, `KeyCustody.refresh_crls_if_due`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core import recent
from app.core.errors import HubError
from app.keys.models import CaMaterial, PublishedCrl, RegisteredFingerprint, SigningKey
from app.signing import pki
from app.signing.timestamps import TimestampAuthority
from app.signing.trust import TrustStore
from app.signing.xmldsig import Signer

ROOT, ISSUING, TSA = "root", "issuing", "tsa"
ACTIVE_KEYS = "signing_keys"
TRUST = "trust_store"
TRUST_MEMO_SECONDS = 2.0


class SigningUnavailable(HubError):
    status, code, title = 503, "signing.unavailable", "Signing key unavailable"


WRONG_PASSPHRASE = (
    "the signing keys cannot be decrypted: LIENTHONG_KEY_PASSPHRASE is not the passphrase "
    "they were encrypted with"
)


def _decrypt(private_key_enc: str, passphrase: str) -> Any:
    """A stored private key, decrypted; a wrong passphrase is the 503 `signing.unavailable`."""
    try:
        return pki.decrypt_private_key(private_key_enc.encode(), passphrase)
    except pki.KeyDecryptionError as exc:
        raise SigningUnavailable(WRONG_PASSPHRASE) from exc


def ca_material(session: Session, role: str) -> CaMaterial:
    row = session.get(CaMaterial, role)
    if row is None:
        raise SigningUnavailable("the PKI is not initialised: run `lienthong pki init`")
    return row


def _sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# Shared by every KeyCaches of the process (one per app or worker), keyed by certificate and
# passphrase digests, so a key is decrypted once per process and a wrong passphrase is never
# masked by the cache.
_LOCK = threading.Lock()
_SIGNERS: dict[tuple[str, str], Signer] = {}
_CA_KEYS: dict[tuple[str, str], Any] = {}
_TRUST: dict[tuple[Any, ...], TrustStore] = {}
_AUTHORITIES: dict[tuple[str, str], TimestampAuthority] = {}
_TRUST_MAX = 16


class KeyCaches:
    """One custody's view of the process-wide caches, plus its trust-store memo."""

    def __init__(
        self, passphrase: str, extra_anchors: list[x509.Certificate], cache_seconds: float = 0.0
    ) -> None:
        self._passphrase = passphrase
        # organ_id -> the fingerprint of its active key (DIRECTORY_CACHE_SECONDS)
        self.active_keys: recent.Recent[str, str] = recent.Recent(ACTIVE_KEYS, cache_seconds)
        self._pp = hashlib.sha256(passphrase.encode()).hexdigest()
        self._extra_anchors = extra_anchors
        # the trust store, reused for TRUST_MEMO_SECONDS; never one read by a session that
        # changed what it holds before that session commits
        self.trust: recent.Recent[str, TrustStore] = recent.Recent(TRUST, TRUST_MEMO_SECONDS)
        self._tsa_memo: tuple[float, TimestampAuthority] | None = None

    # -- decrypted keys ---------------------------------------------------------------------

    def ca_key(self, row: CaMaterial) -> Any:
        fp = (hashlib.sha256(row.certificate_pem.encode()).hexdigest(), self._pp)
        with _LOCK:
            key = _CA_KEYS.get(fp)
        if key is None:
            if row.private_key_enc is None:
                raise SigningUnavailable(f"the {row.role} CA's private key is not held here")
            key = _decrypt(row.private_key_enc, self._passphrase)
            with _LOCK:
                _CA_KEYS[fp] = key
        return key

    def remember_ca_key(self, certificate_pem: str, key: Any) -> None:
        with _LOCK:
            _CA_KEYS[(hashlib.sha256(certificate_pem.encode()).hexdigest(), self._pp)] = key

    def known_signer(self, sha256: str) -> Signer | None:
        """The Signer of the key with this fingerprint, if this process decrypted it already."""
        with _LOCK:
            return _SIGNERS.get((sha256, self._pp))

    def signer(self, session: Session, row: SigningKey) -> Signer:
        """The Signer of a signing-key row, decrypted on first use in this process."""
        signer = self.known_signer(row.sha256)
        if signer is None:
            key = _decrypt(row.private_key_enc, self._passphrase)
            cert = x509.load_pem_x509_certificate(row.certificate_pem.encode())
            issuing = x509.load_pem_x509_certificate(
                ca_material(session, ISSUING).certificate_pem.encode()
            )
            signer = Signer(key, cert, [issuing])
            self.remember_signer(row.sha256, signer)
        return signer

    def remember_signer(self, sha256: str, signer: Signer) -> None:
        with _LOCK:
            _SIGNERS[(sha256, self._pp)] = signer

    def timestamp_authority(self, session: Session) -> TimestampAuthority:
        """The hub's TSA (key decrypted once per process); its row is read at most every
        TRUST_MEMO_SECONDS, since the in-process TSA is asked on every signature."""
        memo = self._tsa_memo
        if memo is not None and time.monotonic() - memo[0] < TRUST_MEMO_SECONDS:
            return memo[1]
        row = session.get(CaMaterial, TSA)
        if row is None:
            raise SigningUnavailable("the hub has no TSA yet: run `lienthong pki init`")
        fp = (hashlib.sha256(row.certificate_pem.encode()).hexdigest(), self._pp)
        with _LOCK:
            authority = _AUTHORITIES.get(fp)
        if authority is None:
            authority = TimestampAuthority(
                self.ca_key(row), x509.load_pem_x509_certificate(row.certificate_pem.encode())
            )
            with _LOCK:
                _AUTHORITIES[fp] = authority
        self._tsa_memo = (time.monotonic(), authority)
        return authority

    # -- trust ------------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget the memoised trust store (after a revocation or a registration here)."""
        self.trust.clear()
        self._tsa_memo = None

    def trust_store(self, session: Session) -> TrustStore:
        """The current trust store; memoised for TRUST_MEMO_SECONDS per process. Read only.

        Changes made through this process (`recent.changed(session, TRUST)`: a CRL published,
        a fingerprint registered) act from their COMMIT, and the session making them reads
        its own; other processes see them within TRUST_MEMO_SECONDS.
        """
        store = self.trust.get(session, TRUST)
        if store is not None:
            return store
        ticket = self.trust.begin(session)
        store = self._load_trust_store(session)
        self.trust.put(TRUST, store, ticket)
        return store

    def _load_trust_store(self, session: Session) -> TrustStore:
        crls = list(session.scalars(select(PublishedCrl).order_by(PublishedCrl.role)))
        fp_version = session.execute(
            select(func.count(), func.max(RegisteredFingerprint.created_at)).select_from(
                RegisteredFingerprint
            )
        ).one()
        identity = (
            tuple(hashlib.sha256(c.der).hexdigest() for c in crls),
            tuple(str(v) for v in fp_version),
            tuple(_sha256(c) for c in self._extra_anchors),
        )
        with _LOCK:
            cached = _TRUST.get(identity)
        if cached is not None:
            return cached
        root = ca_material(session, ROOT)
        issuing = ca_material(session, ISSUING)
        registered: dict[str, set[str]] = {}
        for fp in session.scalars(select(RegisteredFingerprint)):
            registered.setdefault(fp.organ_id, set()).add(fp.sha256)
        store = TrustStore(
            anchors=[
                x509.load_pem_x509_certificate(root.certificate_pem.encode()),
                *self._extra_anchors,
            ],
            intermediates=[x509.load_pem_x509_certificate(issuing.certificate_pem.encode())],
            crls=[c.der for c in crls],
            registered_fingerprints=registered,
        )
        with _LOCK:
            if len(_TRUST) >= _TRUST_MAX:
                _TRUST.pop(next(iter(_TRUST)))
            _TRUST[identity] = store
        return store
