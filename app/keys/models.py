"""Key custody: CA material, one signing key per local organization, revocations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime
from app.core.ids import new_id
from app.core.timeutil import utcnow


class CaMaterial(Base):
    """The demo PKI's CAs ("root" stands in for the national CA, "issuing" signs leaves)."""

    __tablename__ = "ca_material"

    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SigningKey(Base):
    """An organization's signing key (encrypted at rest) and its certificate."""

    __tablename__ = "signing_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organ_id: Mapped[str] = mapped_column(ForeignKey("organizations.organ_id"), index=True)
    key_type: Mapped[str] = mapped_column(String(10))
    private_key_enc: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class RevokedCertificate(Base):
    __tablename__ = "revoked_certificates"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    organ_id: Mapped[str | None] = mapped_column(String(35), default=None)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(100), default=None)


class RegisteredFingerprint(Base):
    """A certificate without organizationIdentifier, bound to an organization by an admin."""

    __tablename__ = "registered_fingerprints"

    organ_id: Mapped[str] = mapped_column(ForeignKey("organizations.organ_id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PublishedCrl(Base):
    """The current CRL of each hub CA, regenerated when revocations change or it ages."""

    __tablename__ = "crls"

    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    number: Mapped[int] = mapped_column(default=1)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
