"""Key custody: the demo PKI's life cycle (CA, organization keys, revocation, CRLs).

What this module writes (CA material, keys, revocations, CRLs, their audit entries) happens in
the caller's transaction. Reading what it holds (a signer, the trust store) goes through the
per-process caches in `caches.py` and never writes: CRLs are republished ahead of expiry by
`refresh_crls_if_due`, which the worker runs on a schedule (`app.worker`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import recent
from app.core.db import begin_write
from app.core.errors import NotFound, SettingError, Unprocessable
from app.core.timeutil import utcnow
from app.directory.models import Organization
from app.keys.caches import (
    ACTIVE_KEYS,
    ISSUING,
    ROOT,
    TRUST,
    TSA,
    KeyCaches,
    SigningUnavailable,
    ca_material,
)
from app.keys.models import CaMaterial, PublishedCrl, RevokedCertificate, SigningKey
from app.signing import pki
from app.signing.timestamps import TimestampAuthority
from app.signing.trust import TrustStore
from app.signing.xmldsig import Signer

CRL_LIFETIME = dt.timedelta(days=7)
ROOT_CRL_URL = "http://lienthong.local/pki/crl/root"
ISSUING_CRL_URL = "http://lienthong.local/pki/crl"
TSA_NAME = "Lienthong Demo TSA"
CRL_REFRESH_BEFORE = dt.timedelta(days=1)
"""CRLs are republished this long before their nextUpdate."""
CLOCK_SKEW = dt.timedelta(minutes=5)
"""A revocation time this far ahead of the hub's clock counts as now; beyond, it is refused."""


def x509_name(name: str, *, suffix: str = "") -> str:
    """O and CN are capped at 64 (cryptography counts UTF-8 bytes, and Vietnamese letters take
    two or three), so long agency names are shortened on a character boundary."""
    room = 64 - len(suffix.encode())
    if len(name.encode()) <= room:
        return name + suffix
    cut = name
    while len((cut + "…").encode()) > room:
        cut = cut[:-1]
    return cut.rstrip() + "…" + suffix


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass
class PkiSummary:
    created_ca: bool
    issued: list[str]


def _anchors(path: Path) -> list[x509.Certificate]:
    try:
        return pki.load_pem_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "no readable PEM certificate"
        raise SettingError(f"LIENTHONG_TRUST_ANCHORS ({path}): {reason}") from exc


