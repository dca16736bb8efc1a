"""The durable outbox: one row per (message, recipient), with its state machine (SPEC 6).

Also the trace of each document's journey, which the outbox writes as it goes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime
from app.core.ids import new_id
from app.core.timeutil import utcnow

# queued -> sending -> delivered | available -> acknowledged | rejected; retrying; dead
DeliveryState = Literal[
    "queued",
    "sending",
    "retrying",
    "delivered",
    "available",
    "acknowledged",
    "rejected",
    "dead",
]
STATES: tuple[DeliveryState, ...] = get_args(DeliveryState)


class Delivery(Base):
    __tablename__ = "deliveries"
    # Each recipient gets each message once: the key of "no inbox lists a document twice".
    __table_args__ = (UniqueConstraint("message_id", "organ_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))  # document | status
    message_id: Mapped[str] = mapped_column(String(36))  # documents.id or status_messages.id
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    status_message: Mapped[str | None] = mapped_column(
        ForeignKey("status_messages.id"), default=None
    )
    organ_id: Mapped[str] = mapped_column(ForeignKey("organizations.organ_id"))
    route: Mapped[str] = mapped_column(String(10))  # local | vpcp
    mode: Mapped[str] = mapped_column(String(10))  # pull | push | axis
    state: Mapped[str] = mapped_column(String(15), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    # The claim's token (app.core.leases): only its holder renews the lease or settles the row.
    lease_token: Mapped[str | None] = mapped_column(String(36), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    status_code: Mapped[str | None] = mapped_column(String(2), default=None)
    pending_change: Mapped[str | None] = mapped_column(String(2), default=None)
    revoked: Mapped[bool] = mapped_column(default=False)
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


Index("ix_deliveries_inbox", Delivery.organ_id, Delivery.state, Delivery.id)
Index("ix_deliveries_due", Delivery.state, Delivery.next_attempt_at)


class WorkerHeartbeat(Base):
    """Each worker process writes here every poll; /readyz checks the freshest."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class AxisReceipt(Base):
    """Items fetched from the national axis, so a re-fetched item is recognised, not re-delivered."""

    __tablename__ = "axis_receipts"

    axis_doc_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_type: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(
        String(20)
    )  # delivered | quarantined | duplicate | refused
    document: Mapped[str | None] = mapped_column(String(36), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TraceEvent(Base):
    """Everything that happened to a document, in order (GET /documents/{id}/trace).

    Kept beside the deliveries because the outbox writes most of it; documents read it.
    """

    __tablename__ = "trace_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    delivery: Mapped[str | None] = mapped_column(String(36), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event: Mapped[str] = mapped_column(String(40))
    organ_id: Mapped[str | None] = mapped_column(String(35), default=None)
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
