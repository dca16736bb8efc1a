"""A committer settles only after its connection went back: a burst never drains the pool."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, func, select

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.core.db import make_sessionmaker
from app.hooks import install_session_hooks


def test_committers_never_wait_for_a_second_connection(database_url: str) -> None:
    """More committers than pooled connections, each leaving work for the sequencer.

    Before, each committer settled on a second connection while still holding its own, so
    with every pooled connection taken by a committer all of them waited for the pool."""
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
        # A committer that finds the lock taken leaves its entries to the next settle (the
        # worker's round, any commit, or a reader such as verify, which waits for the lock).
        with sessions() as s:
            verdict = audit.verify(s)
            assert verdict.ok and verdict.entries == 8, verdict
            assert s.scalar(select(func.count()).select_from(AuditEntry)) == 8
    finally:
        engine.dispose()
