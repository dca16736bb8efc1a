"""`app.core.recent`: values kept for at most the bound; a change made through this process
empties its caches at the COMMIT, and the writing session neither uses nor fills them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.core import recent

pytestmark = pytest.mark.rolled_back


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_from_when_its_read_began_for_the_bound(sessions) -> None:
    clock = Clock()
    cache: recent.Recent[str, str] = recent.Recent("test-a", 1.0, clock)
    with sessions() as s:
        ticket = cache.begin(s)
        clock.now += 0.25  # the read took a while
        cache.put("k", "v", ticket)
        clock.now += 0.74
        assert cache.get(s, "k") == "v"
        clock.now += 0.01  # 1 s after the read began
        assert cache.get(s, "k") is None


def test_no_bound_keeps_nothing(sessions) -> None:
    cache: recent.Recent[str, str] = recent.Recent("test-b", 0, Clock())
    with sessions() as s:
        cache.put("k", "v", cache.begin(s))
        assert cache.get(s, "k") is None


def test_a_change_empties_the_caches_of_its_kind_at_the_commit(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    mine: recent.Recent[str, str] = recent.Recent("test-c", 1.0, clock)
    other_hub: recent.Recent[str, str] = recent.Recent("test-c", 1.0, clock)
    unrelated: recent.Recent[str, str] = recent.Recent("test-d", 1.0, clock)
    with sessions() as writer, sessions() as reader:
        for cache in (mine, other_hub, unrelated):
            cache.put("k", "old", cache.begin(reader))
        recent.changed(writer, "test-c")
        # The writer sees its own rows, never the kept ones, and keeps nothing it reads.
        assert mine.get(writer, "k") is None and mine.begin(writer) is None
        assert unrelated.get(writer, "k") == "old"
        # Before the COMMIT the old rows are what everyone else reads: a reload between the
        # write and the COMMIT is kept...
        assert mine.get(reader, "k") == "old"
        mine.put("k", "reloaded", mine.begin(reader))
        ticket = other_hub.begin(reader)  # a read begun before the COMMIT, finished after it
        writer.commit()
        # ... and dropped by the COMMIT, in every cache of the kind in the process.
        assert mine.get(reader, "k") is None and other_hub.get(reader, "k") is None
        other_hub.put("k", "stale", ticket)
        assert other_hub.get(reader, "k") is None  # begun before the change: not kept
        assert unrelated.get(reader, "k") == "old"
        # After its COMMIT the writer uses the caches again, and a later change acts again.
        mine.put("k", "new", mine.begin(writer))
        assert mine.get(writer, "k") == "new"
        recent.changed(writer, "test-c")
        writer.commit()
        assert mine.get(reader, "k") is None


def test_a_change_rolled_back_leaves_the_session_reading_fresh_until_it_ends(
    sessions: sessionmaker[Session],
) -> None:
    cache: recent.Recent[str, str] = recent.Recent("test-e", 1.0, Clock())
    with sessions() as writer, sessions() as reader:
        cache.put("k", "v", cache.begin(reader))
        recent.changed(writer, "test-e")
        writer.rollback()
        assert cache.get(reader, "k") == "v"  # nothing was committed: nothing to forget
        assert cache.get(writer, "k") is None
