"""Keeps the daily counters in step with documents, deliveries and statuses, transactionally.

No service calls the statistics: an ORM flush of a Document, Delivery or StatusMessage is the
event, and so are new rows of them written outside the unit of work (the submission's path,
`app.core.db.insert_rows`, observed through `observe_new_rows`; ORM bulk INSERTs through
`do_orm_execute`), counted as new rows from the values written. `before_flush` records what each changed row looked like before (the snapshot this
session last counted, else the attribute history, else the database); `after_flush` computes
the counter deltas (new contribution minus old, app.stats.counters) and keeps them on the
database connection. They are written by sorted upserts (days, then months) just before that
connection's COMMIT, so they commit or roll back with the rows they count (savepoints
included), and two transactions always lock counter rows in the same order (no deadlock on
PostgreSQL).

Not seen: bulk `UPDATE`/`DELETE` statements, Core statements other than `insert_rows` and raw SQL (a warning is logged for the ORM
ones); `lienthong stats check` finds such drift and `lienthong stats rebuild` repairs it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, event, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstanceState, ORMExecuteState, Session, UOWTransaction, sessionmaker

from app.core import db, sequencer, timeutil
from app.delivery.models import Delivery
from app.documents.models import Document, StatusMessage
from app.stats.counters import (
    COLUMNS,
    REACHED,
    DeliveryRow,
    DocRow,
    StatusRow,
    Tally,
    delivery_contribution,
    document_contribution,
    status_contribution,
)
from app.stats.models import DELTAS_TABLE, MONTHLY_TABLE, STATS_TABLE

log = logging.getLogger("app.stats")

Row = DocRow | DeliveryRow | StatusRow
Pending = list[tuple[Any, Row | None, bool]]

DOC_FIELDS = (
    "from_organ",
    "business_type",
    "quarantined",
    "indication",
    "accepted_at",
    "origin",
    "signed_by_hub",
    "pdf_signed",
)
DELIVERY_FIELDS = ("document", "kind", "organ_id", "route", "state", "available_at")
STATUS_FIELDS = ("from_organ", "code", "accepted_at")
FIELDS: dict[type, tuple[str, ...]] = {
    Document: DOC_FIELDS,
    Delivery: DELIVERY_FIELDS,
    StatusMessage: STATUS_FIELDS,
}
ROW_TYPES: dict[type, type[Row]] = {
    Document: DocRow,
    Delivery: DeliveryRow,
    StatusMessage: StatusRow,
}
TABLES = {"documents", "deliveries", "status_messages"}

PENDING = "lienthong.stats.pending"
SEEN = "lienthong.stats.seen"
BORN = "lienthong.stats.born"
STACK = "lienthong.stats.tally"

_warned: set[str] = set()
_HOOKED: weakref.WeakSet[Any] = weakref.WeakSet()


# -- snapshots ----------------------------------------------------------------------------------


def _make(cls: type, ident: str, values: dict[str, Any]) -> Row:
    return ROW_TYPES[cls](id=ident, **values)


def _current(obj: Any) -> Row:
    cls = type(obj)
    return _make(cls, obj.id, {f: getattr(obj, f) for f in FIELDS[cls]})


def _seen(session: Session) -> dict[tuple[type, str], Row]:
    seen: dict[tuple[type, str], Row] = session.info.setdefault(SEEN, {})
    return seen


def _old_from_history(state: InstanceState[Any], cls: type) -> Row | None:
    """The values before this flush, or None when one of them was never loaded."""
    values: dict[str, Any] = {}
    for name in FIELDS[cls]:
        hist = state.attrs[name].history
        if hist.deleted:
            values[name] = hist.deleted[0]
        elif hist.unchanged:
            values[name] = hist.unchanged[0]
        else:
            return None
    ident = state.identity[0] if state.identity else getattr(state.obj(), "id", None)
    return _make(cls, str(ident), values)


def _changed(state: InstanceState[Any], cls: type) -> bool:
    return any(state.attrs[name].history.has_changes() for name in FIELDS[cls])


def _fetch_old(session: Session, missing: list[tuple[type, str]]) -> dict[tuple[type, str], Row]:
    """Read pre-flush values from the database for rows whose history is incomplete."""
    out: dict[tuple[type, str], Row] = {}
    conn = session.connection()
    for cls in {c for c, _ in missing}:
        table = cls.__table__  # type: ignore[attr-defined]
        ids = [i for c, i in missing if c is cls]
        cols = [table.c.id, *(table.c[f] for f in FIELDS[cls])]
        for r in conn.execute(select(*cols).where(table.c.id.in_(ids))):
            m = r._mapping
            out[(cls, m["id"])] = _make(cls, m["id"], {f: m[f] for f in FIELDS[cls]})
    return out


# -- session events -----------------------------------------------------------------------------


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    seen = _seen(session)
    pending: Pending = []
    unknown: list[tuple[Any, bool]] = []
    for obj in session.new:
        cls = type(obj)
        if cls in FIELDS:
            if cls is Delivery:
                _stamp_reached(obj)
            pending.append((obj, None, False))
    for group, deleted in ((session.dirty, False), (session.deleted, True)):
        for obj in group:
            cls = type(obj)
            if cls not in FIELDS:
                continue
            state = inspect(obj)
            if not deleted:
                if cls is Delivery and state.attrs.state.history.has_changes():
                    _stamp_reached(obj)
                if not _changed(state, cls):
                    continue
            old = seen.get((cls, obj.id)) or _old_from_history(state, cls)
            if old is None:
                unknown.append((obj, deleted))
            else:
                pending.append((obj, old, deleted))
    if unknown:
        fetched = _fetch_old(session, [(type(o), o.id) for o, _ in unknown])
        pending += [(o, fetched.get((type(o), o.id)), d) for o, d in unknown]
    if pending:
        session.info[PENDING] = pending


def _stamp_reached(d: Delivery) -> None:
    """A delivery that reached its recipient keeps the time it did (received is by that time)."""
    if d.state in REACHED and d.available_at is None:
        d.available_at = timeutil.utcnow()


def _inert(row: Row | None) -> bool:
    """Counts nowhere: no row, or the delivery of a status message."""
    return row is None or (isinstance(row, DeliveryRow) and row.kind != "document")


def _equivalent(old: Row | None, new: Row | None) -> bool:
    """True when the change cannot move a counter (most state moves of a delivery)."""
    if old == new or (_inert(old) and _inert(new)):
        return True
    if isinstance(old, DeliveryRow) and isinstance(new, DeliveryRow):
        return (old.document, old.kind, old.organ_id, old.route, old.available_at) == (
            new.document,
            new.kind,
            new.organ_id,
            new.route,
            new.available_at,
        ) and (old.state == "dead") == (new.state == "dead")
    return False


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    pending: Pending = session.info.pop(PENDING, [])
    if pending:
        _count(
            session,
            [(type(o), old, None if deleted else _current(o)) for o, old, deleted in pending],
        )


Change = tuple[type, Row | None, Row | None]  # (model, before, after): None = no row


def _count(session: Session, items: list[Change]) -> None:
    """Counter deltas of rows that changed (a flush, or a bulk INSERT): kept on the connection."""
    seen = _seen(session)
    # Documents inserted in this transaction, with every delivery this session gave them.
    born: dict[str, dict[str, DeliveryRow]] = session.info.setdefault(BORN, {})
    changes: dict[type, dict[str, tuple[Row | None, Row | None]]] = {
        Document: {},
        Delivery: {},
        StatusMessage: {},
    }
    # Documents first, so that deliveries inserted in the same flush find theirs born.
    for cls, old, new in sorted(items, key=lambda c: c[0] is not Document):
        either = new or old
        if either is None:
            continue
        if new is None:
            seen.pop((cls, either.id), None)
        else:
            seen[(cls, either.id)] = new
            if cls is Document and old is None:
                born[new.id] = {}
        if isinstance(old, DeliveryRow) and old.document in born:
            born[old.document].pop(old.id, None)
        if isinstance(new, DeliveryRow) and new.document in born and new.kind == "document":
            born[new.document][new.id] = new
        if not _equivalent(old, new):
            changes[cls][either.id] = (old, new)
    if not any(changes.values()):
        return
    conn = session.connection()
    tally = compute(
        conn,
        docs=changes[Document],  # type: ignore[arg-type]
        deliveries=changes[Delivery],  # type: ignore[arg-type]
        statuses=changes[StatusMessage],  # type: ignore[arg-type]
        identity=session,
        known=born,
    )
    _stack(conn)[-1].merge(tally)
    if sequencer.deferred(session):
        sequencer.mark(session)  # deltas to fold after this transaction's COMMIT


def _forget(session: Session, *_args: object) -> None:
    session.info.pop(SEEN, None)
    session.info.pop(BORN, None)
    session.info.pop(PENDING, None)


def _bulk_statement(state: ORMExecuteState) -> Any:
    """ORM bulk INSERTs of counted rows are counted (`_bulk_insert`); bulk UPDATE/DELETE
    bypass the unit of work, hence the counters: say so once."""
    if state.is_insert:
        return _bulk_insert(state)
    if not (state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name not in TABLES:
        return
    touched: set[str] = set()
    values = getattr(state.statement, "_values", None) or {}
    touched |= {getattr(k, "key", str(k)) for k in values}
    params: Any = state.parameters
    for p in params if isinstance(params, list) else [params or {}]:
        touched |= {str(k) for k in p}
    relevant = {"state", "available_at", "kind", "route", "organ_id", "document"} | set(DOC_FIELDS)
    if state.is_update and touched and not touched & (relevant | {"code"}):
        return None
    key = f"{name}:{'delete' if state.is_delete else 'update'}"
    if key not in _warned:
        _warned.add(key)
        log.warning(
            "a bulk %s of %s is not seen by the statistics counters; change rows through "
            "the ORM, or run `lienthong stats rebuild`",
            "DELETE" if state.is_delete else "UPDATE",
            name,
        )
    return None


def _bulk_insert(state: ORMExecuteState) -> Any:
    """`session.execute(insert(Model), rows)` of a Document, Delivery or StatusMessage: new
    rows (old contribution none), counted once the INSERT succeeded, as a flush of the same
    rows would be. A counted column the rows leave out is filled with its column default
    first, so what is counted is what is written."""
    mapper = state.bind_mapper
    cls: type | None = mapper.class_ if mapper is not None else None
    fields = FIELDS.get(cls) if cls is not None else None
    if cls is None or fields is None:
        return None
    params: Any = state.parameters
    rows: list[dict[str, Any]] = (
        list(params) if isinstance(params, list) else [params] if params else []
    )
    if not rows or getattr(state.statement, "_values", None):
        key = f"{cls.__name__}:insert"
        if key not in _warned:  # insert().values(…): not the shape the hub writes
            _warned.add(key)
            log.warning(
                "an INSERT of %s without separate row parameters is not seen by the "
                "statistics counters; pass rows to session.execute, or run "
                "`lienthong stats rebuild`",
                cls.__name__,
            )
        return None
    filled = [_with_defaults(cls, r, fields) for r in rows]
    changed = any(f is not r for f, r in zip(filled, rows, strict=True))
    if not changed:
        result = state.invoke_statement()
    else:
        result = state.invoke_statement(params=filled if state.is_executemany else filled[0])
    new: list[Change] = [
        (cls, None, _make(cls, r["id"], {f: r[f] for f in fields})) for r in filled
    ]
    _count(state.session, new)
    return result


def _new_rows(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """Rows `app.core.db.insert_rows` wrote (the submission's path): counted as new, from
    the values written (each row carries its id and counted columns)."""
    fields = FIELDS.get(model)
    if fields is None:
        return
    try:
        new: list[Change] = [
            (model, None, _make(model, r["id"], {f: r[f] for f in fields})) for r in rows
        ]
    except KeyError as exc:
        raise ValueError(f"rows of {model.__name__} inserted without {exc}: not countable") from exc
    if model is Delivery:
        for _, _, row in new:
            assert isinstance(row, DeliveryRow)
            if row.state in REACHED and row.available_at is None:
                raise ValueError("a delivery that reached its recipient needs available_at")
    _count(session, new)


def _with_defaults(cls: type, row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The row with the id and counted columns it leaves out set to their column defaults
    (itself when it has them all), and a delivery that reached its recipient stamped."""
    missing = [f for f in ("id", *fields) if f not in row]
    reached = cls is Delivery and row.get("state") in REACHED and row.get("available_at") is None
    if not missing and not reached:
        return row
    out = dict(row)
    table = cls.__table__  # type: ignore[attr-defined]
    for name in missing:
        default = table.c[name].default
        if default is None:
            out[name] = None
        elif default.is_callable:
            out[name] = default.arg(None)
        else:
            out[name] = default.arg
    if cls is Delivery and out.get("state") in REACHED and out.get("available_at") is None:
        out["available_at"] = timeutil.utcnow()
    return out


# -- deltas -------------------------------------------------------------------------------------


_DOC_MAPPER = inspect(Document)


def _lookup_documents(
    conn: Connection, ids: Iterable[str], identity: Session | None
) -> dict[str, DocRow]:
    """Current Document values: from the identity map when loaded, else as this session
    counted them when it inserted them in bulk (untracked: in no identity map), else one
    SELECT."""
    out: dict[str, DocRow] = {}
    missing: list[str] = []
    mapper = _DOC_MAPPER
    info = identity.info if identity is not None else {}
    seen, born = info.get(SEEN, {}), info.get(BORN, {})
    for ident in ids:
        obj = None
        if identity is not None:
            obj = identity.identity_map.get(mapper.identity_key_from_primary_key((ident,)))
        if obj is not None and not (inspect(obj).expired_attributes & set(DOC_FIELDS)):
            row = _current(obj)
            assert isinstance(row, DocRow)
            out[ident] = row
        elif (
            obj is None
            and ident in born
            and isinstance(kept := seen.get((Document, ident)), DocRow)
        ):
            out[ident] = kept
        else:
            missing.append(ident)
    if missing:
        t = Document.__table__
        cols = [t.c.id, *(t.c[f] for f in DOC_FIELDS)]
        for r in conn.execute(select(*cols).where(t.c.id.in_(missing))):
            m = r._mapping
            out[m["id"]] = DocRow(id=m["id"], **{f: m[f] for f in DOC_FIELDS})
    return out


def _document_deliveries(conn: Connection, doc_ids: Sequence[str]) -> dict[str, list[DeliveryRow]]:
    out: dict[str, list[DeliveryRow]] = {d: [] for d in doc_ids}
    if not doc_ids:
        return out
    t = Delivery.__table__
    cols = [t.c.id, *(t.c[f] for f in DELIVERY_FIELDS)]
    stmt = select(*cols).where(t.c.document.in_(list(doc_ids)), t.c.kind == "document")
    for r in conn.execute(stmt):
        m = r._mapping
        out[m["document"]].append(DeliveryRow(id=m["id"], **{f: m[f] for f in DELIVERY_FIELDS}))
    return out


def compute(
    conn: Connection,
    *,
    docs: dict[str, tuple[DocRow | None, DocRow | None]],
    deliveries: dict[str, tuple[DeliveryRow | None, DeliveryRow | None]],
    statuses: dict[str, tuple[StatusRow | None, StatusRow | None]],
    identity: Session | None = None,
    known: Mapping[str, Mapping[str, DeliveryRow]] | None = None,
) -> Tally:
    """Counter deltas of one flush: every affected contribution, new minus old.

    `conn` sees the database after the flush. A changed document re-counts all its deliveries
    (their received_valid and delivery time read the document); a delivery that joins or
    leaves the axis route re-decides its document's central_sent. `known` gives the document
    deliveries of documents whose every delivery the caller has seen (no query for those).
    """
    tally = Tally()
    for old_s, new_s in statuses.values():
        if old_s is not None:
            status_contribution(old_s, tally, -1)
        if new_s is not None:
            status_contribution(new_s, tally, +1)

    referenced = {r.document for pair in deliveries.values() for r in pair if r is not None}
    current = _lookup_documents(conn, referenced - set(docs), identity)
    old_docs: dict[str, DocRow | None] = {k: v for k, v in current.items()}
    new_docs: dict[str, DocRow | None] = {k: v for k, v in current.items()}
    for ident, (old_d, new_d) in docs.items():
        old_docs[ident], new_docs[ident] = old_d, new_d

    def counted(doc_id: str) -> bool:
        o, n = old_docs.get(doc_id), new_docs.get(doc_id)
        return bool((o and o.counted) or (n and n.counted))

    # Documents whose document-level contribution may change.
    doc_level = {d for d in docs if counted(d)}
    for old_r, new_r in deliveries.values():
        was = old_r is not None and old_r.axis
        now = new_r is not None and new_r.axis
        moved = old_r is not None and new_r is not None and old_r.document != new_r.document
        if was != now or (moved and (was or now)):
            doc_level |= {r.document for r in (old_r, new_r) if r is not None and r.axis}
    doc_level = {d for d in doc_level if counted(d)}
    # Existing documents need their stored deliveries; new ones have only this flush's.
    expand = sorted(
        d for d in doc_level | {d for d in docs if counted(d)} if old_docs.get(d) is not None
    )
    known = known or {}
    stored = _document_deliveries(conn, [d for d in expand if d not in known])
    stored |= {d: list(known[d].values()) for d in expand if d in known}

    for old_r, new_r in deliveries.values():
        if old_r is not None:
            delivery_contribution(old_r, old_docs.get(old_r.document), tally, -1)
        if new_r is not None:
            delivery_contribution(new_r, new_docs.get(new_r.document), tally, +1)
    for doc_id in expand:
        if doc_id not in docs:
            continue
        for r in stored[doc_id]:
            if r.id not in deliveries:
                delivery_contribution(r, old_docs.get(doc_id), tally, -1)
                delivery_contribution(r, new_docs.get(doc_id), tally, +1)

    for doc_id in doc_level:
        if doc_id in stored:
            now_rows = {r.id: r for r in stored[doc_id]}
        else:
            now_rows = {
                i: n for i, (_, n) in deliveries.items() if n is not None and n.document == doc_id
            }
        before = {i: r for i, r in now_rows.items() if i not in deliveries}
        before |= {
            i: o for i, (o, _) in deliveries.items() if o is not None and o.document == doc_id
        }
        old_doc, new_doc = old_docs.get(doc_id), new_docs.get(doc_id)
        if old_doc is not None:
            axis_before = any(r.axis for r in before.values())
            document_contribution(old_doc, axis_before, tally, -1)
        if new_doc is not None:
            document_contribution(new_doc, any(r.axis for r in now_rows.values()), tally, +1)
    return tally


# -- connection events: apply at COMMIT ---------------------------------------------------------


def _stack(conn: Connection) -> list[Tally]:
    stack: list[Tally] | None = conn.info.get(STACK)
    if not stack:
        stack = [Tally()]
        conn.info[STACK] = stack
    return stack


def _on_begin(conn: Connection) -> None:
    conn.info[STACK] = [Tally()]


def _on_savepoint(conn: Connection, _name: str | None) -> None:
    _stack(conn).append(Tally())


def _on_release_savepoint(conn: Connection, _name: str, _ctx: object) -> None:
    stack = _stack(conn)
    if len(stack) > 1:
        top = stack.pop()
        stack[-1].merge(top)


def _on_rollback_savepoint(conn: Connection, _name: str, _ctx: object) -> None:
    stack = _stack(conn)
    if len(stack) > 1:
        stack.pop()
    else:
        stack[0] = Tally()


def _on_rollback(conn: Connection) -> None:
    conn.info.pop(STACK, None)


def _on_commit(conn: Connection) -> None:
    stack: list[Tally] | None = conn.info.pop(STACK, None)
    if not stack:
        return
    total = Tally()
    for t in stack:
        total.merge(t)
    if conn.dialect.name == "postgresql":
        add_deltas(conn, total)  # no counter row locked: the sequencer folds them in
    else:
        apply(conn, total)


def add_deltas(conn: Connection, tally: Tally) -> int:
    """Append a tally to stats_deltas (one executemany); returns rows."""
    rows = tally.nonzero()
    if not rows:
        return 0
    used = _used(rows.values())
    conn.execute(
        _DELTAS_INSERT,
        [
            {"organ_id": organ, "day": day, "year": day.year, "month": day.month}
            | {c: cols.get(c, 0) for c in used}
            for (organ, day), cols in sorted(rows.items())
        ],
    )
    return len(rows)


_DELTAS_INSERT = DELTAS_TABLE.insert()  # built once: compiled once per set of columns


def _used(counts: Iterable[Mapping[str, int]]) -> tuple[str, ...]:
    """The counters any of these rows moves, in COLUMNS order."""
    moved: set[str] = set()
    for cols in counts:
        moved.update(cols)
    return tuple(c for c in COLUMNS if c in moved)


_FOLD: Any = None


def fold_deltas(conn: Connection) -> None:
    """Move every committed delta into stats_daily and stats_monthly, in one statement (a
    sequencer step: the caller holds its lock, so counter rows have one writer)."""
    global _FOLD
    if _FOLD is None:
        cols = ", ".join(COLUMNS)
        sums = ", ".join(f"sum({c})" for c in COLUMNS)

        def adds(table: str) -> str:
            return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COLUMNS)

        _FOLD = text(
            f"""
            WITH d AS (DELETE FROM stats_deltas RETURNING *),
            days AS (
                INSERT INTO stats_daily (organ_id, day, year, month, {cols})
                SELECT organ_id, day, min(year), min(month), {sums} FROM d
                GROUP BY organ_id, day ORDER BY organ_id, day
                ON CONFLICT (organ_id, day) DO UPDATE SET {adds("stats_daily")}
            )
            INSERT INTO stats_monthly (organ_id, year, month, {cols})
            SELECT organ_id, year, month, {sums} FROM d
            GROUP BY organ_id, year, month ORDER BY organ_id, year, month
            ON CONFLICT (organ_id, year, month) DO UPDATE SET {adds("stats_monthly")}
            """
        )
    conn.execute(_FOLD)


