"""Key custody decisions. (Signing itself lives in the pure `app.signing` package.)"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.timeutil import iso
from app.directory.schemas import CertificateInfo
from app.keys.models import SigningKey


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
