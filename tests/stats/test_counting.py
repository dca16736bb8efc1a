"""Each event of the document flow moves exactly the counters SPEC 9 names (both databases)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update

from app.core.db import unit_of_work
from app.core.ids import new_id
from app.core.timeutil import LOCAL_TZ, as_utc, utcnow
from app.delivery import outbox
from app.delivery.models import Delivery
from app.documents.models import Document
from app.stats.counters import LATENCY_COLUMNS, bucket_of
from tests.stats.conftest import Driver, column_total, counters, local_time, mismatches


def _day() -> date:
    return datetime.now(LOCAL_TZ).date()


def _without_latency(row: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in row.items() if k not in LATENCY_COLUMNS}


def test_local_pull_flow(driver: Driver) -> None:
    w = driver.world
    before = utcnow()
    doc = driver.submit(w.OWN, [w.OWN2, w.FOREIGN])
    answered = utcnow()
    today = _day()
    got = counters(driver.sessions)
    assert got[(w.OWN, today)] == {
        "sent": 1,
        "deliveries_sent": 2,
        "sent_signed": 1,
    }
    for organ in (w.OWN2, w.FOREIGN):
        row = got[(organ, today)]
        assert _without_latency(row) == {"received": 1, "received_valid": 1}
        # In the inbox within the accepting transaction (available before the 202 came back),
        # and the latency counted in the bucket of exactly that wait.
        with driver.sessions() as s:
            accepted = s.get_one(Document, doc["id"]).accepted_at
            available = s.scalars(
                select(Delivery.available_at).where(
                    Delivery.document == doc["id"], Delivery.organ_id == organ
                )
            ).one()
        assert available is not None
        assert before <= as_utc(accepted) <= as_utc(available) <= answered
        waited = (as_utc(available) - as_utc(accepted)).total_seconds()
        assert row[LATENCY_COLUMNS[bucket_of(waited)]] == 1

    item = driver.inbox(w.OWN2)[0]
    assert driver.ack(w.OWN2, item["id"]).status_code == 200
    assert driver.ack(w.OWN2, item["id"]).status_code == 200  # twice is harmless
    other = driver.inbox(w.FOREIGN)[0]
    assert driver.ack(w.FOREIGN, other["id"], "fail").status_code == 200
    assert driver.status(doc["id"], w.OWN2, "03").status_code == 202
    assert driver.status(doc["id"], w.OWN2, "01").status_code == 409  # refused: not counted
    got = counters(driver.sessions)
    assert _without_latency(got[(w.OWN2, today)]) == {
        "received": 1,
        "received_valid": 1,
        "status_01": 1,
        "status_03": 1,
    }
    assert got[(w.FOREIGN, today)]["received"] == 1  # rejected after it reached: still received
    assert mismatches(driver.sessions) == []


def test_axis_route_worker_moves_dead_and_redrive(driver: Driver) -> None:
    w = driver.world
    doc = driver.submit(w.OWN, [w.EXTERNAL, w.OWN2])
    today = _day()
    axis = next(d for d in driver.deliveries(document=doc["id"]) if d.route == "vpcp")
    assert axis.state == "queued" and axis.available_at is None
    got = counters(driver.sessions)
    assert got[(w.OWN, today)]["central_sent"] == 1
    assert (w.EXTERNAL, today) not in got

    driver.set_delivery(axis.id, state="sending")
    assert column_total(driver.sessions, "received", w.EXTERNAL) == 0
    # The worker settles with state and updated_at only: the listener stamps available_at.
    driver.set_delivery(axis.id, state="delivered", updated_at=datetime.now(UTC))
    got = counters(driver.sessions)
    assert got[(w.EXTERNAL, today)]["received"] == 1
    assert got[(w.EXTERNAL, today)]["central_received"] == 1
    assert got[(w.OWN2, today)].get("central_received", 0) == 0
    assert driver.deliveries(id=axis.id)[0].available_at is not None

    second = driver.submit(w.OWN, [w.EXTERNAL])
    dying = driver.deliveries(document=second["id"])[0]
    driver.set_delivery(dying.id, state="dead", last_error="axis answered FAIL")
    assert counters(driver.sessions)[(w.OWN, today)]["failed"] == 1
    assert mismatches(driver.sessions) == []
    with unit_of_work(driver.sessions) as s:
        outbox.redrive(s, dying.id, actor="test")
    assert counters(driver.sessions)[(w.OWN, today)].get("failed", 0) == 0
    driver.set_delivery(dying.id, state="delivered")
    assert column_total(driver.sessions, "received", w.EXTERNAL) == 2
    assert counters(driver.sessions)[(w.OWN, today)]["central_sent"] == 2
    assert mismatches(driver.sessions) == []


def test_documents_from_the_axis_and_quarantine(driver: Driver) -> None:
    w = driver.world
    assert driver.from_axis(w.EXTERNAL, [w.OWN, w.OWN2]) == "delivered"
    today = _day()
    got = counters(driver.sessions)
    assert got[(w.EXTERNAL, today)] == {
        "sent": 1,
        "deliveries_sent": 2,
        "sent_signed": 1,
        "sent_self_signed": 1,  # the axis carries the sender's own signature, never the hub's
        "central_sent": 1,
    }
    for organ in (w.OWN, w.OWN2):
        assert got[(organ, today)]["received"] == 1
        assert got[(organ, today)]["central_received"] == 1
    # A forgery (signed by another organization's key) is quarantined: no document exchanged,
    # but the recipient's 02 is a status it reported.
    pki = driver.pki
    driver.pki = type(pki)(pki.root, pki.issuing, pki.leaves | {w.EXTERNAL: pki.leaves[w.OWN]})
    assert driver.from_axis(w.EXTERNAL, [w.OWN]) == "quarantined"
    got = counters(driver.sessions)
    assert got[(w.EXTERNAL, today)]["sent"] == 1
    assert got[(w.OWN, today)]["received"] == 1
    assert got[(w.OWN, today)]["status_02"] == 1
    assert mismatches(driver.sessions) == []


def test_revoke_is_not_a_new_document_and_revalidation_moves_signed(driver: Driver) -> None:
    w = driver.world
    doc = driver.submit(w.OWN, [w.OWN2])
    driver.revoke(w.OWN, doc)
    today = _day()
    got = counters(driver.sessions)
    assert got[(w.OWN, today)]["sent"] == 1 and got[(w.OWN, today)]["deliveries_sent"] == 1
    assert got[(w.OWN2, today)]["received"] == 1  # the revoke message is not a document received

    driver.set_document(doc["id"], indication="INDETERMINATE")
    got = counters(driver.sessions)
    assert got[(w.OWN, today)].get("sent_signed", 0) == 0
    assert got[(w.OWN2, today)].get("received_valid", 0) == 0
    assert mismatches(driver.sessions) == []
    driver.set_document(doc["id"], indication="TOTAL_PASSED")
    assert counters(driver.sessions)[(w.OWN2, today)]["received_valid"] == 1
    driver.set_document(doc["id"], quarantined=True)
    got = counters(driver.sessions)
    assert (w.OWN, today) not in got and (w.OWN2, today) not in got  # every counter back to 0
    assert mismatches(driver.sessions) == []


def test_local_midnight_and_year_boundary(driver: Driver) -> None:
    w = driver.world
    r = driver.client
    late, early = driver.submit(w.OWN, [w.OWN2]), driver.submit(w.OWN, [w.OWN2])
    driver.place(late, local_time(2026, 11, 25, 23, 59))
    driver.place(early, local_time(2026, 11, 26, 0, 1), latency=90)
    # Both are 25 November in UTC; in Asia/Ho_Chi_Minh they are two days.
    assert local_time(2026, 11, 26, 0, 1).date() == date(2026, 11, 25)
    items = r.get(
        "/api/v1/stats/interchange",
        params={
            "since": "2026-11-25",
            "until": "2026-11-26",
            "granularity": "day",
            "organ_id": w.OWN,
        },
        headers=w.auth("reporter"),
    ).json()["items"]
    assert [(i["period"], i["sent"]) for i in items] == [("2026-11-25", 1), ("2026-11-26", 1)]
    recv = r.get(
        "/api/v1/stats/interchange",
        params={"since": "2026-11-25", "until": "2026-11-26", "granularity": "day"},
        headers=w.auth("reporter"),
    ).json()["items"]
    by = {(i["period"], i["organ_id"]): i for i in recv}
    assert by[("2026-11-26", w.OWN2)]["received"] == 1
    assert by[("2026-11-26", w.OWN2)]["median_delivery_seconds"] is not None
    assert 64 <= by[("2026-11-26", w.OWN2)]["median_delivery_seconds"] <= 128  # 90 s, ±sqrt(2)
    assert by[("2026-11-25", w.OWN2)]["median_delivery_seconds"] == 0.0  # under 10 ms

    old, new = driver.submit(w.OWN2, [w.OWN]), driver.submit(w.OWN2, [w.OWN])
    driver.place(old, local_time(2025, 12, 31, 23, 59))
    driver.place(new, local_time(2026, 1, 1, 0, 1))
    for granularity, expected in (
        ("year", [("2025", 1), ("2026", 1)]),
        ("quarter", [("2025-Q4", 1), ("2026-Q1", 1)]),
        ("month", [("2025-12", 1), ("2026-01", 1)]),
    ):
        items = r.get(
            "/api/v1/stats/interchange",
            params={
                "since": "2025-12-01",
                "until": "2026-01-31",
                "granularity": granularity,
                "organ_id": w.OWN2,
            },
            headers=w.auth("admin"),
        ).json()["items"]
        assert [(i["period"], i["sent"]) for i in items] == expected, granularity
    report = r.get("/api/v1/stats/report", params={"year": 2025}, headers=w.auth("reporter")).json()
    assert report["indicators"]["documents_exchanged"] == 1
    assert report["months"][11] == {
        "period": "2025-12",
        "sent": 1,
        "received": 1,
        "central": 0,
        "signed": 1,
        "self_signed": 0,  # the hub sealed it
        "pdf_signed": 0,
        "exchanged": 1,
    }
    assert mismatches(driver.sessions) == []


def test_savepoints_and_rollbacks_keep_counters_with_their_rows(driver: Driver) -> None:
    w = driver.world
    doc = driver.submit(w.OWN, [w.EXTERNAL])
    d_id = driver.deliveries(document=doc["id"])[0].id
    with unit_of_work(driver.sessions) as s:
        with s.begin_nested() as nested:
            s.get(Delivery, d_id).state = "dead"  # type: ignore[union-attr]
            s.flush()
            nested.rollback()
        s.expire_all()
        assert s.get(Delivery, d_id).state == "queued"  # type: ignore[union-attr]
    assert column_total(driver.sessions, "failed") == 0
    try:
        with unit_of_work(driver.sessions) as s:
            s.get(Delivery, d_id).state = "dead"  # type: ignore[union-attr]
            s.flush()
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    assert column_total(driver.sessions, "failed") == 0
    with unit_of_work(driver.sessions) as s, s.begin_nested():
        s.get(Delivery, d_id).state = "dead"  # type: ignore[union-attr]
    assert column_total(driver.sessions, "failed") == 1
    assert mismatches(driver.sessions) == []


def test_bulk_update_is_flagged_and_rebuild_repairs(driver: Driver, caplog: Any) -> None:
    from app.stats import listener
    from app.stats.recount import rebuild

    w = driver.world
    doc = driver.submit(w.OWN, [w.EXTERNAL])
    listener._warned.clear()  # said once per process; this test wants to hear it
    with caplog.at_level(logging.WARNING, logger="app.stats"), unit_of_work(driver.sessions) as s:
        s.execute(update(Delivery).where(Delivery.document == doc["id"]).values(state="dead"))
    assert any("not seen by the statistics" in r.getMessage() for r in caplog.records)
    today = _day()
    assert mismatches(driver.sessions) == [
        f"{w.OWN} {today.isoformat()} failed: stored 0, recount 1",
        f"{w.OWN} {today:%Y-%m} failed: stored 0, recount 1",
    ]
    with driver.sessions() as s:
        conn = s.connection()
        assert rebuild(conn) >= 1
        s.commit()
    assert mismatches(driver.sessions) == []
    assert column_total(driver.sessions, "failed", w.OWN) == 1


def test_counters_commit_with_the_document_or_not_at_all(driver: Driver) -> None:
    """A refused submission (duplicate) leaves no counter behind."""
    w = driver.world
    from tests.factories import document_json

    body = document_json(w.OWN, [w.OWN2])
    ok = driver.client.post("/api/v1/documents", json=body, headers=driver.auth[w.OWN])
    dup = driver.client.post("/api/v1/documents", json=body, headers=driver.auth[w.OWN])
    assert ok.status_code == 202 and dup.status_code == 409
    assert column_total(driver.sessions, "sent") == 1
    with driver.sessions() as s:
        assert len(list(s.scalars(select(Document.id)))) == 1
    assert mismatches(driver.sessions) == []


def test_orm_writes_in_one_flush_later_transactions_and_deletes(driver: Driver) -> None:
    """Rows made directly through the ORM (as the axis inbound code does) count the same."""
    w = driver.world
    now = datetime.now(UTC)
    with unit_of_work(driver.sessions) as s:
        doc = Document(
            id=new_id(),
            document_id="000.00.02.H39,2026/11/26,9/ORM",
            from_organ=w.OWN,
            subject="Văn bản tạo trực tiếp",
            code="9/ORM",
            to_organs=[w.OWN2, w.EXTERNAL],
            blob="0" * 64,
            size=1,
            indication="TOTAL_PASSED",
            accepted_at=now,
        )
        s.add(doc)
        s.flush()  # no relationship() orders the inserts: the document goes first
        s.add_all(
            [  # deliveries of a document born in this transaction: no query needed
                Delivery(
                    kind="document",
                    document=doc.id,
                    message_id=doc.id,
                    organ_id=w.OWN2,
                    route="local",
                    mode="pull",
                    state="available",
                    available_at=now,
                ),
                Delivery(
                    kind="document",
                    document=doc.id,
                    message_id=doc.id,
                    organ_id=w.EXTERNAL,
                    route="vpcp",
                    mode="axis",
                ),
            ]
        )
    today = _day()
    got = counters(driver.sessions)
    assert _without_latency(got[(w.OWN, today)]) == {
        "sent": 1,
        "deliveries_sent": 2,
        "sent_signed": 1,
        "sent_self_signed": 1,  # passing and not sealed by the hub (signed_by_hub is False)
        "central_sent": 1,
    }
    assert got[(w.OWN2, today)]["received"] == 1
    with unit_of_work(driver.sessions) as s:  # a later transaction: the document is not new
        s.add(
            Delivery(
                kind="document",
                document=doc.id,
                message_id=doc.id,
                organ_id=w.OTHER_PROVINCE,
                route="vpcp",
                mode="axis",
            )
        )
    got = counters(driver.sessions)
    assert got[(w.OWN, today)]["deliveries_sent"] == 3 and got[(w.OWN, today)]["central_sent"] == 1
    with unit_of_work(driver.sessions) as s:
        for d in s.scalars(select(Delivery).where(Delivery.route == "vpcp")):
            s.delete(d)
    got = counters(driver.sessions)
    assert got[(w.OWN, today)]["deliveries_sent"] == 1
    assert got[(w.OWN, today)].get("central_sent", 0) == 0  # no axis recipient left
    assert mismatches(driver.sessions) == []
