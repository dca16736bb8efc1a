"""The transaction helpers of app.core.db: read first, write late, one place that commits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.db import begin_write, commit_despite, committed, read_first
from app.core.errors import Conflict
from app.directory.models import Organization


def _org(code: str) -> Organization:
    return Organization(organ_id=code, name=code, level=1, route="local", active=True)


def _count(sessions) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Organization)) or 0)


def test_an_error_rolls_back_unless_the_service_kept_that_refusal(sessions) -> None:
    with pytest.raises(Conflict), committed(sessions()) as s:
        s.add(_org("000.00.01.H39"))
        s.flush()
        raise Conflict("refused", code="test.refused")
    assert _count(sessions) == 0

    kept = Conflict("refused but recorded", code="test.refused")
    with pytest.raises(Conflict), committed(sessions()) as s:
        s.add(_org("000.00.01.H39"))
        commit_despite(s, kept)
        raise kept
    assert _count(sessions) == 1

    # Another error than the one kept still rolls everything back.
    with pytest.raises(ValueError), committed(sessions()) as s:
        s.add(_org("000.00.02.H39"))
        commit_despite(s, Conflict("not this one", code="test.refused"))
        raise ValueError("unexpected")
    assert _count(sessions) == 1


def test_a_reading_session_does_not_block_another_writer(sessions) -> None:
    reader = sessions()
    try:
        read_first(reader)
        assert reader.scalar(select(func.count()).select_from(Organization)) == 0
        # The reader's transaction is open; a writer commits meanwhile (on SQLite it would
        # wait for the write lock if the reader had begun IMMEDIATE).
        with committed(sessions()) as writer:
            writer.add(_org("000.00.01.H39"))
        begin_write(reader)  # the read transaction ends: the writer's row is seen
        reader.add(_org("000.00.02.H39"))
        reader.commit()
    finally:
        reader.close()
    assert _count(sessions) == 2


def test_begin_write_refuses_rows_changed_while_reading_on_sqlite(sessions) -> None:
    with sessions() as s:
        read_first(s)
        s.scalar(select(func.count()).select_from(Organization))
        s.add(_org("000.00.01.H39"))
        if _sqlite(s):
            with pytest.raises(RuntimeError, match="before begin_write"):
                begin_write(s)
        else:
            begin_write(s)  # PostgreSQL: one transaction throughout, nothing to hand over
            s.commit()
            assert _count(sessions) == 1


def _sqlite(s) -> bool:
    return bool(s.get_bind().dialect.name == "sqlite")


def test_a_write_in_a_read_transaction_is_refused_on_sqlite(sessions) -> None:
    with sessions() as s:
        read_first(s)
        s.add(_org("000.00.01.H39"))
        if _sqlite(s):
            with pytest.raises(RuntimeError, match="begin_write"):
                s.flush()
            s.rollback()
        else:
            s.flush()  # PostgreSQL: row locks, no database-wide write lock to take late
            s.commit()
    assert _count(sessions) == (0 if _sqlite(sessions()) else 1)
