"""Documents, status messages, validation reports and idempotency records."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime
from app.core.ids import new_id
from app.core.timeutil import utcnow


class Document(Base):
    """One accepted edXML document (business type 0-3). The signed bytes live in the blob store.

    (From, DocumentId) is unique among documents that are not quarantined: a forged copy from
    the axis, kept for auditors, must not occupy the key of the real document (SPEC 5).
    """

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(String(300))
    from_organ: Mapped[str] = mapped_column(ForeignKey("organizations.organ_id"), index=True)
    business_type: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(String(500))
    code: Mapped[str] = mapped_column(String(200))
    promulgation_date: Mapped[date | None] = mapped_column(Date, default=None)
    to_organs: Mapped[list[str]] = mapped_column(JSON)
    response_for: Mapped[list[str]] = mapped_column(JSON, default=list)
    attachments: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(10), default="api")  # api | vpcp
    submitted_by: Mapped[str | None] = mapped_column(String(36), default=None)
    blob: Mapped[str] = mapped_column(String(64))  # sha256 of the stored edXML
    size: Mapped[int] = mapped_column(BigInteger)
    signed_by_hub: Mapped[bool] = mapped_column(Boolean, default=False)
    indication: Mapped[str | None] = mapped_column(String(30), default=None)
    sub_indication: Mapped[str | None] = mapped_column(String(40), default=None)
    signed_by: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    # The PDF attachments' signatures (SPEC 5.3) from the latest report: their verdict in one
    # word (None: no PDF), and whether every PDF passes with a signature of `from_organ`.
    pdf_indication: Mapped[str | None] = mapped_column(String(30), default=None)
    pdf_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class StatusMessage(Base):
    """A business status reported by one organization about a document."""

    __tablename__ = "status_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    from_organ: Mapped[str] = mapped_column(String(35))
    to_organs: Mapped[list[str]] = mapped_column(JSON)
    code: Mapped[str] = mapped_column(String(2))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    staff: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blob: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(10), default="api")
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ValidationRecord(Base):
    """Every signature validation ever made for a document, with its full report."""

    __tablename__ = "validation_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    validated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trigger: Mapped[str] = mapped_column(String(20))  # receipt | signing | revalidation
    indication: Mapped[str] = mapped_column(String(30), index=True)
    sub_indication: Mapped[str | None] = mapped_column(String(40), default=None)
    organ_id: Mapped[str] = mapped_column(String(35), index=True)
    report: Mapped[dict[str, object]] = mapped_column(JSON)


class PendingTimestamp(Base):
    """A signature whose RFC 3161 token is still to be fetched (TSA_URL set, or the TSA did not
    answer): written with the document, claimed by a worker under a lease (SPEC 5.2)."""

    __tablename__ = "pending_timestamps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    report: Mapped[str] = mapped_column(ForeignKey("validation_reports.id"), unique=True)
    imprint: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the SignatureValue
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    # The claim's token (app.core.leases): only its holder renews the lease or settles the row.
    lease_token: Mapped[str | None] = mapped_column(String(36), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)


class HeldDocument(Base):
    """A document from the axis whose signature could not be decided yet (INDETERMINATE/
    TRY_LATER: no fresh revocation data), held instead of delivered or refused (SPEC 5.1).

    `state` is the hold's life: `held` (waiting: re-validated by the worker from
    `next_attempt_at`, claimed under a lease), then once `released` (it passed: it became the
    document `document`), `quarantined` (it failed, or HOLD_MAX_AGE passed: answered 02),
    `refused` or `duplicate` (the same outcomes a first receipt can have). The bytes are the
    blob received; nothing is routed or answered on the axis while it is held.
    """

    __tablename__ = "held_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    axis_doc_id: Mapped[str] = mapped_column(String(200), unique=True)
    axis_from: Mapped[str] = mapped_column(String(35))  # the `from` the axis listed
    axis_to: Mapped[list[str]] = mapped_column(JSON)
    from_organ: Mapped[str] = mapped_column(String(35), index=True)  # the edXML From
    document_id: Mapped[str] = mapped_column(String(300))
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), default="held")
    held_since: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # re-validations made
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    # The claim's token (app.core.leases): only its holder renews the lease or settles the row.
    lease_token: Mapped[str | None] = mapped_column(String(36), default=None)
    indication: Mapped[str] = mapped_column(String(30))
    sub_indication: Mapped[str | None] = mapped_column(String(40), default=None)
    report: Mapped[dict[str, object]] = mapped_column(JSON)  # the latest validation report
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    document: Mapped[str | None] = mapped_column(String(36), default=None)


class IdempotencyRecord(Base):
    """The first answer to (client, Idempotency-Key), replayed for the same body."""

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


Index("ix_documents_accepted", Document.accepted_at, Document.id)
# `GET /documents?document_id=`: the unique index below is partial (not quarantined), so a
# lookup by DocumentId alone scanned every document.
Index("ix_documents_document_id", Document.document_id)
Index("ix_held_documents_due", HeldDocument.state, HeldDocument.next_attempt_at)
NOT_QUARANTINED = text("NOT quarantined")
Index(
    "uq_documents_sender_document_id",
    Document.from_organ,
    Document.document_id,
    unique=True,
    sqlite_where=NOT_QUARANTINED,
    postgresql_where=NOT_QUARANTINED,
)
