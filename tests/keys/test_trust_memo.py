"""The trust store a process memoises (TRUST_MEMO_SECONDS) never holds what a session changed
before that session commits: a registration that is rolled back is never trusted, one that
commits is trusted by every request of the process from its COMMIT on. A fresh database:
the writer and the readers need connections of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from app.core.db import read_first
from app.keys.service import register_fingerprint
from app.signing import TrustStore
from tests.conftest import World

FP = "ab" * 32


def _registered(store: TrustStore) -> set[str]:
    return store.registered_fingerprints.get(World.OWN, set())


@contextmanager
def _reading(sessions: Any) -> Iterator[Session]:
    """A request's reading session (on SQLite: no write lock, so it runs beside the writer)."""
    with sessions() as s:
        read_first(s)
        yield s


def test_a_registration_is_trusted_from_its_commit_and_never_before(
    app, world: World, sessions
) -> None:
    custody = app.state.hub.custody
    with _reading(sessions) as reader:
        assert FP not in _registered(custody.trust_store(reader))
    with sessions() as writer:
        register_fingerprint(writer, World.OWN, FP, actor="test")
        assert FP in _registered(custody.trust_store(writer))  # the writer reads its own
        with _reading(sessions) as reader:
            assert FP not in _registered(custody.trust_store(reader))  # not yet committed
        writer.rollback()
    with _reading(sessions) as reader:
        assert FP not in _registered(custody.trust_store(reader))  # never was
    with sessions() as writer:
        register_fingerprint(writer, World.OWN, FP, actor="test")
        with _reading(sessions) as reader:
            assert FP not in _registered(custody.trust_store(reader))  # kept by the memo...
        writer.commit()
    with _reading(sessions) as reader:
        assert FP in _registered(custody.trust_store(reader))  # ... until the COMMIT
