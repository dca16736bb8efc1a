"""Random sequences of interchange events; after every step each counter equals a recount.

Each example starts from an empty interchange (the directory, clients and keys stay), so that a
failure shrinks to a short, replayable sequence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete

from app.core.db import unit_of_work
from app.delivery import outbox
from app.models import Base
from tests.conftest import settled
from tests.stats.conftest import Driver, column_total, mismatches

INTERCHANGE_TABLES = {
    "trace_events",
    "validation_reports",
    "deliveries",
    "status_messages",
    "documents",
    "axis_receipts",
    "idempotency_keys",
    "stats_daily",
    "stats_monthly",
}
PICK = st.integers(min_value=0, max_value=10_000)
# 2025-12-31 16:00 UTC is 23:00 local: moves land on both sides of a local midnight and a year.
EDGE = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


class InterchangeMachine(RuleBasedStateMachine):
    def __init__(self, driver: Driver, seen: dict[str, int]) -> None:
        super().__init__()
        self.d = driver
        self.seen = seen
        w = driver.world
        self.senders = [w.OWN, w.OWN2, w.FOREIGN, w.PROVINCE]
        self.recipients = [*self.senders, w.EXTERNAL]
        self.docs: list[dict[str, Any]] = []
        self.revoked: set[str] = set()
        self.steps = 0

    @initialize()
    def start(self) -> None:
        with settled(self.d.sessions) as s:  # no fold of an earlier example's deltas pending
            conn = s.connection()
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in INTERCHANGE_TABLES:
                    conn.execute(delete(table))
            s.commit()
        self.docs = []

    @rule(
        sender=st.sampled_from(range(4)),
        to=st.sets(st.sampled_from(range(5)), min_size=1, max_size=3),
    )
    def submit(self, sender: int, to: set[int]) -> None:
        organ = self.senders[sender]
        recipients = [self.recipients[i] for i in sorted(to) if self.recipients[i] != organ]
        if recipients:
            self.docs.append(self.d.submit(organ, recipients))

    @rule(
        sender=st.sampled_from(["000.00.00.G22", "000.00.00.H42"]),
        to=st.sets(st.sampled_from(range(4)), min_size=1, max_size=2),
    )
    def from_axis(self, sender: str, to: set[int]) -> None:
        assert self.d.from_axis(sender, [self.senders[i] for i in sorted(to)]) == "delivered"

    @precondition(lambda self: self.docs)
    @rule(organ=st.sampled_from(range(4)), pick=PICK, done=st.booleans())
    def ack(self, organ: int, pick: int, done: bool) -> None:
        who = self.senders[organ]
        items = self.d.inbox(who)
        if items:
            r = self.d.ack(who, items[pick % len(items)]["id"], "done" if done else "fail")
            assert r.status_code == 200, r.text

    @precondition(lambda self: self.docs)
    @rule(pick=PICK, code=st.sampled_from(["02", "03", "04", "05", "06", "13", "15"]))
    def status(self, pick: int, code: str) -> None:
        doc = self.docs[pick % len(self.docs)]
        if code == "13":
            organ = doc["from"]
        else:
            local = [o for o in doc["to"] if o in self.d.auth]
            if not local:
                return
            organ = local[pick % len(local)]
        r = self.d.status(doc["id"], organ, code)
        assert r.status_code in (202, 409), r.text  # a refused transition changes nothing

    @precondition(lambda self: self.docs)
    @rule(
        pick=PICK,
        outcome=st.sampled_from(["sending", "retrying", "delivered", "dead"]),
        stamp=st.booleans(),
    )
    def worker(self, pick: int, outcome: str, stamp: bool) -> None:
        moving = [
            d
            for d in self.d.deliveries()
            if d.mode != "pull" and d.state in ("queued", "sending", "retrying")
        ]
        if not moving:
            return
        d = moving[pick % len(moving)]
        values: dict[str, Any] = {"state": outcome, "updated_at": datetime.now(UTC)}
        if outcome == "delivered" and stamp:
            values["available_at"] = datetime.now(UTC) + timedelta(minutes=pick % 600)
        self.d.set_delivery(d.id, **values)

    @rule(pick=PICK)
    def redrive(self, pick: int) -> None:
        dead = self.d.deliveries(state="dead")
        if dead:
            with unit_of_work(self.d.sessions) as s:
                outbox.redrive(s, dead[pick % len(dead)].id, actor="test")

    @precondition(lambda self: self.docs)
    @rule(pick=PICK)
    def revoke(self, pick: int) -> None:
        doc = self.docs[pick % len(self.docs)]
        if doc["business_type"] == 0 and doc["id"] not in self.revoked:
            self.revoked.add(doc["id"])
            self.d.revoke(doc["from"], doc)

    @precondition(lambda self: self.docs)
    @rule(pick=PICK, minutes=st.integers(min_value=-90, max_value=90))
    def move_in_time(self, pick: int, minutes: int) -> None:
        """Re-date a document around a local midnight that is also a new year."""
        doc = self.docs[pick % len(self.docs)]
        self.d.set_document(doc["id"], accepted_at=EDGE + timedelta(minutes=minutes))

    @precondition(lambda self: self.docs)
    @rule(
        pick=PICK,
        indication=st.sampled_from(["TOTAL_PASSED", "INDETERMINATE", "TOTAL_FAILED"]),
        quarantined=st.booleans(),
    )
    def new_verdict(self, pick: int, indication: str, quarantined: bool) -> None:
        """A re-validation with another verdict, or a quarantine decided afterwards."""
        doc = self.docs[pick % len(self.docs)]
        self.d.set_document(doc["id"], indication=indication, quarantined=quarantined)

    @invariant()
    def counters_equal_a_recount(self) -> None:
        assert mismatches(self.d.sessions) == []
        for column in self.seen:
            self.seen[column] = max(self.seen[column], column_total(self.d.sessions, column))


def test_counters_always_equal_a_recount(driver: Driver) -> None:
    seen = {"sent": 0, "received": 0, "central_sent": 0}
    run_state_machine_as_test(
        # hypothesis annotates a class but accepts (and documents) any zero-argument factory
        lambda: InterchangeMachine(driver, seen),  # type: ignore[arg-type]
        settings=settings(max_examples=12, stateful_step_count=10, deadline=None),
    )
    # The runs did exercise the flow: a vacuous pass would have counted nothing.
    assert all(seen.values()), seen
