"""Leases on claimed rows: renewed while the work is in flight, fenced when it is settled.

A worker claims rows (deliveries, held documents, pending timestamps) in one short
transaction by writing its id, the claim's token and `lease_until`; another worker takes a
row over only once `lease_until` has passed. Two things keep one claim from being worked
twice, or its late outcome from being kept:

- `Keeper` renews the lease of every row of a claim that the worker has not settled yet,
  every lease/3 in a short transaction of its own, only where the row still carries this
  worker's id and the claim's token. A slow receiver or a starved machine therefore never
  lets the lease run out under a send that is still going, nor under the rows of a batch
  still waiting their turn. It stops renewing a row whose work has run past `work_limit`
  (a receiver that never answers does not hold a row forever: the lease lapses, another
  worker tries again, at-least-once) and a row it found taken over (`holds` says so, and the
  caller skips it).
- `fenced` reads a row for settlement (locked on PostgreSQL) only if it still carries the
  worker id and the token: the outcome of a worker whose lease was taken over is dropped.

The token is new for every claim, so a row claimed again later by the same worker does not
accept the outcome of its earlier claim.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import unit_of_work
from app.core.ids import new_id

log = logging.getLogger("app.leases")

T = TypeVar("T")


@dataclass(frozen=True)
class Lease:
    """What one claim took: the rows, for whom, and the token that fences their outcome."""

    worker_id: str
    token: str
    ids: tuple[str, ...]


def take(rows: Iterable[Any], worker_id: str, *, now: datetime, lease_seconds: float) -> Lease:
    """Lease claimed rows (`claimed_by`, `lease_token`, `lease_until`) to this worker."""
    token = new_id()
    until = now + timedelta(seconds=lease_seconds)
    ids = []
    for row in rows:
        row.claimed_by, row.lease_token, row.lease_until = worker_id, token, until
        ids.append(row.id)
    return Lease(worker_id, token, tuple(ids))


def fenced(session: Session, model: type[T], row_id: str, lease: Lease) -> T | None:
    """The row, if this claim still holds it (on PostgreSQL locked until the commit)."""
    cols: Any = model
    stmt = select(model).where(
        cols.id == row_id, cols.claimed_by == lease.worker_id, cols.lease_token == lease.token
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def let_go(row: Any) -> None:
    """The claim is settled: no lease any more (`claimed_by` stays, as who worked it last)."""
    row.lease_token, row.lease_until = None, None


def elapsed_from(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at `start` (the claim's `now`) and runs with real time."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


@dataclass
class Keeper:
    """Renews a claim's leases in a thread while its rows are worked (see the module)."""

    sessions: sessionmaker[Session]
    model: type[Any]
    lease: Lease
    lease_seconds: float
    clock: Callable[[], datetime]
    every: float | None = None
    work_limit: float | None = None
    renewals: int = 0
    _pending: set[str] = field(default_factory=set)
    _lost: set[str] = field(default_factory=set)
    _started: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._pending = set(self.lease.ids)

    def __enter__(self) -> Keeper:
        if self._pending:
            every = self.every if self.every is not None else self.lease_seconds / 3
            self._thread = threading.Thread(
                target=self._run, args=(every,), name="lease-keeper", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def holds(self, row_id: str) -> bool:
        """False once a renewal found the row taken over (or settled): do not work it."""
        with self._lock:
            return row_id in self._pending and row_id not in self._lost

    @contextmanager
    def working(self, row_id: str) -> Iterator[None]:
        """Around the work on one row: `work_limit` counts from here; afterwards (settled or
        not) the row is no longer renewed."""
        with self._lock:
            self._started[row_id] = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._pending.discard(row_id)

    def renew(self) -> None:
        """One renewal, in its own short transaction."""
        now = time.monotonic()
        with self._lock:
            ids = {
                i
                for i in self._pending - self._lost
                if self.work_limit is None or now - self._started.get(i, now) <= self.work_limit
            }
        if not ids:
            return
        m = self.model
        mine = (
            m.id.in_(ids),
            m.claimed_by == self.lease.worker_id,
            m.lease_token == self.lease.token,
        )
        until = self.clock() + timedelta(seconds=self.lease_seconds)
        with unit_of_work(self.sessions) as s:
            s.execute(
                update(m)
                .where(*mine)
                .values(lease_until=until)
                .execution_options(synchronize_session=False)
            )
            kept = set(s.scalars(select(m.id).where(*mine)))
        with self._lock:
            lost = (ids - kept) & self._pending
            self._lost |= lost
            self.renewals += 1
        for row_id in lost:
            log.info(
                "lease no longer held (taken over, or settled meanwhile)",
                extra={"table": m.__tablename__, "row": row_id, "worker_id": self.lease.worker_id},
            )

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.renew()
            except Exception:
                log.exception("lease renewal failed")
