"""interchange statistics: daily and monthly counters per organization

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 22:23:58.098645
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# Frozen here on purpose: the counters as of this revision (see app/stats/counters.py).
COUNTERS = (
    "sent",
    "deliveries_sent",
    "received",
    "sent_signed",
    "received_valid",
    "central_sent",
    "central_received",
    "failed",
)
STATUSES = tuple(f"status_{c}" for c in ("01", "02", "03", "04", "05", "06", "13", "15", "16"))
LATENCY = tuple(f"lat_{k:02d}" for k in range(60))


def upgrade() -> None:
    op.create_table(
        "stats_daily",
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in COUNTERS + STATUSES + LATENCY
        ),
        sa.PrimaryKeyConstraint("organ_id", "day", name=op.f("pk_stats_daily")),
    )
    with op.batch_alter_table("stats_daily", schema=None) as batch_op:
        batch_op.create_index("ix_stats_daily_day", ["day"], unique=False)
    op.create_table(
        "stats_monthly",
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in COUNTERS + STATUSES + LATENCY
        ),
        sa.PrimaryKeyConstraint("organ_id", "year", "month", name=op.f("pk_stats_monthly")),
    )
    _backfill()


def _backfill() -> None:
    """A database that already holds documents gets its counters computed once, here."""
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT 1 FROM documents LIMIT 1")).first():
        return
    from app.stats.recount import rebuild

    try:
        with bind.begin_nested():
            rows = rebuild(bind)
        log.info("statistics backfilled: %d organization-days", rows)
    except Exception as exc:  # the schema moved on since this revision
        log.warning("statistics not backfilled (%s): run `lienthong stats rebuild`", exc)


def downgrade() -> None:
    op.drop_table("stats_monthly")
    with op.batch_alter_table("stats_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_daily_day")
    op.drop_table("stats_daily")
