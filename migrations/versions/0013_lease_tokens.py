"""lease tokens: each claim of a delivery, held document or pending timestamp gets a token

Revision ID: 0013
Revises: 0015
Create Date: 2026-11-30 03:40:00

A worker renews its lease while it works and settles only while the row still carries its
worker id and the token of its claim (app/core/leases.py), so the late outcome of a worker
whose lease was taken over never overwrites the newer one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "held_documents", "pending_timestamps")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease_token", sa.String(length=36), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease_token")
