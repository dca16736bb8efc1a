"""Rows written outside the unit of work (the submission's path: `app.core.db.insert_rows`,
and ORM bulk INSERTs) count exactly as the same rows flushed by the ORM would."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from app.core import sequencer
from app.core.db import insert_rows, unit_of_work
from app.core.ids import new_id
from app.core.timeutil import LOCAL_TZ
from app.delivery.models import Delivery
from app.documents.models import Document
from tests.stats.conftest import Driver, column_total, counters, mismatches


def _today() -> date:
    return datetime.now(LOCAL_TZ).date()


def _document(driver: Driver, now: datetime, **extra: Any) -> dict[str, Any]:
    w = driver.world
    return {
        "id": new_id(),
        "document_id": f"000.00.02.H39,2026/11/26,{new_id()}/BULK",
        "from_organ": w.OWN,
        "business_type": 0,
        "subject": "Văn bản ghi thẳng",
        "code": "9/BULK",
        "promulgation_date": None,
        "to_organs": [w.OWN2, w.EXTERNAL],
        "response_for": [],
        "attachments": [],
        "origin": "api",
        "submitted_by": None,
        "blob": "0" * 64,
        "size": 1,
        "signed_by_hub": False,
        "indication": "TOTAL_PASSED",
        "sub_indication": None,
        "signed_by": None,
        "quarantined": False,
        "pdf_indication": None,
        "pdf_signed": False,
        "accepted_at": now,
    } | extra


def _delivery(doc: dict[str, Any], organ: str, now: datetime, *, axis: bool) -> dict[str, Any]:
    return {
        "id": new_id(),
        "kind": "document",
        "document": doc["id"],
        "message_id": doc["id"],
        "organ_id": organ,
        "route": "vpcp" if axis else "local",
        "mode": "axis" if axis else "pull",
        "state": "queued" if axis else "available",
        "available_at": None if axis else now,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


class Statements:
    """SQL the test's own thread sends to the database (not the sequencer's)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name != sequencer.THREAD_NAME:
            self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)


def test_rows_inserted_outside_the_unit_of_work_count_as_flushed_ones(driver: Driver) -> None:
    w = driver.world
    now = datetime.now(UTC)
    engine = driver.sessions.kw["bind"]
    with Statements(engine) as sql, unit_of_work(driver.sessions) as s:
        doc = _document(driver, now)
        insert_rows(s, Document, [doc])
        insert_rows(
            s,
            Delivery,
            [_delivery(doc, w.OWN2, now, axis=False), _delivery(doc, w.EXTERNAL, now, axis=True)],
        )
        assert not s.identity_map  # nothing tracked
    # The document was counted from the rows written: its deliveries needed no SELECT of it.
    assert not [q for q in sql.seen if q.startswith("SELECT") and "documents" in q], sql.seen
    got = counters(driver.sessions)
    today = _today()
    assert got[(w.OWN, today)]["sent"] == 1
    assert got[(w.OWN, today)]["deliveries_sent"] == 2
    assert got[(w.OWN, today)]["central_sent"] == 1
    assert got[(w.OWN2, today)]["received"] == 1
    assert mismatches(driver.sessions) == []


def test_an_orm_bulk_insert_is_counted_with_its_column_defaults(driver: Driver) -> None:
    """`session.execute(insert(Model), rows)`: counted once it succeeded; what the rows leave
    out is counted as the INSERT writes it (defaults; a reached delivery is stamped)."""
    w = driver.world
    now = datetime.now(UTC)
    with unit_of_work(driver.sessions) as s:
        doc = _document(driver, now)
        for name in ("business_type", "quarantined", "signed_by_hub", "pdf_signed", "origin"):
            del doc[name]  # column defaults: 0, False, False, False, "api"
        s.execute(insert(Document), [doc])
        row = _delivery(doc, w.OWN2, now, axis=False)
        del row["id"], row["available_at"]  # filled: a new id, stamped when it reached
        s.execute(insert(Delivery), row)
    stored = driver.deliveries(document=doc["id"])
    assert len(stored) == 1 and stored[0].available_at is not None
    assert column_total(driver.sessions, "sent", w.OWN) == 1
    assert column_total(driver.sessions, "received", w.OWN2) == 1
    assert mismatches(driver.sessions) == []


def test_a_failed_insert_counts_nothing(driver: Driver) -> None:
    w = driver.world
    now = datetime.now(UTC)
    with unit_of_work(driver.sessions) as s:
        doc = _document(driver, now)
        first = _delivery(doc, w.OWN2, now, axis=False)
        insert_rows(s, Document, [doc])
        insert_rows(s, Delivery, [first])
        with pytest.raises(IntegrityError), s.begin_nested():
            # the same (message, recipient) again: refused by the unique constraint
            insert_rows(s, Delivery, [first | {"id": new_id()}])
    assert column_total(driver.sessions, "received", w.OWN2) == 1
    assert mismatches(driver.sessions) == []


def test_rows_without_a_counted_column_are_refused(driver: Driver) -> None:
    now = datetime.now(UTC)
    doc = _document(driver, now)
    del doc["indication"]
    with pytest.raises(ValueError, match="indication"), unit_of_work(driver.sessions) as s:
        insert_rows(s, Document, [doc])
    with driver.sessions() as s:
        assert s.scalar(select(Document.id).where(Document.id == doc["id"])) is None
    assert mismatches(driver.sessions) == []
