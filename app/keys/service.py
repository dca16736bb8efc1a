"""Key custody decisions. (Signing itself lives in the pure `app.signing` package.)"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core import recent
from app.core.errors import Conflict, NotFound
from app.core.timeutil import iso, utcnow
from app.directory.schemas import CertificateInfo
from app.keys.caches import TRUST
from app.keys.models import RegisteredFingerprint, SigningKey


def active_key(session: Session, organ_id: str) -> SigningKey | None:
    return session.scalars(
        select(SigningKey)
        .where(SigningKey.organ_id == organ_id, SigningKey.active.is_(True))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    ).one_or_none()


def certificate_info(pem: str) -> CertificateInfo:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        issuer=cert.issuer.rfc4514_string(),
        not_before=iso(cert.not_valid_before_utc) or "",
        not_after=iso(cert.not_valid_after_utc) or "",
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def certificate_info_for(session: Session, organ_id: str) -> CertificateInfo | None:
    key = active_key(session, organ_id)
    return certificate_info(key.certificate_pem) if key else None


def _normal(sha256: str) -> str:
    return sha256.replace(":", "").lower()


def register_fingerprint(
    session: Session, organ_id: str, sha256: str, *, actor: str
) -> RegisteredFingerprint:
    from app.directory.service import get_organization

    get_organization(session, organ_id)
    fp = _normal(sha256)
    if session.get(RegisteredFingerprint, (organ_id, fp)) is not None:
        raise Conflict("this fingerprint is already registered", code="certificate.exists")
    row = RegisteredFingerprint(organ_id=organ_id, sha256=fp, created_at=utcnow())
    recent.changed(session, TRUST)  # every trust store of the process is rebuilt at the COMMIT
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="certificate.registered",
        target_type="organization",
        target_id=organ_id,
        details={"sha256": fp},
    )
    return row


def unregister_fingerprint(session: Session, organ_id: str, sha256: str, *, actor: str) -> None:
    row = session.get(RegisteredFingerprint, (organ_id, _normal(sha256)))
    if row is None:
        raise NotFound("no such registered certificate", code="certificate.not_found")
    recent.changed(session, TRUST)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="certificate.unregistered",
        target_type="organization",
        target_id=organ_id,
        details={"sha256": row.sha256},
    )
