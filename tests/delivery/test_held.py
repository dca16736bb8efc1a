"""Held documents (SPEC 5.1): a document from the axis whose signature is INDETERMINATE/
TRY_LATER is kept, not delivered and not answered, re-validated by the worker with backoff
(driven here by the worker's clock, never by sleeping) until it passes or HOLD_MAX_AGE passes.

No fresh revocation data is made real: the hub's CRL is published with a clock a week back,
so it has expired (the hub fetches nothing from other CAs yet); publishing a fresh one (what
`lienthong pki crl` does) is the trust problem fixed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.delivery.models import AxisReceipt, Delivery
from app.documents import hold
from app.documents.inbound import revalidate_claimed
from app.documents.models import Document, HeldDocument, StatusMessage
from app.edxml import (
    EdxmlDocument,
    build_document_tree,
    build_status_tree,
    parse_message,
    serialize,
)
from app.edxml import StatusMessage as EdxmlStatus
from app.keys import custody as custody_module
from app.signing.xmldsig import sign_tree
from app.stats.models import StatsDaily
from app.worker import Worker
from tests.conftest import PkiMaterial, World
from tests.delivery.conftest import HUB, OTHER, Clock, connector
from tests.delivery.test_worker import signer_for
from tests.factories import document_json

DOCS = "/api/v1/documents"


@pytest.fixture
def stale_crl(app: Any, sessions: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's CRLs expired a day ago: every signature under its CA is TRY_LATER."""
    week_ago = utcnow() - timedelta(days=8)
    with monkeypatch.context() as m:
        m.setattr(custody_module, "utcnow", lambda: week_ago)
        with unit_of_work(sessions) as s:
            app.state.hub.custody.publish_crls(s, actor="test")


def _fix_trust(app: Any, sessions: Any) -> None:
    with unit_of_work(sessions) as s:
        app.state.hub.custody.publish_crls(s, actor="test")


def _worker(app: Any, axis: str, clock: Clock, name: str = "w1") -> Worker:
    w = Worker(
        app.state.hub,
        app.state.sessionmaker,
        axis=connector(axis, HUB),
        clock=clock,
        worker_id=name,
    )
    w._next_crl_check = float("inf")  # the CRL stays stale until the test publishes one
    return w


def _from_other_province(axis: str, world: World, pki_material: PkiMaterial) -> str:
    root = build_document_tree(
        EdxmlDocument.model_validate(
            document_json(world.OTHER_PROVINCE, [world.OWN])
        ).with_document_id()
    )
    sign_tree(root, signer_for(pki_material, world.OTHER_PROVINCE))
    return str(
        connector(axis, OTHER).send_edoc(
            serialize(root), from_organ=OTHER.organ_ids[0], to=[world.OWN], message_type="edoc"
        )
    )


def _held(client: Any, world: World) -> list[dict[str, Any]]:
    r = client.get(
        "/api/v1/audit/signatures", params={"state": "held"}, headers=world.auth("auditor")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _inbox(client: Any, world: World) -> list[dict[str, Any]]:
    return list(
        client.get(
            "/api/v1/inbox", params={"organ_id": world.OWN}, headers=world.auth("system")
        ).json()["items"]
    )


def _actions(sessions: Any, prefix: str) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like(prefix + "%"))
                .order_by(AuditEntry.seq)
            )
        )


def _received(sessions: Any, organ: str) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.sum(StatsDaily.__table__.c.received)).where(
                    StatsDaily.organ_id == organ
                )
            )
            or 0
        )


def _gauge(client: Any) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("lienthong_documents_held "):
            return float(line.split()[1])
    raise AssertionError("no lienthong_documents_held in /metrics")