def apply(conn: Connection, tally: Tally) -> int:
    """Add a tally to stats_daily and stats_monthly: one upsert per table, executed for every
    row in key order (days first, then months, in every transaction). Returns day rows."""
    rows = tally.nonzero()
    if not rows:
        return 0
    used = _used(rows.values())
    days = [
        {"organ_id": organ, "day": day, "year": day.year, "month": day.month}
        | {c: cols.get(c, 0) for c in used}
        for (organ, day), cols in rows.items()
    ]
    months = [
        {"organ_id": organ, "year": first.year, "month": first.month}
        | {c: cols.get(c, 0) for c in used}
        for (organ, first), cols in tally.by_month().nonzero().items()
    ]
    dialect = conn.dialect.name
    conn.execute(_upsert(dialect, STATS_TABLE, ("organ_id", "day"), used), days)
    if months:
        conn.execute(_upsert(dialect, MONTHLY_TABLE, ("organ_id", "year", "month"), used), months)
    return len(days)


_UPSERTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _upsert(dialect: str, table: Table, key: tuple[str, ...], used: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE SET c = c + excluded.c for the counters `used`.

    Built once per (dialect, table, counters), so it is compiled once and runs as executemany;
    a document's events touch a handful of counters, and few distinct handfuls occur.
    """
    cache_key = (dialect, table.name, used)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        if dialect == "postgresql":
            ins: Any = postgresql.insert(table)
        elif dialect == "sqlite":
            ins = sqlite.insert(table)
        else:  # pragma: no cover - the hub supports these two
            raise RuntimeError(f"statistics upsert not implemented for {dialect}")
        stmt = ins.on_conflict_do_update(
            index_elements=list(key),
            set_={c: table.c[c] + ins.excluded[c] for c in used},
        )
        if len(_UPSERTS) >= 1024:  # bounded: forget the oldest shapes
            _UPSERTS.pop(next(iter(_UPSERTS)))
        _UPSERTS[cache_key] = stmt
    return stmt


def install(sessions: sessionmaker[Session]) -> None:
    """Listen on this factory's sessions and on its engine (idempotent)."""
    # Installed targets are remembered in weak sets, not asked with `event.contains`: its
    # registry is keyed by id() and may answer for a dead target whose id a new one reuses.
    engine = sessions.kw["bind"]
    if sessions in _HOOKED:
        return
    _HOOKED.add(sessions)
    sequencer.register(fold_deltas)
    sequencer.install(sessions)
    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "after_commit", _forget)
    event.listen(sessions, "after_rollback", _forget)
    event.listen(sessions, "after_soft_rollback", _forget)
    event.listen(sessions, "do_orm_execute", _bulk_statement)
    db.observe_new_rows(sessions, _new_rows)
    if engine not in _HOOKED:
        _HOOKED.add(engine)
        event.listen(engine, "begin", _on_begin)
        event.listen(engine, "savepoint", _on_savepoint)
        event.listen(engine, "release_savepoint", _on_release_savepoint)
        event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
        event.listen(engine, "rollback", _on_rollback)
        event.listen(engine, "commit", _on_commit)
