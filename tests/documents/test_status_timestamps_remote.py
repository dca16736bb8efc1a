"""A status the hub signs while the remote TSA (TSA_URL) does not answer: accepted, its report
says the timestamp is pending, and the worker's timestamp task fills it in when the TSA is
back, exactly as for documents (SPEC 5.2; `pending_timestamps`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.documents.models import PendingTimestamp, ValidationRecord
from app.documents.timestamps import fetch_pending
from app.mock_axis.server import MockAxisServer
from tests.conftest import World
from tests.documents.test_timestamps_remote import settings, tsa_port
from tests.factories import document_json

__all__ = ["settings", "tsa_port"]  # fixtures used here

DOCS = "/api/v1/documents"


def _status_validation(client: Any, world: World, doc: str) -> dict[str, Any]:
    r = client.get(f"{DOCS}/{doc}/statuses", headers=world.auth("system"))
    assert r.status_code == 200, r.text
    [status] = r.json()["items"]
    return dict(status["validation"])


def test_a_status_signed_while_the_tsa_is_down_is_stamped_later(
    client: Any, world: World, app: Any, sessions: Any, tsa_port: int
) -> None:
    hub = app.state.hub
    doc = client.post(
        DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system")
    ).json()
    start = utcnow()
    assert fetch_pending(hub, sessions, "w1", now=start) == 1  # the document's: TSA down
    r = client.post(
        f"{DOCS}/{doc['id']}/statuses",
        json={"organ_id": world.OWN2, "code": "03"},
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text  # a TSA that does not answer never refuses
    report = r.json()["validation"]["report"]
    assert report["indication"] == "TOTAL_PASSED"
    assert report["timestamp"] == {"status": "pending"}
    with unit_of_work(sessions) as s:
        [(pending_report, status)] = s.execute(
            select(PendingTimestamp.report, ValidationRecord.status)
            .join(ValidationRecord, ValidationRecord.id == PendingTimestamp.report)
            .where(ValidationRecord.status.is_not(None))
        ).all()
    assert status == r.json()["id"]

    server = MockAxisServer.start(app, port=tsa_port)  # the TSA is back
    try:
        assert fetch_pending(hub, sessions, "w1", now=start + dt.timedelta(hours=2)) == 2
    finally:
        server.stop()
    with unit_of_work(sessions) as s:
        assert s.scalars(select(PendingTimestamp)).all() == []
    validation = _status_validation(client, world, doc["id"])
    assert validation["id"] == pending_report
    stamp = validation["report"]["timestamp"]
    assert stamp["status"] == "granted"
    assert validation["report"]["best_signature_time"] == stamp["gen_time"]
    trace = client.get(f"{DOCS}/{doc['id']}/trace", headers=world.auth("auditor")).json()
    stamped = [e["detail"] for e in trace["items"] if e["event"] == "timestamped"]
    assert {d.get("status") for d in stamped} == {None, status}
