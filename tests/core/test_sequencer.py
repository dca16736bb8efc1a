"""Settling is off the committer's path: the engine's settler thread links what was committed,
and a burst of committers never drains the pool."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.core import sequencer
from app.core.db import make_sessionmaker
from app.hooks import install_session_hooks


def test_committers_never_wait_for_a_second_connection(database_url: str) -> None:
    """More committers than pooled connections, each leaving work for the sequencer.

    Once, each committer settled on a second connection while still holding its own, so
    with every pooled connection taken by a committer all of them waited for the pool; now
    the settler thread takes one of the pool's connections while committers hold the rest."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite links the chain in the writing transaction (nothing deferred)")
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, pool_size=2, max_overflow=0, pool_timeout=20)
    sessions = install_session_hooks(make_sessionmaker(engine))
    start = threading.Barrier(8)

    def commit(n: int) -> None:
        with sessions() as s:
            start.wait(timeout=30)
            audit.record(s, actor="test", action="test.burst", target_type="t", target_id=str(n))
            s.commit()

    try:
        with ThreadPoolExecutor(8) as pool:
            for f in [pool.submit(commit, n) for n in range(8)]:
                f.result(timeout=60)  # a pool timeout (the old deadlock) raises here
        # Whatever the settler has not linked yet, verify links first (it waits for the lock).
        with sessions() as s:
            verdict = audit.verify(s)
            assert verdict.ok and verdict.entries == 8, verdict
            assert s.scalar(select(func.count()).select_from(AuditEntry)) == 8
    finally:
        sequencer.stop(engine)
        engine.dispose()


def _wait_for(condition: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    """Poll until `condition` holds (the settler runs on its own thread), failing at a deadline."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"{what} within {deadline:.0f} s"
        time.sleep(0.02)


def _chain(engine: Engine) -> tuple[int, int]:
    """(linked entries, pending entries), read without settling."""
    with engine.connect() as conn:
        linked = conn.scalar(select(func.count()).select_from(AuditEntry))
        pending = conn.execute(text("SELECT count(*) FROM audit_pending")).scalar_one()
    return int(linked or 0), int(pending)


@pytest.fixture
def pg_engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite links the chain in the writing transaction (nothing deferred)")
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    sequencer.in_background(engine)  # as the API's engine (create_app)
    yield engine
    sequencer.stop(engine)
    engine.dispose()


def _record(sessions: sessionmaker[Session], n: int) -> None:
    with sessions() as s:
        audit.record(s, actor="test", action="test.settler", target_type="t", target_id=str(n))
        s.commit()


def test_the_committer_does_not_settle_the_settler_thread_does(pg_engine: Engine) -> None:
    """The committing thread checks out its one connection; what it committed is linked by
    the engine's settler thread, with no reader settling, and `stop` ends that thread."""
    sessions = install_session_hooks(make_sessionmaker(pg_engine))
    committer = threading.get_ident()
    checkouts: list[str] = []

    @event.listens_for(pg_engine, "checkout")
    def _checkout(*_: Any) -> None:
        checkouts.append("committer" if threading.get_ident() == committer else "other")

    for n in range(3):
        _record(sessions, n)
    assert checkouts.count("committer") == 3  # one per transaction, none to settle
    _wait_for(lambda: _chain(pg_engine) == (3, 0), "the settler linked the 3 entries")
    assert "other" in checkouts  # linked on a connection of another thread
    settlers = [t for t in threading.enumerate() if t.name == sequencer.THREAD_NAME]
    assert settlers
    sequencer.stop(pg_engine)
    assert not any(t.is_alive() for t in settlers)
    _record(sessions, 3)  # stopped: the committer settles, as a worker or a command does
    assert _chain(pg_engine) == (4, 0)
    with sessions() as s:
        verdict = audit.verify(s)
    assert verdict.ok and verdict.entries == 4, verdict


def test_a_failed_settle_is_logged_and_retried(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refusing a settle (as when it is down) neither kills the settler nor
    makes it spin: it logs, and a later attempt links what was left."""
    failures = [0]
    original = sequencer._settle_on

    def flaky(conn: Any, wait: bool) -> bool:
        if failures[0] < 2:
            failures[0] += 1
            raise OperationalError("SELECT pg_advisory_xact_lock", {}, Exception("down"))
        return original(conn, wait)

    monkeypatch.setattr(sequencer, "_settle_on", flaky)
    monkeypatch.setattr(sequencer, "RETRY_SECONDS", (0.05, 0.1))
    sessions = install_session_hooks(make_sessionmaker(pg_engine))
    with caplog.at_level(logging.ERROR, logger="app.sequencer"):
        _record(sessions, 1)  # nothing else commits: only the retry can link it
        _wait_for(lambda: _chain(pg_engine) == (1, 0), "a retry linked the entry")
    assert failures[0] == 2
    assert sum("settling the audit chain" in r.message for r in caplog.records) == 2


def test_rounds_are_coalesced_and_stop_does_not_wait_for_the_pause(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settler starts a round at most every INTERVAL_SECONDS: what commits meanwhile waits
    for the next round, which takes it all at once; `stop` ends the pause with a final round."""
    monkeypatch.setattr(sequencer, "INTERVAL_SECONDS", 120.0)
    rounds = [0]
    original = sequencer._settle_logged

    def counted(engine: Engine) -> bool:
        rounds[0] += 1
        return original(engine)

    monkeypatch.setattr(sequencer, "_settle_logged", counted)
    sessions = install_session_hooks(make_sessionmaker(pg_engine))
    _record(sessions, 0)  # the first round starts at once
    _wait_for(lambda: _chain(pg_engine) == (1, 0), "the first round linked the entry")
    for n in range(1, 4):
        _record(sessions, n)  # within the interval: left for the next round
    assert _chain(pg_engine) == (1, 3)
    sequencer.stop(pg_engine, timeout=60)  # had it waited out the 120 s pause: (1, 3)
    assert _chain(pg_engine) == (4, 0)
    assert rounds[0] == 2  # one round for the three entries of the interval
