"""One row of counters per (organization, local day): the roll-up the statistics read.

Months, quarters and years are sums of days, so no request scans documents. `year` and `month`
are stored beside `day` so that grouping is the same plain SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import Date, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.stats.counters import COLUMNS


class StatsDaily(Base):
    __tablename__ = "stats_daily"

    organ_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)


for _column in COLUMNS:
    # Declared in a loop: 78 counters that differ only by name (see app.stats.counters).
    setattr(
        StatsDaily,
        _column,
        mapped_column(_column, Integer, nullable=False, default=0, server_default="0"),
    )

Index("ix_stats_daily_day", StatsDaily.day)

STATS_TABLE = cast(Table, StatsDaily.__table__)
