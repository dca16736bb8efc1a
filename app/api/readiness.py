"""Readiness checks: each names itself, so /readyz says exactly what is not ready."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

Check = Callable[[FastAPI], str | None]  # None when ready, else the reason

_CHECKS: dict[str, Check] = {}


def register(name: str) -> Callable[[Check], Check]:
    def deco(fn: Check) -> Check:
        _CHECKS[name] = fn
        return fn

    return deco


def run_checks(app: FastAPI) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, check in _CHECKS.items():
        try:
            reason = check(app)
        except Exception as exc:  # a check that crashes is a check that failed
            reason = f"{type(exc).__name__}: {exc}"
        out[name] = {"ok": reason is None} | ({"reason": reason} if reason else {})
    return out


@register("database")
def _database(app: FastAPI) -> str | None:
    with app.state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return None


@register("schema")
def _schema(app: FastAPI) -> str | None:
    from app.core.migrate import current_revision, head_revision

    current, head = current_revision(app.state.engine), head_revision()
    if current != head:
        return f"database at revision {current}, code expects {head}: run `lienthong db upgrade`"
    return None


@register("signing_keys")
def _signing_keys(app: FastAPI) -> str | None:
    """The passphrase opens the issuing CA key and the trust store builds (CRLs present)."""
    with app.state.sessionmaker() as session:
        app.state.hub.custody.check_ready(session)
    return None


@register("worker")
def _worker(app: FastAPI) -> str | None:
    """Some delivery worker (embedded or separate) wrote a heartbeat recently."""
    from sqlalchemy import func, select

    from app.core.timeutil import utcnow
    from app.delivery.models import WorkerHeartbeat

    settings = app.state.settings
    if not settings.readyz_requires_worker:
        return None
    with app.state.sessionmaker() as session:
        last = session.scalar(select(func.max(WorkerHeartbeat.seen_at)))
    if last is None:
        return (
            "no delivery worker has reported (run `lienthong worker` or serve without --no-worker)"
        )
    age = (utcnow() - last).total_seconds()
    if age > settings.worker_heartbeat_max_age:
        return f"the freshest worker heartbeat is {int(age)} s old"
    return None
