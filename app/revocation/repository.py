"""Queries on `revocation_answers`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from app.revocation.models import RevocationAnswer

RETENTION = dt.timedelta(days=30)
"""How long an answer stays after it expired (reports embed the DER they used, so the row is
evidence for a month and the table does not grow without bound)."""


def fresh(
    session: Session, lookups: Iterable[str], now: dt.datetime
) -> dict[str, RevocationAnswer]:
    """The newest answer of each lookup that the cache may still use at `now`."""
    wanted = sorted(set(lookups))
    if not wanted:
        return {}
    rows = session.scalars(
        select(RevocationAnswer)
        .where(RevocationAnswer.lookup.in_(wanted), RevocationAnswer.expires_at > now)
        .order_by(RevocationAnswer.expires_at.desc(), RevocationAnswer.fetched_at.desc())
    )
    found: dict[str, RevocationAnswer] = {}
    for row in rows:
        found.setdefault(row.lookup, row)
    return found


def insert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add answers; one already kept (same lookup and bytes, fetched by another process) stays."""
    if not rows:
        return
    table = RevocationAnswer
    if session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).values(list(rows)).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(list(rows)).on_conflict_do_nothing()
    session.execute(stmt)


def due(session: Session, now: dt.datetime, limit: int = 100) -> list[RevocationAnswer]:
    """Cache entries the worker should renew: the newest of their lookup, past `refresh_at`,
    about a certificate still valid, not long expired."""
    newer = aliased(RevocationAnswer)
    return list(
        session.scalars(
            select(RevocationAnswer)
            .where(
                RevocationAnswer.refresh_at <= now,
                RevocationAnswer.subject_not_after > now,
                RevocationAnswer.expires_at > now - RETENTION,
                ~exists().where(
                    newer.lookup == RevocationAnswer.lookup,
                    newer.expires_at > RevocationAnswer.expires_at,
                ),
            )
            .order_by(RevocationAnswer.refresh_at)
            .limit(limit)
        )
    )


def prune(session: Session, now: dt.datetime) -> int:
    result = session.execute(
        delete(RevocationAnswer).where(RevocationAnswer.expires_at < now - RETENTION)
    )
    return int(getattr(result, "rowcount", 0) or 0)