def test_held_then_delivered_once_trust_is_fixed(
    client, world: World, app, sessions, axis: str, pki_material, stale_crl, clock: Clock
) -> None:
    # The hold starts minutes back (the test certificates are 5 minutes old), so the CRL that
    # fixes it is issued after the time the document is judged at (its receipt): revocation
    # data issued later counts for an earlier time.
    clock.advance(minutes=-3)
    worker = _worker(app, axis, clock)
    doc_id = _from_other_province(axis, world, pki_material)
    t0 = clock.now
    worker.run_once()

    held = _held(client, world)
    assert [(h["axis_doc_id"], h["from"], h["sub_indication"], h["attempts"]) for h in held] == [
        (doc_id, world.OTHER_PROVINCE, "TRY_LATER", 0)
    ]
    assert held[0]["report"]["checks"]["revocation"] == "indeterminate"
    assert held[0]["next_attempt_at"] == (t0 + timedelta(minutes=1)).isoformat().replace(
        "+00:00", "Z"
    )
    assert _gauge(client) == 1.0
    bogus = client.get(
        "/api/v1/audit/signatures", params={"state": "waiting"}, headers=world.auth("auditor")
    )
    assert bogus.status_code == 422
    assert (
        client.get(
            "/api/v1/audit/signatures", params={"state": "held"}, headers=world.auth("system")
        ).status_code
        == 403
    )
    # Not delivered, not answered: the axis still lists it for the hub, nothing went back.
    assert _inbox(client, world) == []
    assert [i.doc_id for i in connector(axis, HUB).get_received_list("edoc")] == [doc_id]
    assert connector(axis, OTHER).get_received_list("status") == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        assert s.get(AxisReceipt, doc_id).outcome == "held"

    # Backoff: nothing before the minute; a poll that lists it again changes nothing. (The
    # worker looks for due held documents every HOLD_CHECK = 5 s of its clock.)
    clock.advance(seconds=59)
    worker._last_poll = 0.0
    worker.run_once()
    assert _held(client, world)[0]["attempts"] == 0
    assert [i.doc_id for i in connector(axis, HUB).get_received_list("edoc")] == [doc_id]
    clock.advance(seconds=6)  # t0 + 65 s (the worker looks every 5 s): still TRY_LATER
    worker.run_once()
    after_first = _held(client, world)[0]
    assert after_first["attempts"] == 1
    assert after_first["next_attempt_at"] == (clock.now + timedelta(minutes=2)).isoformat().replace(
        "+00:00", "Z"
    )
    clock.advance(seconds=119)
    worker.run_once()
    assert _held(client, world)[0]["attempts"] == 1
    clock.advance(seconds=6)  # the second: doubled to 4 min next
    worker.run_once()
    second = _held(client, world)[0]
    assert second["attempts"] == 2
    assert second["next_attempt_at"] == (clock.now + timedelta(minutes=4)).isoformat().replace(
        "+00:00", "Z"
    )
    assert _inbox(client, world) == [] and _received(sessions, world.OWN) == 0

    _fix_trust(app, sessions)  # a fresh CRL: the same re-validation now passes
    clock.advance(minutes=4)
    worker.run_once()
    assert _held(client, world) == [] and _gauge(client) == 0.0
    items = _inbox(client, world)
    assert [(i["from"], i["message_type"]) for i in items] == [(world.OTHER_PROVINCE, "document")]
    doc = client.get(f"{DOCS}/{items[0]['document']}", headers=world.auth("auditor")).json()
    assert doc["signature"]["indication"] == "TOTAL_PASSED" and doc["to"] == [world.OWN]
    trace = client.get(f"{DOCS}/{doc['id']}/trace", headers=world.auth("auditor")).json()
    assert "received_from_axis" in [e["event"] for e in trace["items"]]
    assert _received(sessions, world.OWN) == 1  # counted when it was delivered
    # Acknowledged on the axis only now.
    assert connector(axis, HUB).get_received_list("edoc") == []
    with sessions() as s:
        row = s.scalars(select(HeldDocument)).one()
        assert (row.state, row.document, row.attempts) == ("released", doc["id"], 3)
        assert s.get(AxisReceipt, doc_id).outcome == "delivered"
    assert _actions(sessions, "document.h") == [
        "document.held",
        "document.hold_revalidated",
        "document.hold_revalidated",
        "document.hold_released",
    ]
    # Nothing more happens at later rounds.
    clock.advance(hours=2)
    worker._last_poll = 0.0
    worker.run_once()
    assert len(_inbox(client, world)) == 1


