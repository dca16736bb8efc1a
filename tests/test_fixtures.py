"""The rolled-back fixtures (tests/conftest.py) do what CONTRIBUTING.md says of them: the
app's requests and the test's sessions share one connection, a request's commit is a
savepoint's release with the audit chain appended as at any commit, and nothing reaches the
database for another connection."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.core.db import make_engine, make_sessionmaker, read_first
from app.directory.models import Organization
from tests.conftest import World

pytestmark = pytest.mark.rolled_back

NEW = "000.00.09.H39"


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_request_commits_a_savepoint_the_test_sees_and_no_one_else(
    client, world: World, sessions, settings
) -> None:
    r = client.post(
        "/api/v1/organizations",
        json={"organ_id": NEW, "name": "Sở Y tế", "parent_id": world.PROVINCE},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    with sessions() as s:
        assert s.get(Organization, NEW) is not None
        # the commit-time hook ran: the entry is on the chain, and the chain holds
        assert s.scalar(select(AuditEntry).where(AuditEntry.target_id == NEW)) is not None
        assert audit.verify(s).ok
    other = make_engine(settings.database_url)
    try:
        with make_sessionmaker(other)() as s:
            read_first(s)  # SQLite: no write lock (the test's connection holds it)
            assert s.get(Organization, NEW) is None  # never committed
            assert _count(s, Organization) == 6  # the world, committed once
    finally:
        other.dispose()


def test_a_refused_request_leaves_the_test_connection_usable(
    client, world: World, db_session: Session
) -> None:
    r = client.post(
        "/api/v1/organizations",
        json={"organ_id": world.OWN, "name": "again", "parent_id": world.PROVINCE},
        headers=world.auth("admin"),
    )
    assert r.status_code == 409, r.text
    assert _count(db_session, Organization) == 6


def test_a_test_without_the_world_starts_empty(db_session: Session) -> None:
    assert _count(db_session, Organization) == 0
    db_session.add(Organization(organ_id=NEW, name="x", level=1))
    db_session.commit()  # releases the savepoint only
    assert _count(db_session, Organization) == 1
