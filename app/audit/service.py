"""Appending to and verifying the audit chain.

Each entry's hash is SHA-256 over the previous hash and the entry's canonical JSON content,
so editing, deleting or reordering any row breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import AuditEntry, AuditHead, AuditPending
from app.core import sequencer
from app.core.db import handing_over
from app.core.timeutil import iso, utcnow

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    details: str,
) -> str:
    content = json.dumps(
        [seq, iso(at), actor, action, target_type, target_id, details],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event with the caller's transaction (it commits or rolls back with the data).

    The entry is written just before the commit (`_append_pending`). On PostgreSQL it goes to
    `audit_pending` without any lock and the sequencer links it right after the commit
    (`app.core.sequencer`); on SQLite it is linked under the head in the write transaction.
    """
    if not session.info.get(HOOKED):
        raise RuntimeError("audit.record on a session without install_session_hooks")
    # Bounded to its column: an entry about a refused input (which may carry a long id) must
    # not fail the transaction that keeps the refusal on record; details hold the whole id.
    target_id = target_id[:TARGET_ID_LENGTH]
    text = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    pending = session.info.setdefault(_PENDING, [])
    pending.append((utcnow(), actor, action, target_type, target_id, text))


_PENDING = "audit_pending"
TARGET_ID_LENGTH = 200  # AuditEntry.target_id
HOOKED = "lienthong.audit_hooked"


def _append_pending(session: Session) -> None:
    if handing_over(session):
        return  # a read transaction ending at begin_write: the entries go with the writes
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    if sequencer.deferred(session):
        # A Core INSERT on the session's connection: no ORM execution path for a plain table.
        session.connection().execute(
            _PENDING_INSERT,
            [
                dict(zip(_FIELDS, (at, actor, action, target_type, target_id, text), strict=True))
                for at, actor, action, target_type, target_id, text in pending
            ],
        )
        sequencer.mark(session)
        return
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    for at, actor, action, target_type, target_id, text in pending:
        seq = head.seq + 1
        digest = entry_hash(
            head.hash,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=text,
        )
        session.add(
            AuditEntry(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=text,
                prev_hash=head.hash,
                hash=digest,
            )
        )
        head.seq, head.hash = seq, digest
    session.flush()


_FIELDS = ("at", "actor", "action", "target_type", "target_id", "details")
_PENDING_TABLE: Table = AuditPending.__table__  # type: ignore[assignment]
_PENDING_INSERT = insert(_PENDING_TABLE)  # built once: compiled once
_ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]
_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]


def link_pending(conn: Connection) -> int:
    """Link every committed pending entry into the chain, in `id` order, and remove it from
    `audit_pending` (a sequencer step: the caller holds its lock). Returns how many."""
    t = _PENDING_TABLE
    rows = conn.execute(select(t.c.id, *(t.c[f] for f in _FIELDS)).order_by(t.c.id)).all()
    if not rows:
        return 0
    head = conn.execute(
        select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
    ).one_or_none()
    if head is None:
        conn.execute(insert(_HEAD).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head.seq, head.hash
    entries = []
    for row in rows:
        seq += 1
        values = {f: getattr(row, f) for f in _FIELDS}
        digest = entry_hash(prev, seq=seq, **values)
        entries.append(values | {"seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(insert(_ENTRIES), entries)
    conn.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
    conn.execute(update(_HEAD).where(_HEAD.c.id == 1).values(seq=seq, hash=prev))
    return len(rows)


def _discard_pending(session: Session, *_: Any) -> None:
    session.info.pop(_PENDING, None)


def install(sessions: sessionmaker[Session]) -> None:
    """Append pending entries just before each commit of this factory's sessions (idempotent).

    Sessions of a factory without it refuse `record`, so no entry is ever silently dropped.
    """
    # Marked on the factory itself: `event.contains` may answer for a dead factory whose id
    # a new one reuses (SQLAlchemy keeps registry keys by id until their collection is freed).
    if sessions.kw.get("info", {}).get(HOOKED):
        return
    event.listen(sessions, "before_commit", _append_pending)
    event.listen(sessions, "after_rollback", _discard_pending)
    sequencer.register(link_pending)
    sequencer.install(sessions)
    sessions.configure(info=(sessions.kw.get("info") or {}) | {HOOKED: True})


@dataclass
class ChainVerdict:
    ok: bool
    entries: int
    head: str
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "entries": self.entries, "head": self.head}
        if not self.ok:
            out["first_broken"] = {"seq": self.broken_seq, "reason": self.reason}
        return out


def verify_chain(entries: Iterable[AuditEntry], head: AuditHead | None) -> ChainVerdict:
    """Recompute every link; name the first entry that does not match."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            return ChainVerdict(False, count, prev, expected_seq, "entry missing")
        if entry.prev_hash != prev:
            return ChainVerdict(False, count, prev, entry.seq, "previous hash does not match")
        digest = entry_hash(
            prev,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
        )
        if digest != entry.hash:
            return ChainVerdict(False, count, prev, entry.seq, "content does not match its hash")
        prev = digest
        expected_seq += 1
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS
    if head_seq != count or head_hash != prev:
        return ChainVerdict(False, count, prev, count + 1, "entries removed from the end")
    return ChainVerdict(True, count, prev)


def verify(session: Session) -> ChainVerdict:
    """Every committed entry, linked first if the sequencer has not yet (PostgreSQL)."""
    sequencer.settle_for(session)
    entries = session.execute(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    ).scalars()
    head = session.get(AuditHead, 1)
    return verify_chain(entries, head)


def list_entries(
    session: Session, *, since: datetime | None, after_seq: int | None, limit: int
) -> list[AuditEntry]:
    sequencer.settle_for(session)
    stmt = select(AuditEntry).order_by(AuditEntry.seq).limit(limit)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if after_seq is not None:
        stmt = stmt.where(AuditEntry.seq > after_seq)
    return list(session.scalars(stmt))