def test_held_past_hold_max_age_is_quarantined_and_answered_02(
    client, world: World, app, sessions, axis: str, pki_material, stale_crl, clock: Clock
) -> None:
    worker = _worker(app, axis, clock)
    doc_id = _from_other_province(axis, world, pki_material)
    worker.run_once()
    assert len(_held(client, world)) == 1
    # Re-validated all day long, never answered meanwhile.
    for _ in range(30):
        clock.advance(hours=1)
        if clock.now - _held_since(sessions) >= timedelta(seconds=86400):
            break
        worker.run_once()
        assert connector(axis, OTHER).get_received_list("status") == []
        assert len(_held(client, world)) == 1
    attempts = _held(client, world)[0]["attempts"]
    assert attempts >= 20  # backoff capped at one hour
    worker.run_once()  # the first re-validation past HOLD_MAX_AGE
    worker.run_once()  # the 02 goes out through the outbox
    assert _held(client, world) == []
    assert _inbox(client, world) == []
    quarantined = client.get(
        "/api/v1/audit/signatures",
        params={"indication": "INDETERMINATE"},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert [(q["from"], q["sub_indication"]) for q in quarantined] == [
        (world.OTHER_PROVINCE, "TRY_LATER")
    ]
    back = connector(axis, OTHER).get_received_list("status")
    assert len(back) == 1
    status = parse_message(connector(axis, OTHER).get_edoc(back[0].doc_id), max_bytes=10**6).status
    assert status is not None and status.status_code == "02" and status.from_.organ_id == world.OWN
    assert connector(axis, HUB).get_received_list("edoc") == []  # acknowledged now
    with sessions() as s:
        row = s.scalars(select(HeldDocument)).one()
        assert row.state == "quarantined" and row.document == quarantined[0]["document"]
        assert s.get(AxisReceipt, doc_id).outcome == "quarantined"
        assert s.scalars(select(Delivery.state).where(Delivery.kind == "document")).all() == [
            "rejected"
        ]
    assert "document.hold_quarantined" in _actions(sessions, "document.hold_")


def _held_since(sessions: Any) -> datetime:
    with sessions() as s:
        since: datetime = s.scalars(select(HeldDocument.held_since)).one()
        return since


def test_two_workers_never_revalidate_one_held_document(
    client, world: World, app, sessions, axis: str, pki_material, stale_crl, clock: Clock
) -> None:
    first, second = _worker(app, axis, clock, "w1"), _worker(app, axis, clock, "w2")
    _from_other_province(axis, world, pki_material)
    first.run_once()
    clock.advance(minutes=2)
    lease = app.state.hub.settings.worker_lease_seconds
    with unit_of_work(sessions) as s:
        mine = hold.claim(s, "w1", now=clock.now, limit=10, lease_seconds=lease)
    with unit_of_work(sessions) as s:
        assert hold.claim(s, "w2", now=clock.now, limit=10, lease_seconds=lease).ids == ()
    assert len(mine.ids) == 1
    assert second.revalidate_held() == 0  # w2's own round: nothing while w1 holds the lease
    # w1 stalls past its lease: w2 takes the document over; w1's late attempt keeps nothing.
    clock.advance(seconds=lease + 1)
    with unit_of_work(sessions) as s:
        theirs = hold.claim(s, "w2", now=clock.now, limit=10, lease_seconds=lease)
    assert theirs.ids == mine.ids and theirs.token != mine.token
    hub, axis_w1 = app.state.hub, first.axis
    assert axis_w1 is not None
    late = revalidate_claimed(hub, sessions, axis_w1, mine.ids[0], lease=mine, now=clock.now)
    assert late is None
    assert _actions(sessions, "document.hold_revalidated") == []
    on_time = revalidate_claimed(hub, sessions, axis_w1, mine.ids[0], lease=theirs, now=clock.now)
    assert on_time == "held"
    with sessions() as s:
        row = s.scalars(select(HeldDocument)).one()
        assert (row.attempts, row.claimed_by, row.lease_until) == (1, None, None)
    assert _actions(sessions, "document.hold_revalidated") == ["document.hold_revalidated"]
    with sessions() as s:
        actor = s.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "document.hold_revalidated")
        ).one()
    assert actor == "worker:w2"


def test_try_later_over_the_api_is_503_with_retry_after_and_nothing_stored(
    client, world: World, sessions, pki_material: PkiMaterial, stale_crl
) -> None:
    root = build_document_tree(
        EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2])).with_document_id()
    )
    sign_tree(root, signer_for(pki_material, world.OWN))
    r = client.post(
        DOCS,
        content=serialize(root),
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "60"
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "signature.try_later"
    assert body["validation"]["sub_indication"] == "TRY_LATER"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
    assert _actions(sessions, "document.refused") == ["document.refused"]
    # A document the hub signs itself is not refused (its own CRL is the worker's to refresh).
    made = client.post(
        DOCS, json=document_json(world.OWN, [world.OWN2]), headers=world.auth("system")
    )
    assert made.status_code == 202, made.text
    # A status message signed by its reporter, over the API: 503 the same way, nothing stored.
    msg = EdxmlStatus.model_validate(
        {
            "from": {"organ_id": world.OWN2},
            "response_for": {"organ_id": world.OWN, "document_id": made.json()["document_id"]},
            "status_code": "03",
            "description": "Đã tiếp nhận",
            "timestamp": "2026-11-26T10:00:00",
        }
    )
    status_root = build_status_tree(msg)
    sign_tree(status_root, signer_for(pki_material, world.OWN2))
    r = client.post(
        f"{DOCS}/{made.json()['id']}/statuses",
        content=serialize(status_root),
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "signature.try_later" and r.headers["retry-after"] == "60"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusMessage)) == 0


def test_workers_racing_revalidate_each_held_document_once(
    client, world: World, app, sessions, axis: str, pki_material, stale_crl, clock: Clock
) -> None:
    import threading

    workers = [_worker(app, axis, clock, f"w{i}") for i in range(3)]
    for _ in range(5):
        _from_other_province(axis, world, pki_material)
    workers[0].run_once()
    assert len(_held(client, world)) == 5
    clock.advance(minutes=2)
    start = threading.Barrier(len(workers))
    counts: list[int] = []

    def race(w: Worker) -> None:
        start.wait()
        counts.append(w.revalidate_held())

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(counts) == 5
    assert sorted(h["attempts"] for h in _held(client, world)) == [1] * 5
    assert len(_actions(sessions, "document.hold_revalidated")) == 5
