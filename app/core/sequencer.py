"""One sequencer for work that many transactions hand over instead of locking a shared row.

On PostgreSQL, a transaction that appends to the audit chain or changes the statistics
counters does not lock the chain's head or the counter rows (every submission would wait for
the previous one's COMMIT, fsync included, on the same rows). It writes its entries and
counter deltas to append-only tables, in its own transaction, so they commit or roll back with
its data; `settle` then takes one advisory lock and moves everything pending into place in one
short transaction (`audit.link_pending`, `stats.fold_deltas`, registered with `register`).
Whoever holds the lock settles what every committed transaction left, so one settle (and its
fsync) covers many requests.

Settling is off the request's path: in the API process (`in_background(engine)`), the end of
a committed transaction that left work wakes the settler of its engine, one background thread
per engine and process, which settles on a
connection of its own, everything committed since its last round at once, and starts a round
at most every `INTERVAL_SECONDS` (under load one round covers every request of that interval,
rather than a round of ~8 statements and a COMMIT per few requests); it ends after
`IDLE_SECONDS` without work (the next commit starts another) and holds the engine only while
it runs. A failed settle (database down) is logged and retried with a backoff, never in a
tight loop; what stays pending meanwhile, or what a crashed process left, is settled by the
next settle anywhere (any settler, each worker round) and always before it is read (`audit
verify` and the audit list wait for the lock; `stats check` counts the pending deltas in its
snapshot; the reports wait for the lock). `stop(engine)` ends the thread after a final settle
(the API's shutdown, before the engine is disposed; `stop_all` at the process's exit).

Other engines (the worker process, which settles each round anyway; CLI commands, which exit
right after their commit) settle on the committing thread after each such commit, without
waiting for the lock, and a session bound to one connection (the tests' rolled-back
transactions) on that connection: nothing else can see its rows. That settle waits for no
pool connection while the committer holds one: it runs only once the committer's
connection is back (at the end of its transaction, not at `after_commit`); holding it while
asking for a second one, a burst of committers as large as the pool waited for the pool until
its timeout (`tests/core/test_sequencer.py`).

On SQLite (one writer at a time anyway) nothing is deferred: the entries are linked and the
counters upserted in the writing transaction, as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

log = logging.getLogger("app.sequencer")

#: pg_advisory_xact_lock key of the sequencer ("lien").
LOCK_KEY = 0x6C69656E
_PENDING = "lienthong.sequencer.pending"
_COMMITTED = "lienthong.sequencer.committed"
_HOOKED = "lienthong.sequencer.hooked"
_folds: list[Callable[[Connection], object]] = []


def deferred(session: Session) -> bool:
    """True where appends are left to the sequencer (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


def register(fold: Callable[[Connection], object]) -> None:
    """A step of `settle`, run under the lock on its connection (idempotent)."""
    if fold not in _folds:
        _folds.append(fold)


def mark(session: Session) -> None:
    """This session's transaction left work for the sequencer: settle after its COMMIT."""
    session.info[_PENDING] = True


def settle(engine: Engine, *, wait: bool = True) -> bool:
    """Move everything committed and pending into place (PostgreSQL; a no-op elsewhere).

    `wait=False` gives up at once when another process is settling (it takes what this one
    left, or the next settle does): committers and workers never queue behind each other.
    Returns whether it settled."""
    if engine.dialect.name != "postgresql":
        return True
    with engine.begin() as conn:
        return _settle_on(conn, wait)


def _settle_on(conn: Connection, wait: bool) -> bool:
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    elif not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}).scalar():
        return False
    for fold in _folds:
        fold(conn)
    return True


def settle_for(session: Session, *, wait: bool = True) -> bool:
    """`settle` on the session's database (before reading what the sequencer writes: wait).

    A session bound to one connection (a CLI command's transaction, the tests' rolled-back
    transactions) settles on that connection, inside a SAVEPOINT: it sees its own rows."""
    bind = session.get_bind()
    if not isinstance(bind, Connection):
        return settle(bind, wait=wait)
    if bind.dialect.name != "postgresql":
        return True
    with bind.begin_nested():
        return _settle_on(bind, wait)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the transaction's own COMMIT is still to come
    if session.info.pop(_PENDING, False):
        session.info[_COMMITTED] = True  # settled once the connection is released


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or not session.info.pop(_COMMITTED, False):
        return
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind in _background:
        _wake(bind)  # the request goes on; the engine's settler links and folds meanwhile
        return
    try:  # a worker's or a command's engine, or one connection (a rolled-back test): here
        settle_for(session, wait=False)
    except Exception:  # committed already: the next settle takes what is left
        log.exception("settling the audit chain and the counters failed; will retry")


