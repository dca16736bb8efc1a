"""One sequencer for work that many transactions hand over instead of locking a shared row.

On PostgreSQL, a transaction that appends to the audit chain or changes the statistics
counters does not lock the chain's head or the counter rows (every submission would wait for
the previous one's COMMIT, fsync included, on the same rows). It writes its entries and
counter deltas to append-only tables, in its own transaction, so they commit or roll back with
its data; after its COMMIT, `settle` tries one advisory lock and moves everything pending into place in
one short transaction (`audit.link_pending`, `stats.fold_deltas`, registered with
`register`). Whoever holds the lock settles what every committed transaction left, so under
load one settle covers many requests, and a committer that finds the lock taken goes on
without waiting; what is still pending (that case, or a crash) is settled by the next one
(any commit, each worker round) and always before it is read (`audit verify` and the audit
list wait for the lock; `stats check` counts the pending deltas in its snapshot; the reports
wait for the lock).

The committer settles only once its own connection is back in the pool (at the end of its
transaction, not at `after_commit`): holding it while asking the pool for a second one, every
committer of a burst did that at once when there were as many as pooled connections, and all
of them waited for the pool until its timeout (the hub stood still for 30 s, seen with
`bench/throughput.py`'s open loop; `tests/core/test_sequencer.py`).

On SQLite (one writer at a time anyway) nothing is deferred: the entries are linked and the
counters upserted in the writing transaction, as before.
"""

from __future__ import annotations

import logging
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
    try:
        settle_for(session, wait=False)
    except Exception:  # committed already: the next settle takes what is left
        log.exception("settling the audit chain and the counters failed; will retry")


def install(sessions: sessionmaker[Session]) -> None:
    """Settle after each COMMIT of this factory's sessions that left work (idempotent)."""
    if sessions.kw.get("info", {}).get(_HOOKED):
        return
    # The mark is not dropped on rollback: a SAVEPOINT's rollback fires `after_rollback` too,
    # while the work flushed before it still commits. A needless settle costs no fsync.
    event.listen(sessions, "after_commit", _after_commit)
    event.listen(sessions, "after_transaction_end", _after_transaction_end)
    sessions.configure(info=(sessions.kw.get("info") or {}) | {_HOOKED: True})
