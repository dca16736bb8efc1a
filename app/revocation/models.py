"""Revocation data fetched from the network, kept as evidence and as the cache (SPEC 5.1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime
from app.core.ids import new_id
from app.core.timeutil import utcnow


class RevocationAnswer(Base):
    """One answer as fetched: a CRL, an OCSP response or a caIssuers certificate (raw DER).

    `lookup` files it: sha256 of kind, URL, the issuer's key id and (OCSP) the serial. The newest
    row of a lookup whose `expires_at` is ahead is the cache entry; older rows stay as the
    evidence reports point to (by `sha256`) until `RETENTION` after they expired.
    """

    __tablename__ = "revocation_answers"
    __table_args__ = (
        UniqueConstraint("lookup", "sha256", name="uq_revocation_answers_lookup_sha256"),
        Index("ix_revocation_answers_lookup_expires", "lookup", "expires_at"),
        Index("ix_revocation_answers_refresh_at", "refresh_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lookup: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # crl | ocsp | cert
    url: Mapped[str] = mapped_column(Text)
    issuer_key: Mapped[str] = mapped_column(String(64))
    """SHA-1 key id of the CA the answer is about (for `cert`: of the certificate that named
    the URL)."""
    serial: Mapped[str | None] = mapped_column(String(64), default=None)  # OCSP, hex
    der: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    this_update: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    next_update: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """Until when the cache uses it: nextUpdate, at most 24 h after fetching."""
    refresh_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """When the worker fetches a successor (ahead of `expires_at`)."""
    subject_not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    """The worker stops refreshing once the certificate the answer is about has expired."""
    checked_with: Mapped[bytes] = mapped_column(LargeBinary)
    """DER of the certificate a refreshed answer is checked against: the issuer (CRL, OCSP), the
    certificate that named the URL (cert)."""
    request_der: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # OCSP
