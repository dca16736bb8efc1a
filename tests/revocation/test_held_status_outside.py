"""Held status messages under an outside CA (SPEC 5.1, issue #9): a status from the axis whose
signer's OCSP responder is down is held like a document (not applied, not acknowledged on
the axis), applied with its validation report and timestamp once the responder is back, and
kept unapplied (quarantined) past HOLD_MAX_AGE. Time moves by the worker's clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.timeutil import utcnow
from app.delivery.models import AxisReceipt, Delivery
from app.documents.models import HeldDocument, StatusMessage
from app.edxml import StatusMessage as EdxmlStatus
from app.edxml import build_status_tree, serialize
from app.signing.xmldsig import sign_tree
from app.worker import Worker
from tests.conftest import World
from tests.delivery.conftest import HUB, VPCP, Clock, axis, connector, mock_axis
from tests.factories import document_json
from tests.outside_pki import Served
from tests.revocation.conftest import Outside
from tests.stats.conftest import mismatches

__all__ = ["axis", "mock_axis"]  # fixtures used here

DOCS = "/api/v1/documents"


def _responder_down(outside: Outside) -> None:
    with outside.server.lock:
        outside.server.routes["/ocsp"] = lambda _: Served(status=503)


def _worker(app: Any, axis: str, clock: Clock) -> Worker:
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis, HUB), clock=clock)


def _sent_to_external(client: Any, world: World, worker: Worker) -> dict[str, Any]:
    """A document of World.OWN sent to World.EXTERNAL over the axis (the worker sends it)."""
    r = client.post(
        DOCS,
        json=document_json(World.OWN, [World.EXTERNAL]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    worker.run_once()
    worker._last_poll = 0.0  # the next round polls the axis again (its interval is monotonic)
    return dict(r.json())


def _status_from_axis(outside: Outside, axis: str, document_id: str) -> str:
    """A 03 from World.EXTERNAL, signed under the outside CA (OCSP only), sent over the axis."""
    root = build_status_tree(
        EdxmlStatus.model_validate(
            {
                "from": {"organ_id": World.EXTERNAL},
                "response_for": {"organ_id": World.OWN, "document_id": document_id},
                "status_code": "03",
                "description": "Đã tiếp nhận",
                "timestamp": "2026-11-26T10:00:00",
            }
        )
    )
    leaf = outside.pki.leaf(World.EXTERNAL, crl_url=None)
    sign_tree(root, outside.pki.signer(leaf))
    return str(
        connector(axis, VPCP).send_edoc(
            serialize(root), from_organ=World.EXTERNAL, to=[World.OWN], message_type="status"
        )
    )


def _held(client: Any, world: World) -> list[dict[str, Any]]:
    r = client.get(
        "/api/v1/audit/signatures", params={"state": "held"}, headers=world.auth("auditor")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _statuses(client: Any, world: World, doc: str) -> list[dict[str, Any]]:
    r = client.get(f"{DOCS}/{doc}/statuses", headers=world.auth("system"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _status_code(sessions: Any, doc: str) -> str | None:
    with sessions() as s:
        code: str | None = s.scalars(
            select(Delivery.status_code).where(
                Delivery.document == doc, Delivery.organ_id == World.EXTERNAL
            )
        ).one()
        return code


def _listed(axis: str) -> list[str]:
    return [i.doc_id for i in connector(axis, HUB).get_received_list("status")]


def _held_status(
    client: Any, world: World, app: Any, outside: Outside, axis: str
) -> tuple[Clock, Worker, dict[str, Any], str]:
    """A document sent to World.EXTERNAL, then its 03 received while the responder is down."""
    clock = Clock(utcnow())
    worker = _worker(app, axis, clock)
    doc = _sent_to_external(client, world, worker)
    _responder_down(outside)
    axis_id = _status_from_axis(outside, axis, doc["document_id"])
    worker.run_once()
    return clock, worker, doc, axis_id


def test_status_held_while_the_responder_is_down_then_applied(
    client: Any, world: World, app: Any, sessions: Any, outside: Outside, axis: str
) -> None:
    clock, worker, doc, axis_id = _held_status(client, world, app, outside, axis)
    [held] = _held(client, world)
    assert (held["kind"], held["state"], held["sub_indication"]) == ("status", "held", "TRY_LATER")
    assert held["axis_doc_id"] == axis_id and held["document_id"] == doc["document_id"]
    assert _status_code(sessions, doc["id"]) is None  # not applied
    assert [s["code"] for s in _statuses(client, world, doc["id"])] == []
    assert _listed(axis) == [axis_id]  # not acknowledged on the axis
    clock.advance(minutes=1, seconds=1)
    worker.run_once()
    [held] = _held(client, world)
    assert held["attempts"] == 1 and _listed(axis) == [axis_id]

    outside.pki.serve(outside.server)  # the responder is back
    app.state.hub.revocation.forget()
    clock.advance(minutes=2, seconds=1)
    worker.run_once()
    assert _held(client, world) == []
    assert _status_code(sessions, doc["id"]) == "03"
    [status] = _statuses(client, world, doc["id"])
    assert status["code"] == "03" and status["from"] == World.EXTERNAL
    report = status["validation"]["report"]
    assert status["validation"]["trigger"] == "receipt"
    assert report["indication"] == "TOTAL_PASSED"
    assert report["timestamp"]["status"] == "granted"
    assert report["best_signature_time"] == report["timestamp"]["gen_time"]
    assert any(str(e["url"]).endswith("/ocsp") for e in report["revocation_data"])
    assert _listed(axis) == []  # acknowledged now
    with sessions() as s:
        assert s.get(AxisReceipt, axis_id).outcome == "delivered"
        row = s.scalars(select(HeldDocument)).one()
        assert (row.kind, row.state, row.document) == ("status", "released", doc["id"])
    assert mismatches(sessions) == []  # the status counts once, when it is applied


def test_status_held_past_hold_max_age_is_never_applied(
    client: Any, world: World, app: Any, sessions: Any, outside: Outside, axis: str
) -> None:
    app.state.hub.settings.hold_max_age = 600
    clock, worker, doc, axis_id = _held_status(client, world, app, outside, axis)
    for minutes in (1, 2, 4):
        clock.advance(minutes=minutes, seconds=1)
        worker.run_once()
    [held] = _held(client, world)
    assert held["attempts"] == 3 and _listed(axis) == [axis_id]
    clock.advance(minutes=8, seconds=1)  # past HOLD_MAX_AGE at the next re-validation
    worker.run_once()
    assert _held(client, world) == [] and _listed(axis) == []
    assert _status_code(sessions, doc["id"]) is None
    with sessions() as s:
        assert s.scalars(select(StatusMessage)).all() == []
        receipt = s.get(AxisReceipt, axis_id)
        assert receipt is not None and receipt.outcome == "quarantined"
        row = s.scalars(select(HeldDocument)).one()
        assert (row.kind, row.state, row.sub_indication) == ("status", "quarantined", "TRY_LATER")
    assert mismatches(sessions) == []
