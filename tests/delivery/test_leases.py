"""The lease of a delivery in flight (SPEC section 6: no two workers send one delivery at once).

A webhook receiver holds the first request open (`Receiver.gate`) while the test moves the
workers' clock far past the claim's lease: the sending worker renews it meanwhile, so a
second worker claims nothing, and the receiver gets one request. When the lease is taken over
anyway (its holder's renewals starved), the first worker's late outcome is dropped, never
written over the newer claim's. Time is the injected clock, never a sleep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core import leases
from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.delivery import outbox
from app.delivery.models import Delivery, TraceEvent
from app.worker import Worker
from tests.conftest import World
from tests.delivery.conftest import Clock, Receiver
from tests.delivery.test_worker import push_org
from tests.factories import document_json

WAIT = 30.0
"""The longest the test waits for another thread to reach a point (a bound, not a timing)."""


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _push_delivery(
    client: Any, world: World, receiver: Receiver, clock: Clock, documents: int = 1
) -> None:
    """Queued push deliveries (one per document), due on the workers' clock."""
    push_org(client, world, receiver)
    for i in range(documents):
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, ["000.00.05.H39"], number=f"{i + 1}/LEASE"),
            headers=world.auth("system"),
        )
        assert r.status_code == 202, r.text
    clock.now = utcnow()


def _row(sessions: Any) -> Delivery:
    with sessions() as s:
        row: Delivery = s.scalars(select(Delivery).where(Delivery.mode == "push")).one()
        s.expunge(row)
        return row


def _renewed_to(sessions: Any, until: datetime) -> Callable[[], bool]:
    return lambda: _row(sessions).lease_until == until


@contextmanager
def _sending(worker: Worker, receiver: Receiver) -> Iterator[threading.Thread]:
    """The worker's batch in a thread, its first send held open by the receiver until the
    block ends."""
    receiver.gate = threading.Event()
    thread = threading.Thread(target=worker.deliver_batch, daemon=True)
    thread.start()
    try:
        assert receiver.arrived.wait(WAIT), "the worker sent the delivery"
        yield thread
    finally:
        receiver.gate.set()
        thread.join(WAIT)
    assert not thread.is_alive()


def _worker(app: Any, clock: Clock, name: str, *, renew_every: float) -> Worker:
    return Worker(
        app.state.hub,
        app.state.sessionmaker,
        clock=clock,
        worker_id=name,
        renew_every=renew_every,
    )


def test_a_send_in_flight_keeps_its_lease_and_is_sent_once(
    client, world: World, app, sessions, receiver: Receiver, clock: Clock
) -> None:
    _push_delivery(client, world, receiver, clock)
    lease = app.state.hub.settings.worker_lease_seconds
    first = _worker(app, clock, "w1", renew_every=0.01)
    with _sending(first, receiver):
        claimed_until = _row(sessions).lease_until
        assert claimed_until == clock.now + timedelta(seconds=lease)
        # The receiver is slow: three lease-thirds pass, twice the lease in all, and the
        # sender renews the lease each time (in real time every lease/3).
        for _ in range(3):
            clock.advance(seconds=lease * 2 / 3)
            _until(_renewed_to(sessions, clock.now + timedelta(seconds=lease)), "a renewal")
        assert clock.now > claimed_until  # the claim's own lease has long run out
        with unit_of_work(sessions) as s:
            _, taken = outbox.claim(s, "w2", limit=10, lease_seconds=lease, now=clock.now)
        assert taken == [], "a second worker cannot claim a delivery whose send is in flight"
    assert len(receiver.received) == 1
    row = _row(sessions)
    assert (row.state, row.attempts, row.claimed_by) == ("delivered", 1, "w1")
    assert (row.lease_until, row.lease_token) == (None, None)
    assert receiver.received[0]["headers"]["webhook-id"] == row.id


