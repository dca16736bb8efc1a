"""Commit-time work, installed where a process opens its database (not on import).

Two things happen at flush and commit that no call path shows: the statistics counters
(app.stats.listener) and the audit chain's append (app.audit.service). Every session factory
that writes gets both, once: `create_app`, the worker and CLI commands, the tests' fixtures.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.audit import service as audit
from app.core.db import make_engine, make_sessionmaker
from app.stats import listener as stats


def install_session_hooks(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Statistics counters and the audit chain on this factory's sessions (idempotent)."""
    stats.install(sessions)
    audit.install(sessions)
    return sessions


def open_sessions(url: str, *, pool_size: int = 10) -> sessionmaker[Session]:
    """Engine, session factory and commit hooks for a process that writes."""
    return install_session_hooks(make_sessionmaker(make_engine(url, pool_size=pool_size)))
