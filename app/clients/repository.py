"""Client queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clients.models import ApiClient


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_key_hash(self, key_hash: str) -> ApiClient | None:
        return self.session.scalars(
            select(ApiClient).where(ApiClient.key_hash == key_hash)
        ).one_or_none()

    def get(self, client_id: str) -> ApiClient | None:
        return self.session.get(ApiClient, client_id)

    def list(self, *, after: str | None, limit: int) -> list[ApiClient]:
        stmt = select(ApiClient).order_by(ApiClient.id).limit(limit)
        if after:
            stmt = stmt.where(ApiClient.id > after)
        return list(self.session.scalars(stmt))

    def add(self, client: ApiClient) -> None:
        self.session.add(client)
        self.session.flush()
