"""Counter rows: one per (organization, local day), and the same summed per calendar month.

Days answer any range; months make a year 12 rows per organization instead of 365, so the
annual report reads a few hundred rows whatever the number of documents. Both tables are
written by the same upsert at commit (app.stats.listener.apply). `year` and `month` are stored
as integers so that grouping is the same plain SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import BigInteger, Date, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.stats.counters import COLUMNS


class StatsDaily(Base):
    __tablename__ = "stats_daily"

    organ_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)


class StatsMonthly(Base):
    __tablename__ = "stats_monthly"

    organ_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)


class StatsDelta(Base):
    """Counter changes committed but not yet added to stats_daily and stats_monthly
    (PostgreSQL): each transaction inserts its own without locking a counter row; the
    sequencer folds them in (`app.stats.listener.fold_deltas`). Stored counters are these
    tables plus the deltas (`stats check` reads both in one snapshot)."""

    __tablename__ = "stats_deltas"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    organ_id: Mapped[str] = mapped_column(String(35))
    day: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)


for _model in (StatsDaily, StatsMonthly, StatsDelta):
    for _column in COLUMNS:
        # Declared in a loop: 78 counters that differ only by name (see app.stats.counters).
        setattr(
            _model,
            _column,
            mapped_column(_column, Integer, nullable=False, server_default="0"),
        )

Index("ix_stats_daily_day", StatsDaily.day)

STATS_TABLE = cast(Table, StatsDaily.__table__)
MONTHLY_TABLE = cast(Table, StatsMonthly.__table__)
DELTAS_TABLE = cast(Table, StatsDelta.__table__)
