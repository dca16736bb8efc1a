"""API clients: who may call the hub, in which role, for which organizations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime
from app.core.ids import new_id
from app.core.timeutil import utcnow
from app.directory.models import Organization

client_organizations = Table(
    "client_organizations",
    Base.metadata,
    Column("client_id", ForeignKey("api_clients.id", ondelete="CASCADE"), primary_key=True),
    Column("organ_id", ForeignKey("organizations.organ_id"), primary_key=True),
)


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    organizations: Mapped[list[Organization]] = relationship(
        secondary=client_organizations, lazy="selectin"
    )

    @property
    def organ_ids(self) -> list[str]:
        return sorted(o.organ_id for o in self.organizations)
