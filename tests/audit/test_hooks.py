"""Commit-time work is installed on a session factory, explicitly, never by an import."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.core.db import make_engine, make_sessionmaker, unit_of_work
from app.hooks import install_session_hooks
from app.stats import listener
from app.stats.models import STATS_TABLE
from tests.conftest import World, settled
from tests.factories import document_json


def test_importing_the_packages_installs_nothing_process_wide() -> None:
    import app.main  # noqa: F401  (everything the API loads)

    assert not event.contains(Session, "before_flush", listener._before_flush)
    assert not event.contains(Session, "before_commit", audit._append_pending)
    assert not event.contains(Engine, "commit", listener._on_commit)


def test_a_factory_without_the_hooks_refuses_to_audit(settings, world: World) -> None:
    engine = make_engine(settings.database_url)
    try:
        bare = make_sessionmaker(engine)
        with pytest.raises(RuntimeError, match="install_session_hooks"), unit_of_work(bare) as s:
            audit.record(s, actor="t", action="x", target_type="t", target_id="1")
        hooked = install_session_hooks(install_session_hooks(bare))  # idempotent
        with unit_of_work(hooked) as s:
            audit.record(s, actor="t", action="hooks.test", target_type="t", target_id="1")
        with settled(hooked) as s:
            entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "hooks.test")).all()
            verdict = audit.verify(s)
        assert len(entries) == 1 and verdict.ok  # appended once, chain intact
    finally:
        engine.dispose()


def test_the_app_and_the_fixtures_count_statistics(client, world: World, sessions) -> None:
    r = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    with settled(sessions) as s:
        assert (s.scalar(select(func.count()).select_from(STATS_TABLE)) or 0) > 0
