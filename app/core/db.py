"""Engine and sessions: the same code on SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import re
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import DateTime, Engine, Insert, MetaData, Table, create_engine, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.timeutil import as_utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on both databases (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class DatabaseMissing(RuntimeError):
    """A command that reads the hub's data found no SQLite file where the settings point."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"there is no database at {path}")
        self.path = path


def require_database(url: str) -> None:
    """Refuse (instead of creating an empty file) when a SQLite database file is missing."""
    if not url.startswith("sqlite") or ":memory:" in url or ":///" not in url:
        return
    path = Path(url.split(":///", 1)[1].split("?", 1)[0])
    if path.as_posix() and not path.exists():
        raise DatabaseMissing(path)


_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """SQLite gets WAL, foreign keys and write-ahead locking; PostgreSQL a real pool."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=False,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A write transaction takes the write lock up front (IMMEDIATE), so two writers
            # never deadlock on upgrade: that is what makes claims and the audit chain safe.
            # A read transaction (`read_first`) begins deferred and takes no lock at all.
            if conn.get_execution_options().get(TX_MODE) == READ:
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "before_cursor_execute")
        def _no_write_while_reading(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
            # A write in a deferred transaction would upgrade its lock late, and fail at once
            # (SQLITE_BUSY_SNAPSHOT) if another writer committed since it began: refuse it.
            if conn.get_execution_options().get(TX_MODE) == READ and _WRITES.match(statement):
                raise RuntimeError("a write in a read transaction: call begin_write() first")

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    event.listen(engine, "checkout", _refuse_ended_connection)
    return engine


def _refuse_ended_connection(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server ended (a restart, `pg_terminate_backend`, an idle
    timeout) is replaced at checkout, without the round trip of `pool_pre_ping` on every
    request: the server's farewell (an error, then EOF) is already waiting on the socket of
    an idle connection, which otherwise has nothing to read. Raising DisconnectionError makes
    the pool discard it and connect again."""
    try:
        if dbapi_conn.closed or dbapi_conn.broken:
            raise DisconnectionError("the connection was closed")
        readable, _, _ = select.select([dbapi_conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error) as exc:
        raise DisconnectionError(str(exc)) from exc
    if readable:
        raise DisconnectionError("the server ended this connection")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


# -- transactions: read first, write late, commit in one place -------------------------------

TX_MODE = "lienthong_tx"
READ, WRITE = "read", "write"
_KEEP = "lienthong.commit_despite"
_HANDOVER = "lienthong.read_handover"


def _set_mode(session: Session, mode: str) -> None:
    # Session execution options reach every connection the session procures from now on,
    # so the engine's `begin` listener sees the mode of the transaction it begins.
    session.execution_options = session.execution_options.union({TX_MODE: mode})


def _sqlite(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "sqlite"


def read_first(session: Session) -> None:
    """The session's next transaction reads only (SQLite: deferred, no write lock) until
    `begin_write`. Used by requests while they authenticate, parse, sign or verify."""
    if session.in_transaction() and is_writing(session) and _sqlite(session):
        raise RuntimeError("read_first on a session already writing")
    _set_mode(session, READ)


def is_writing(session: Session) -> bool:
    return bool(session.execution_options.get(TX_MODE, WRITE) == WRITE)


def begin_write(session: Session) -> None:
    """Where a unit of work starts writing. On SQLite the read transaction ends here and the
    next statement begins IMMEDIATE (what was read is re-checked by constraints, as under
    PostgreSQL's read committed); on PostgreSQL the one transaction simply goes on."""
    if is_writing(session):
        return
    if session.in_transaction() and _sqlite(session):
        if session.in_nested_transaction():
            raise RuntimeError("begin_write inside a SAVEPOINT: call it before begin_nested")
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("rows were changed before begin_write")
        session.info[_HANDOVER] = True
        try:
            session.commit()  # read-only: no lock was taken, nothing is written
        finally:
            session.info.pop(_HANDOVER, None)
    _set_mode(session, WRITE)


def handing_over(session: Session) -> bool:
    """True while `begin_write` ends a read transaction: commit hooks keep their pending work
    for the write transaction instead of writing it now."""
    return bool(session.info.get(_HANDOVER))


def commit_despite(session: Session, error: BaseException) -> None:
    """Decided by a service: commit what the session holds even though `error` is raised
    (a refusal that must stay on record, e.g. signature.invalid with its audit entry)."""
    session.info[_KEEP] = error


@contextmanager
def committed(session: Session) -> Iterator[Session]:
    """The one place a transaction ends: commit on success, roll back on error (unless the
    service kept a refusal with `commit_despite`), close always. Requests and workers both
    use it."""
    try:
        yield session
    except BaseException as exc:
        if session.info.pop(_KEEP, None) is exc:
            try:
                session.commit()
            except BaseException:
                session.rollback()
                raise
        else:
            session.rollback()
        raise
    else:
        session.info.pop(_KEEP, None)
        session.commit()
    finally:
        session.close()


NEW_ROWS = "lienthong.new_rows"  # session.info: who is told of rows `insert_rows` wrote
NewRowsObserver = Callable[[Session, type[Base], list[dict[str, Any]]], None]


def observe_new_rows(sessions: sessionmaker[Session], observer: NewRowsObserver) -> None:
    """Tell `observer` of every row `insert_rows` writes on this factory's sessions, after the
    INSERT succeeded (the statistics counters: a layer above the writers, it observes)."""
    info: dict[Any, Any] = sessions.kw.get("info") or {}
    observers: tuple[NewRowsObserver, ...] = info.get(NEW_ROWS, ())
    if observer not in observers:
        sessions.configure(info=info | {NEW_ROWS: (*observers, observer)})


def insert_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """New rows of one table in one Core INSERT on the session's connection: no unit of work,
    nothing tracked (pending objects are flushed first, so foreign keys hold). Every row has
    the same keys, and carries each column its observers read (`observe_new_rows`): column
    defaults applied by the INSERT are not seen by them."""
    if not rows:
        return
    session.flush()
    table: Table = model.__table__  # type: ignore[assignment]
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = insert(table)  # one statement per table: compiled once
    session.connection().execute(stmt, rows)
    for observer in session.info.get(NEW_ROWS, ()):
        observer(session, model, rows)


_INSERTS: dict[Table, Insert] = {}


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction for the CLI and workers (requests use the session dependency)."""
    with committed(factory()) as session:
        yield session
