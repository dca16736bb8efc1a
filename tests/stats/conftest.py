"""Helpers for the statistics tests: drive documents through the API and the worker's ORM
moves, and compare the live counters with a recount from the rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.connectors.vpcp import ReceivedItem
from app.core.db import unit_of_work
from app.core.timeutil import LOCAL_TZ
from app.delivery.models import Delivery
from app.documents.models import Document
from app.edxml import EdxmlDocument, build_document_tree, serialize
from app.signing.xmldsig import Signer, sign_tree
from app.stats.counters import Key
from app.stats.recount import differences, stored
from tests.conftest import PkiMaterial, World, settled
from tests.factories import document_json

DOCS = "/api/v1/documents"
_axis_ids = itertools.count(1)


def mismatches(sessions: sessionmaker[Session]) -> list[str]:
    with settled(sessions) as s:
        return [str(d) for d in differences(s.connection())]


def counters(sessions: sessionmaker[Session]) -> dict[Key, dict[str, int]]:
    # Settled first: the counters and the deltas are two statements, and a fold committed
    # between them (the background settler's) would count some deltas twice or not at all.
    with settled(sessions) as s:
        return stored(s.connection()).nonzero()


def column_total(sessions: sessionmaker[Session], column: str, organ_id: str | None = None) -> int:
    return sum(
        cols.get(column, 0)
        for (organ, _), cols in counters(sessions).items()
        if organ_id is None or organ == organ_id
    )


def local_time(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    """A wall-clock time in Asia/Ho_Chi_Minh, as the UTC instant the hub stores."""
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass
class Driver:
    """Who may act for whom, and the common moves of the document flow."""

    client: Any
    world: World
    sessions: sessionmaker[Session]
    app: Any
    pki: PkiMaterial
    auth: dict[str, dict[str, str]] = field(default_factory=dict)

    def submit(self, sender: str, to: list[str], **extra: Any) -> dict[str, Any]:
        r = self.client.post(
            DOCS, json=document_json(sender, to, **extra), headers=self.auth[sender]
        )
        assert r.status_code == 202, r.text
        return dict(r.json())

    def inbox(self, organ: str) -> list[dict[str, Any]]:
        r = self.client.get(
            "/api/v1/inbox", params={"organ_id": organ, "limit": 500}, headers=self.auth[organ]
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    def ack(self, organ: str, item: str, result: str = "done") -> Any:
        return self.client.post(
            f"/api/v1/inbox/{item}/ack", json={"result": result}, headers=self.auth[organ]
        )

    def status(self, doc: str, organ: str, code: str) -> Any:
        return self.client.post(
            f"{DOCS}/{doc}/statuses",
            json={"organ_id": organ, "code": code},
            headers=self.auth[organ],
        )

    def revoke(self, sender: str, target: dict[str, Any]) -> dict[str, Any]:
        return self.submit(
            sender,
            list(target["to"]),
            business={"business_doc_type": 1, "business_doc_reason": "Thu hồi"},
            response_for=[{"organ_id": sender, "document_id": target["document_id"]}],
        )

    def set_delivery(self, delivery_id: str, **values: Any) -> None:
        """What the worker does: load the row, set attributes, commit (unit of work)."""
        with unit_of_work(self.sessions) as s:
            d = s.get(Delivery, delivery_id)
            assert d is not None
            for k, v in values.items():
                setattr(d, k, v)

    def set_document(self, doc_id: str, **values: Any) -> None:
        with unit_of_work(self.sessions) as s:
            doc = s.get(Document, doc_id)
            assert doc is not None
            for k, v in values.items():
                setattr(doc, k, v)

    def place(self, doc: dict[str, Any], at: datetime, latency: float = 0.0) -> None:
        """Re-date a document (and the deliveries that reached) as if accepted at `at`."""
        self.set_document(doc["id"], accepted_at=at)
        for d in self.deliveries(document=doc["id"]):
            if d.available_at is not None:
                self.set_delivery(d.id, available_at=at + timedelta(seconds=latency))

    def deliveries(self, **where: Any) -> list[Delivery]:
        with self.sessions() as s:
            stmt = select(Delivery).order_by(Delivery.id)
            for k, v in where.items():
                stmt = stmt.where(getattr(Delivery, k) == v)
            return list(s.scalars(stmt))

    def from_axis(self, sender: str, to: list[str]) -> str:
        """A document signed by an external organization, received as the worker receives it."""
        from app.documents.inbound import receive_item

        body = document_json(sender, to)
        root = build_document_tree(EdxmlDocument.model_validate(body).with_document_id())
        key, cert = self.pki.leaves[sender]
        sign_tree(root, Signer(key, cert, [self.pki.issuing[1]]))
        data = serialize(root)
        item = ReceivedItem(
            doc_id=f"axis-{next(_axis_ids)}-{datetime.now().timestamp()}",
            from_organ=sender,
            to=tuple(to),
            message_type="edoc",
            status="initial",
            created_time=datetime.now().isoformat(),
        )

        class OneItem:
            def get_edoc(self, doc_id: str) -> bytes:
                return data

            def update_status(self, doc_id: str, status: str) -> None:
                return None

        return receive_item(self.app.state.hub, self.sessions, OneItem(), item)  # type: ignore[arg-type]


@pytest.fixture
def driver(client, world: World, sessions, app, pki_material: PkiMaterial) -> Iterator[Driver]:
    from app.clients.schemas import ClientCreate
    from app.clients.service import create_client

    with unit_of_work(sessions) as s:
        _, province_key = create_client(
            s, ClientCreate(name="ubnd", role="system", organ_ids=[world.PROVINCE]), actor="t"
        )
    auth = {
        world.OWN: world.auth("system"),
        world.OWN2: world.auth("system"),
        world.FOREIGN: world.auth("system_foreign"),
        world.PROVINCE: {"Authorization": f"Bearer {province_key}"},
    }
    yield Driver(client, world, sessions, app, pki_material, auth)