def test_a_late_outcome_after_a_takeover_is_not_recorded(
    client, world: World, app, sessions, receiver: Receiver, clock: Clock, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="app.delivery")
    _push_delivery(client, world, receiver, clock)
    settings = app.state.hub.settings
    lease = settings.worker_lease_seconds
    # w1's renewals never come in time (a starved machine): its lease runs out mid-send.
    first = _worker(app, clock, "w1", renew_every=3600)
    with _sending(first, receiver):
        clock.advance(seconds=lease + 1)
        with unit_of_work(sessions) as s:
            second, taken = outbox.claim(s, "w2", limit=10, lease_seconds=lease, now=clock.now)
        assert [c.id for c in taken] == [_row(sessions).id]
        with unit_of_work(sessions) as s:
            state = outbox.fail(
                s,
                taken[0],
                second,
                "w2: receiver down",
                retryable=True,
                max_attempts=settings.max_attempts,
                max_age=settings.max_age,
            )
        assert state == "retrying"
    # w1's send then answered 2xx: its outcome comes after w2's and is dropped.
    assert len(receiver.received) == 1
    row = _row(sessions)
    assert (row.state, row.attempts, row.claimed_by) == ("retrying", 2, "w2")
    assert row.last_error == "w2: receiver down"
    with sessions() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == row.id))
        assert "delivery.delivered" not in list(actions)
        events = s.scalars(
            select(TraceEvent.event).where(TraceEvent.delivery == row.id).order_by(TraceEvent.id)
        )
        assert list(events) == ["document.queued", "document.retrying"]
    dropped = [r for r in caplog.records if r.getMessage().startswith("late delivery outcome")]
    assert [(r.delivery, r.outcome) for r in dropped] == [(row.id, "delivered")]


def test_the_same_worker_claiming_again_does_not_accept_its_earlier_claims_outcome(
    client, world: World, app, sessions, receiver: Receiver, clock: Clock
) -> None:
    """The token fences, not the worker id alone: a claim that lapsed and was claimed again
    by the same worker does not settle the newer claim."""
    _push_delivery(client, world, receiver, clock)
    lease = app.state.hub.settings.worker_lease_seconds
    with unit_of_work(sessions) as s:
        old, [stale] = outbox.claim(s, "w1", limit=10, lease_seconds=lease, now=clock.now)
    clock.advance(seconds=lease + 1)
    with unit_of_work(sessions) as s:
        new, [fresh] = outbox.claim(s, "w1", limit=10, lease_seconds=lease, now=clock.now)
    assert (old.worker_id, stale.id) == (new.worker_id, fresh.id) and old.token != new.token
    with unit_of_work(sessions) as s:
        assert outbox.succeed(s, stale, old, external_id="stale") is False
    assert (_row(sessions).state, _row(sessions).external_id) == ("sending", None)
    with unit_of_work(sessions) as s:
        assert outbox.succeed(s, fresh, new, external_id="fresh") is True
    assert (_row(sessions).state, _row(sessions).external_id) == ("delivered", "fresh")


def test_the_keeper_renews_only_what_its_claim_still_holds(
    client, world: World, app, sessions, receiver: Receiver, clock: Clock
) -> None:
    """A row of the batch taken over meanwhile is neither renewed nor worked any more."""
    _push_delivery(client, world, receiver, clock, documents=2)
    lease = app.state.hub.settings.worker_lease_seconds
    with unit_of_work(sessions) as s:
        mine, claimed = outbox.claim(s, "w1", limit=10, lease_seconds=lease, now=clock.now)
    kept, lost = (c.id for c in claimed)
    with unit_of_work(sessions) as s:
        taken = s.get(Delivery, lost)
        assert taken is not None
        taken.claimed_by, taken.lease_token = "w2", "their-token"
    keeper = leases.Keeper(sessions, Delivery, mine, lease, clock)
    clock.advance(seconds=lease / 2)
    keeper.renew()
    assert (keeper.holds(kept), keeper.holds(lost)) == (True, False)
    with sessions() as s:
        until = {d.id: d.lease_until for d in s.scalars(select(Delivery))}
    assert until[kept] == clock.now + timedelta(seconds=lease)
    assert until[lost] == clock.now - timedelta(seconds=lease / 2) + timedelta(seconds=lease)
    with keeper.working(kept):
        pass
    assert not keeper.holds(kept)  # settled: no longer renewed
