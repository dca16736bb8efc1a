"""Directory queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from app.directory.models import Organization


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organ_id: str) -> Organization | None:
        return self.session.get(Organization, organ_id)

    def get_many(self, organ_ids: Sequence[str]) -> list[Organization]:
        if not organ_ids:
            return []
        stmt = select(Organization).where(Organization.organ_id.in_(list(organ_ids)))
        return list(self.session.scalars(stmt))

    def routing_entries(self) -> Sequence[Row[str, str, str, str, bool]]:
        """Every entry's OrganId, name, route, delivery mode and state (`cache.Entry`)."""
        o = Organization
        stmt = select(o.organ_id, o.name, o.route, o.delivery_mode, o.active)
        return self.session.execute(stmt).all()

    def list(
        self,
        *,
        after: str | None,
        limit: int,
        route: str | None = None,
        active: bool | None = None,
        parent_id: str | None = None,
    ) -> list[Organization]:
        stmt = select(Organization).order_by(Organization.organ_id).limit(limit)
        if after:
            stmt = stmt.where(Organization.organ_id > after)
        if route:
            stmt = stmt.where(Organization.route == route)
        if active is not None:
            stmt = stmt.where(Organization.active == active)
        if parent_id:
            stmt = stmt.where(Organization.parent_id == parent_id)
        return list(self.session.scalars(stmt))

    def add(self, org: Organization) -> None:
        self.session.add(org)
        self.session.flush()