class _Settler:
    """The state of one engine's settler thread (never the engine itself: see `_settlers`)."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stop = threading.Event()  # set by `stop`: a pause between rounds ends at once
        self.thread: threading.Thread | None = None
        self.stopping = False


#: Engines whose commits wake a settler thread (`in_background`); the others settle after each
#: commit on the committing thread, as a worker process (it settles each round anyway) or a
#: command that exits right after its commit.
_background: weakref.WeakSet[Engine] = weakref.WeakSet()
#: One settler per engine and process. Weak keys: an engine nobody else holds goes away; the
#: thread holds it only while it runs (its argument) and ends after `IDLE_SECONDS` idle.
_settlers: weakref.WeakKeyDictionary[Engine, _Settler] = weakref.WeakKeyDictionary()
_guard = threading.Lock()

THREAD_NAME = "lienthong-sequencer"
IDLE_SECONDS = 5.0
"""A settler that was not woken for this long ends; the next commit starts another."""
RETRY_SECONDS = (1.0, 30.0)
"""After a failed settle (database down), retry after 1 s, doubling up to 30 s."""
INTERVAL_SECONDS = 0.2
"""A settler starts a round at most this often: what commits meanwhile waits for the next
round (nothing reads the chain or the counters without settling first, so only the moment
they are folded moves, by at most this much). `stop` does not wait for it. Under the closed
loop of `bench/throughput.py` the settler took 7.6 % of the API's GIL samples at 0.05 s and
2.8 % at 0.2 s."""


def in_background(engine: Engine) -> None:
    """Settle this engine's commits on a settler thread, off the committer's path (the API:
    a request does not wait for the settle's COMMIT). `stop` before disposing of it."""
    if engine.dialect.name == "postgresql":
        _background.add(engine)


def _wake(engine: Engine) -> None:
    """Something committed left work: wake this engine's settler, starting it if needed."""
    with _guard:
        settler = _settlers.get(engine)
        if settler is None:
            settler = _settlers[engine] = _Settler()
        settler.wake.set()
        if settler.thread is not None:
            return
        thread = threading.Thread(
            target=_run, args=(engine, settler), name=THREAD_NAME, daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: no new threads, settle here
            started = False
        else:
            started = True
            settler.thread = thread
    if not started:
        _settle_logged(engine)


def _settle_logged(engine: Engine) -> bool:
    try:
        settle(engine, wait=True)
    except Exception:  # committed already: what is pending stays for the next settle
        log.exception("settling the audit chain and the counters failed; will retry")
        return False
    return True


def _run(engine: Engine, settler: _Settler) -> None:
    """Settle whenever woken, everything committed since the last round at once; end when
    idle or stopped (a final settle first), retry with backoff while settling fails."""
    retry: float | None = None  # seconds until the next attempt after a failure
    started = -INTERVAL_SECONDS  # when the last round began (time.monotonic)
    while True:
        woken = settler.wake.wait(retry if retry is not None else IDLE_SECONDS)
        with _guard:
            if not woken and retry is None and not settler.wake.is_set():
                settler.thread = None  # idle: the next `_wake` starts another thread
                return
            stopping = settler.stopping
        pause = started + INTERVAL_SECONDS - time.monotonic()
        if pause > 0 and not stopping:
            settler.stop.wait(pause)  # coalesce: one round for everything of the interval
        with _guard:
            settler.wake.clear()
            stopping = settler.stopping
        started = time.monotonic()
        if _settle_logged(engine):
            retry = None
        else:
            retry = RETRY_SECONDS[0] if retry is None else min(2 * retry, RETRY_SECONDS[1])
        if stopping:
            with _guard:
                settler.thread = None
            return


def stop(engine: Engine, *, timeout: float = 30.0) -> None:
    """End this engine's settler after a final settle, and wait for it (before the engine is
    disposed: a process's shutdown, a test's teardown); its commits settle on the committing
    thread from now on."""
    with _guard:
        _background.discard(engine)
        settler = _settlers.pop(engine, None)
        thread = settler.thread if settler is not None else None
        if settler is None or thread is None:
            return
        settler.stopping = True
        settler.stop.set()
        settler.wake.set()
    thread.join(timeout)
    if thread.is_alive():
        log.warning("the sequencer did not stop within %.0f s", timeout)


def stop_all(*, timeout: float = 30.0) -> None:
    """`stop` every settler of this process (at its exit: nothing left pending)."""
    with _guard:
        engines = list(_settlers)
    for engine in engines:
        stop(engine, timeout=timeout)


def _forget_after_fork() -> None:
    """A forked child has none of its parent's threads."""
    global _guard
    _guard = threading.Lock()
    _settlers.clear()


atexit.register(stop_all)
os.register_at_fork(after_in_child=_forget_after_fork)


def install(sessions: sessionmaker[Session]) -> None:
    """Settle after each COMMIT of this factory's sessions that left work (idempotent)."""
    if sessions.kw.get("info", {}).get(_HOOKED):
        return
    # The mark is not dropped on rollback: a SAVEPOINT's rollback fires `after_rollback` too,
    # while the work flushed before it still commits. A needless settle costs no fsync.
    event.listen(sessions, "after_commit", _after_commit)
    event.listen(sessions, "after_transaction_end", _after_transaction_end)
    sessions.configure(info=(sessions.kw.get("info") or {}) | {_HOOKED: True})