class KeyCustody:
    """The key-custody service of one app or worker (its caches are process-wide)."""

    def __init__(
        self, passphrase: str, extra_anchors: Path | None = None, *, cache_seconds: float = 0.0
    ) -> None:
        """`cache_seconds`: DIRECTORY_CACHE_SECONDS, how long which key is active is reused."""
        self._passphrase = passphrase
        self._extra_anchors = _anchors(extra_anchors) if extra_anchors else []
        self.caches = KeyCaches(passphrase, self._extra_anchors, cache_seconds)

    # -- reading (no writes) ----------------------------------------------------------------

    def signer_for(self, session: Session, organ_id: str) -> Signer:
        """The organization's active signer (decrypted once per process). Which key is active
        is reused for at most DIRECTORY_CACHE_SECONDS (`caches.active_keys`): a rotation or
        revocation made in this process acts on the next call, one committed by another
        process within that bound; a revoked key never signs after it."""
        active = self.caches.active_keys
        sha256 = active.get(session, organ_id)
        if sha256 is not None:
            signer = self.caches.known_signer(sha256)
            if signer is not None:
                return signer
        ticket = active.begin(session)
        row = session.execute(
            select(SigningKey.id, SigningKey.sha256)
            .where(SigningKey.organ_id == organ_id, SigningKey.active.is_(True))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        ).one_or_none()
        if row is None:
            raise SigningUnavailable(
                f"{organ_id} has no signing key: run `lienthong pki issue {organ_id}`"
            )
        signer = self.caches.known_signer(row.sha256)
        if signer is None:
            key = session.get(SigningKey, row.id)
            assert key is not None  # read a moment ago in this transaction
            signer = self.caches.signer(session, key)
        active.put(organ_id, row.sha256, ticket)
        return signer

    def trust_store(self, session: Session) -> TrustStore:
        """The current trust store (see `KeyCaches.trust_store`); reads only."""
        return self.caches.trust_store(session)

    def invalidate(self) -> None:
        """Forget the memoised trust store (after a revocation or a registration here)."""
        self.caches.invalidate()

    def check_passphrase(self, session: Session) -> None:
        """Raise `SigningUnavailable` naming LIENTHONG_KEY_PASSPHRASE unless it opens the keys.

        Decrypts the issuing CA key (or, where the CA key is not held here, one signing key);
        with no PKI yet there is nothing to check.
        """
        issuing = session.get(CaMaterial, ISSUING)
        if issuing is not None and issuing.private_key_enc is not None:
            self.caches.ca_key(issuing)
            return
        row = session.scalars(select(SigningKey).limit(1)).first()
        if row is not None:
            self.caches.signer(session, row)

    def check_ready(self, session: Session) -> None:
        """Raise unless the passphrase opens the issuing CA key and trust can be built."""
        self.caches.ca_key(ca_material(session, ISSUING))
        self.trust_store(session)

    def timestamp_authority(self, session: Session) -> TimestampAuthority:
        """The hub's own TSA (SPEC 5.2); SigningUnavailable before `lienthong pki init`."""
        return self.caches.timestamp_authority(session)

    def ca_bundle_pem(self, session: Session) -> str:
        rows = [ca_material(session, ISSUING), ca_material(session, ROOT)]
        return "".join(r.certificate_pem for r in rows) + "".join(
            _pem(c) for c in self._extra_anchors
        )

    def crl_der(self, session: Session, role: str = ISSUING) -> bytes:
        """The published CRL as it stands (the worker keeps it fresh)."""
        crl = session.get(PublishedCrl, role)
        if crl is None:
            raise NotFound("no CRL published yet", code="pki.not_initialised")
        return crl.der

    # -- CA life cycle ----------------------------------------------------------------------

    def init_ca(self, session: Session, *, actor: str) -> bool:
        """Create the demo root (standing in for the national CA) and the issuing CA, once."""
        if session.get(CaMaterial, ROOT) is not None:
            return False
        root_key, root_cert = pki.create_root_ca("Demo National Root CA (Ban Cơ yếu Chính phủ)")
        issuing_key, issuing_cert = pki.create_issuing_ca(
            root_key, root_cert, "Lienthong Issuing CA", crl_url=ROOT_CRL_URL
        )
        self.install_ca(session, (root_key, root_cert), (issuing_key, issuing_cert), actor=actor)
        return True

    def install_ca(
        self,
        session: Session,
        root: tuple[Any, x509.Certificate],
        issuing: tuple[Any, x509.Certificate],
        *,
        actor: str,
    ) -> None:
        """Store CA material made elsewhere (an existing PKI, or the tests' shared one)."""
        for role, (key, cert) in ((ROOT, root), (ISSUING, issuing)):
            session.add(
                CaMaterial(
                    role=role,
                    certificate_pem=_pem(cert),
                    private_key_enc=pki.encrypt_private_key(key, self._passphrase).decode(),
                )
            )
            self.caches.remember_ca_key(_pem(cert), key)
        session.flush()
        self.ensure_tsa(session, actor=actor)
        audit.record(
            session,
            actor=actor,
            action="pki.initialised",
            target_type="ca",
            target_id=_sha256(root[1]),
            details={
                "root": root[1].subject.rfc4514_string(),
                "issuing": issuing[1].subject.rfc4514_string(),
            },
        )
        self.publish_crls(session, actor=actor)

    def ensure_tsa(self, session: Session, *, actor: str) -> bool:
        """The demo TSA's key and certificate (issued by the issuing CA, critical EKU
        id-kp-timeStamping), stored encrypted beside the CAs; made once."""
        if session.get(CaMaterial, TSA) is not None:
            return False
        ca = ca_material(session, ISSUING)
        ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
        key, cert = pki.issue_tsa_certificate(
            self.caches.ca_key(ca), ca_cert, TSA_NAME, crl_url=ISSUING_CRL_URL
        )
        session.add(
            CaMaterial(
                role=TSA,
                certificate_pem=_pem(cert),
                private_key_enc=pki.encrypt_private_key(key, self._passphrase).decode(),
            )
        )
        self.caches.remember_ca_key(_pem(cert), key)
        self.invalidate()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="tsa.issued",
            target_type="ca",
            target_id=_sha256(cert),
            details={
                "subject": cert.subject.rfc4514_string(),
                "serial": format(cert.serial_number, "x"),
            },
        )
        return True

    def issue(
        self, session: Session, organ_id: str, *, actor: str, key_type: str = "rsa"
    ) -> SigningKey:
        """A new key and certificate for a local organization; the previous one retires
        (rotation: `lienthong pki issue`, `POST /organizations/{organ_id}/keys`).

        Retired certificates are superseded, not revoked: documents they signed still verify,
        here and for anyone checking them against the published CRL later; the retired key is
        never used again. Revoke (`revoke`) when a key is compromised.
        """
        org = self._local_org(session, organ_id)
        key, cert, _ = self.issue_detached(
            session,
            organ_id,
            org.name,
            key_type=key_type,  # type: ignore[arg-type]
            crl_url=ISSUING_CRL_URL,
        )
        return self.install_key(session, organ_id, key, cert, actor=actor)

    def _local_org(self, session: Session, organ_id: str) -> Organization:
        org = session.get(Organization, organ_id)
        if org is None:
            raise NotFound(f"no organization {organ_id}", code="organization.not_found")
        if org.route != "local":
            raise Unprocessable(
                "only local organizations hold keys here", code="organization.invalid"
            )
        return org

    def install_key(
        self, session: Session, organ_id: str, key: Any, cert: x509.Certificate, *, actor: str
    ) -> SigningKey:
        """Make `cert` the organization's active signing certificate (rotation: old retires)."""
        self._local_org(session, organ_id)
        issuing = x509.load_pem_x509_certificate(
            ca_material(session, ISSUING).certificate_pem.encode()
        )
        signer = Signer(key, cert, [issuing])
        recent.changed(session, ACTIVE_KEYS)  # here the new key signs from the COMMIT on
        now = utcnow()
        superseded = []
        for old in session.scalars(
            select(SigningKey).where(SigningKey.organ_id == organ_id, SigningKey.active.is_(True))
        ):
            old.active, old.retired_at = False, now
            superseded.append(old.serial)
        row = SigningKey(
            organ_id=organ_id,
            key_type="ec" if signer.signature_method.endswith("ecdsa-sha256") else "rsa",
            private_key_enc=pki.encrypt_private_key(key, self._passphrase).decode(),
            certificate_pem=_pem(cert),
            serial=format(cert.serial_number, "x"),
            sha256=_sha256(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            created_at=now,
        )
        session.add(row)
        session.flush()
        self.caches.remember_signer(row.sha256, signer)
        audit.record(
            session,
            actor=actor,
            action="key.issued",
            target_type="organization",
            target_id=organ_id,
            details={
                "serial": row.serial,
                "sha256": row.sha256,
                "key_type": row.key_type,
                "supersedes": superseded,
            },
        )
        return row

    def ensure_key(self, session: Session, organ_id: str, *, actor: str) -> SigningKey | None:
        """A local organization holds a signing key from the moment it exists (SPEC 5): issue
        one, in the caller's transaction, if it has none. Organizations reached through the
        axis hold none here."""
        org = session.get(Organization, organ_id)
        if org is None or org.route != "local":
            return None
        active = session.scalars(
            select(SigningKey.id)
            .where(SigningKey.organ_id == organ_id, SigningKey.active.is_(True))
            .limit(1)
        ).first()
        return None if active is not None else self.issue(session, organ_id, actor=actor)

    def revoke_and_reissue(
        self,
        session: Session,
        organ_id: str,
        *,
        actor: str,
        reason: str | None = None,
        revoked_at: dt.datetime | None = None,
        reissue: bool = True,
    ) -> tuple[list[str], SigningKey | None]:
        """Revoke the organization's active certificate and, unless told not to, issue its
        successor (same key type) so it can go on sending (`lienthong pki revoke`,
        `POST /organizations/{organ_id}/keys/revoke`)."""
        self._local_org(session, organ_id)
        current = session.scalars(
            select(SigningKey)
            .where(SigningKey.organ_id == organ_id, SigningKey.active.is_(True))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        ).first()
        key_type = current.key_type if current is not None else "rsa"
        serials = self.revoke(session, organ_id, actor=actor, reason=reason, revoked_at=revoked_at)
        successor = (
            self.issue(session, organ_id, actor=actor, key_type=key_type) if reissue else None
        )
        return serials, successor

    def revoke(
        self,
        session: Session,
        organ_id: str,
        *,
        actor: str,
        reason: str | None = None,
        revoked_at: dt.datetime | None = None,
    ) -> list[str]:
        """Revoke every active certificate of an organization and publish a new CRL.

        `revoked_at` backdates the revocation (a key compromised since then): documents the
        hub received after it then fail re-validation with REVOKED, earlier ones still pass.
        """
        rows = list(
            session.scalars(
                select(SigningKey).where(
                    SigningKey.organ_id == organ_id, SigningKey.active.is_(True)
                )
            )
        )
        if not rows:
            raise NotFound(f"{organ_id} has no active certificate", code="key.not_found")
        now = utcnow()
        if revoked_at is not None and revoked_at > now + CLOCK_SKEW:
            raise Unprocessable(
                "a revocation cannot take effect in the future", code="key.revocation_invalid"
            )
        when = min(revoked_at, now) if revoked_at else now
        recent.changed(session, ACTIVE_KEYS)  # here never again from the COMMIT on
        for row in rows:
            row.active, row.retired_at = False, now
            session.add(
                RevokedCertificate(
                    serial=row.serial, organ_id=organ_id, revoked_at=when, reason=reason
                )
            )
            audit.record(
                session,
                actor=actor,
                action="certificate.revoked",
                target_type="organization",
                target_id=organ_id,
                details={"serial": row.serial, "reason": reason, "revoked_at": when.isoformat()},
            )
        session.flush()
        self.publish_crls(session, actor=actor)
        return [r.serial for r in rows]

    def publish_crls(self, session: Session, *, actor: str) -> None:
        self.invalidate()
        recent.changed(session, TRUST)  # kept by no process before it commits
        now = utcnow()
        rows = list(session.scalars(select(RevokedCertificate).order_by(RevokedCertificate.serial)))
        revoked = [(int(r.serial, 16), r.revoked_at) for r in rows]
        reasons = {int(r.serial, 16): r.reason for r in rows}
        for role, entries in ((ROOT, []), (ISSUING, revoked)):
            ca = ca_material(session, role)
            cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
            current = session.get(PublishedCrl, role)
            number = (current.number + 1) if current else 1
            der = pki.build_crl(
                self.caches.ca_key(ca),
                cert,
                entries,
                this_update=now,
                next_update=now + CRL_LIFETIME,
                crl_number=number,
                reasons=reasons,
            )
            if current is None:
                session.add(
                    PublishedCrl(
                        role=role,
                        number=number,
                        this_update=now,
                        next_update=now + CRL_LIFETIME,
                        der=der,
                    )
                )
            else:
                current.number, current.this_update, current.next_update, current.der = (
                    number,
                    now,
                    now + CRL_LIFETIME,
                    der,
                )
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="crl.published",
            target_type="ca",
            target_id=ISSUING,
            details={"revoked": len(revoked)},
        )

    def refresh_crls_if_due(self, session: Session, *, actor: str = "system") -> bool:
        """Republish the CRLs when the issuing one is within CRL_REFRESH_BEFORE of its
        nextUpdate (or past it). A write: the worker runs it on a schedule, never a read."""
        crl = session.get(PublishedCrl, ISSUING)
        if crl is None or crl.next_update - utcnow() > CRL_REFRESH_BEFORE:
            return False
        # Take the write transaction (a no-op for a session already writing) and look again:
        # another process may have refreshed them meanwhile.
        begin_write(session)
        session.scalars(select(PublishedCrl).execution_options(populate_existing=True)).all()
        if crl.next_update - utcnow() > CRL_REFRESH_BEFORE:
            return False
        self.publish_crls(session, actor=actor)
        return True

    def issue_detached(
        self,
        session: Session,
        organ_id: str,
        name: str,
        *,
        key_type: Literal["rsa", "ec"] = "rsa",
        crl_url: str | None = None,
    ) -> tuple[Any, x509.Certificate, x509.Certificate]:
        """A certificate under the issuing CA whose key the hub hands out and does not keep
        (the demo's other province signs with it; `issue` installs what it returns).
        Returns (key, certificate, issuing CA)."""
        ca = ca_material(session, ISSUING)
        ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
        key, cert = pki.issue_org_certificate(
            self.caches.ca_key(ca),
            ca_cert,
            organ_id,
            x509_name(name),
            common_name=x509_name(name, suffix=f" ({organ_id})"),
            key_type=key_type,
            crl_url=crl_url,
        )
        return key, cert, ca_cert

    def ensure_demo_keys(
        self, session: Session, *, actor: str, progress: Callable[[str], None] | None = None
    ) -> PkiSummary:
        """Make the CA if needed and a key for every active local organization without one."""
        created = self.init_ca(session, actor=actor)
        self.ensure_tsa(session, actor=actor)  # databases made before the TSA existed
        have = set(session.scalars(select(SigningKey.organ_id).where(SigningKey.active.is_(True))))
        issued = []
        for org in session.scalars(
            select(Organization).where(Organization.route == "local", Organization.active.is_(True))
        ):
            if org.organ_id not in have:
                self.issue(session, org.organ_id, actor=actor)
                issued.append(org.organ_id)
                if progress is not None:
                    progress(org.organ_id)
        return PkiSummary(created, issued)
