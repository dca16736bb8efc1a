"""CRLs stay fresh without reads writing: the worker republishes them ahead of expiry, while
getting the trust store and serving /pki/crl only read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.keys import custody as custody_module
from app.keys.models import PublishedCrl
from app.worker import Worker
from tests.conftest import World

pytestmark = pytest.mark.rolled_back


def _published(sessions: Any) -> tuple[int, int]:
    """(issuing CRL number, crl.published audit entries)."""
    with sessions() as s:
        number = s.scalars(select(PublishedCrl.number).where(PublishedCrl.role == "issuing")).one()
        entries = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "crl.published")
        )
        return number, int(entries or 0)


@pytest.fixture
def due_crl(app: Any, sessions: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """CRLs published with a lifetime shorter than the refresh margin: due at once."""
    with monkeypatch.context() as m:
        m.setattr(custody_module, "CRL_LIFETIME", timedelta(hours=2))
        with unit_of_work(sessions) as s:
            app.state.hub.custody.publish_crls(s, actor="test")
    with sessions() as s:
        der: bytes = app.state.hub.custody.crl_der(s)
    return der


def test_reading_trust_and_the_crl_never_publishes(
    app: Any, client: Any, sessions: Any, world: World, due_crl: bytes
) -> None:
    before = _published(sessions)
    custody = app.state.hub.custody
    custody.invalidate()
    with unit_of_work(sessions) as s:
        store = custody.trust_store(s)
        custody.check_ready(s)
    assert due_crl in store.crls
    assert client.get("/pki/crl").content == due_crl
    assert _published(sessions) == before


def test_the_worker_republishes_a_due_crl_once_per_schedule(
    app: Any, client: Any, sessions: Any, world: World, due_crl: bytes
) -> None:
    number, entries = _published(sessions)
    worker = Worker(app.state.hub, app.state.sessionmaker)
    worker.run_once()
    assert _published(sessions) == (number + 1, entries + 1)
    fresh = client.get("/pki/crl").content
    assert fresh != due_crl
    next_update = x509.load_der_x509_crl(fresh).next_update_utc
    assert next_update is not None and next_update - utcnow() > timedelta(days=6)
    with sessions() as s:
        assert fresh in app.state.hub.custody.trust_store(s).crls
    # Not due any more, and not checked again before CRL_CHECK_SECONDS: nothing new.
    worker._next_crl_check = 0.0
    worker.run_once()
    worker.run_once()
    assert _published(sessions) == (number + 1, entries + 1)


def test_an_expired_crl_is_replaced_by_the_workers_next_round(
    app: Any, client: Any, sessions: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CRL expired (a hub that was down for a week), signatures are TRY_LATER; the
    worker's first round republishes it and they pass again, without anyone touching the PKI."""
    from tests.factories import document_json

    week_ago = utcnow() - timedelta(days=8)
    with monkeypatch.context() as m:
        m.setattr(custody_module, "utcnow", lambda: week_ago)
        with unit_of_work(sessions) as s:
            app.state.hub.custody.publish_crls(s, actor="test")

    def submit() -> dict[str, Any]:
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [world.OWN2]),
            headers=world.auth("system"),
        )
        assert r.status_code == 202, r.text
        return dict(r.json()["signature"])

    assert submit()["sub_indication"] == "TRY_LATER"
    Worker(app.state.hub, app.state.sessionmaker).run_once()
    assert submit()["indication"] == "TOTAL_PASSED"
