"""Held documents under an outside CA (SPEC 5.1, issue #9): its OCSP responder is down, so a
document is 503 over the API and held from the axis; when the responder comes back the held
document passes at its next re-validation and is delivered, with the responder's answer as
its evidence; if it stays down past HOLD_MAX_AGE the document is quarantined and answered 02.
Time moves by the worker's clock, never by sleeping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.timeutil import utcnow
from app.delivery.models import AxisReceipt
from app.documents import hold
from app.documents.models import Document, HeldDocument, ValidationRecord
from app.edxml import parse_message, serialize
from app.revocation.service import FAILURE_MEMO_SECONDS
from app.worker import Worker
from tests.conftest import World
from tests.delivery.conftest import HUB, VPCP, Clock, axis, connector, mock_axis
from tests.outside_pki import Served
from tests.revocation.conftest import Outside, signed_document, submit

__all__ = ["axis", "mock_axis"]  # fixtures used here


def _responder_down(outside: Outside) -> None:
    with outside.server.lock:
        outside.server.routes["/ocsp"] = lambda _: Served(status=503)


def _held(sessions: Any) -> list[HeldDocument]:
    with sessions() as s:
        return list(s.scalars(select(HeldDocument).where(HeldDocument.state == "held")))


def _inbox(client: Any, world: World) -> list[dict[str, Any]]:
    return list(
        client.get(
            "/api/v1/inbox", params={"organ_id": World.OWN}, headers=world.auth("system")
        ).json()["items"]
    )


def _from_axis(outside: Outside, axis: str) -> str:
    leaf = outside.pki.leaf(World.EXTERNAL, crl_url=None)  # OCSP only
    root = signed_document(outside.pki.signer(leaf), World.EXTERNAL, [World.OWN])
    return str(
        connector(axis, VPCP).send_edoc(
            serialize(root), from_organ=World.EXTERNAL, to=[World.OWN], message_type="edoc"
        )
    )


def _worker(app: Any, axis: str, clock: Clock) -> Worker:
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis, HUB), clock=clock)


def test_responder_down_then_back(
    client: Any, world: World, app: Any, sessions: Any, outside: Outside, axis: str
) -> None:
    _responder_down(outside)
    own = outside.pki.leaf(World.OWN, crl_url=None)
    r = submit(client, world, outside.pki.signer(own))
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "signature.try_later" and r.headers["retry-after"] == "60"

    clock = Clock(utcnow())
    worker = _worker(app, axis, clock)
    doc_id = _from_axis(outside, axis)
    worker.run_once()
    [held] = _held(sessions)
    assert held.sub_indication == "TRY_LATER" and held.axis_doc_id == doc_id
    clock.advance(minutes=1, seconds=1)
    worker.run_once()
    [held] = _held(sessions)
    assert held.attempts == 1 and _inbox(client, world) == []
    assert [i.doc_id for i in connector(axis, HUB).get_received_list("edoc")] == [doc_id]

    outside.pki.serve(outside.server)  # the responder is back
    clock.advance(minutes=2, seconds=1)
    # Two minutes pass on the worker's clock, but only seconds in this process: the fetcher's
    # memo of the failure (FAILURE_MEMO_SECONDS, monotonic time) is forgotten as it would be
    # by then. Every re-validation comes after it has lapsed, even the first.
    assert hold.BACKOFF_FIRST.total_seconds() > FAILURE_MEMO_SECONDS
    app.state.hub.revocation.forget()
    worker.run_once()
    assert _held(sessions) == []
    [item] = _inbox(client, world)
    with sessions() as s:
        doc = s.get(Document, item["document"])
        assert doc is not None and doc.indication == "TOTAL_PASSED"
        report = s.scalars(
            select(ValidationRecord.report).where(ValidationRecord.document == doc.id)
        ).one()
        assert s.get(AxisReceipt, doc_id).outcome == "delivered"
    assert any(str(e["url"]).endswith("/ocsp") for e in report["revocation_data"])
    assert connector(axis, HUB).get_received_list("edoc") == []  # acknowledged now
    # And over the API the same signature now passes.
    assert submit(client, world, outside.pki.signer(own)).status_code == 202


def test_responder_down_past_hold_max_age(
    client: Any, world: World, app: Any, sessions: Any, outside: Outside, axis: str
) -> None:
    app.state.hub.settings.hold_max_age = 600
    _responder_down(outside)
    clock = Clock(utcnow())
    worker = _worker(app, axis, clock)
    doc_id = _from_axis(outside, axis)
    worker.run_once()
    assert len(_held(sessions)) == 1
    for minutes in (1, 2, 4):  # the backoff: 1, 2, 4 minutes; 7 minutes held
        clock.advance(minutes=minutes, seconds=1)
        worker.run_once()
    [held] = _held(sessions)
    assert held.attempts == 3
    assert connector(axis, VPCP).get_received_list("status") == []  # not answered meanwhile
    clock.advance(minutes=8, seconds=1)  # past HOLD_MAX_AGE at the next re-validation
    worker.run_once()
    worker.run_once()  # the 02 goes out through the outbox
    assert _held(sessions) == [] and _inbox(client, world) == []
    with sessions() as s:
        receipt = s.get(AxisReceipt, doc_id)
        assert receipt is not None and receipt.outcome == "quarantined"
        quarantined = s.get(Document, receipt.document)
        assert quarantined is not None and quarantined.quarantined
        assert quarantined.sub_indication == "TRY_LATER"
    back = connector(axis, VPCP).get_received_list("status")
    assert len(back) == 1
    status = parse_message(connector(axis, VPCP).get_edoc(back[0].doc_id), max_bytes=10**6).status
    assert status is not None and status.status_code == "02" and status.from_.organ_id == World.OWN
