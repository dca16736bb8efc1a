"""pending timestamps

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30 00:16:36

Signatures whose RFC 3161 token the worker still has to fetch (SPEC 5.2): written in the
document's transaction, claimed under a lease. The hub's TSA key and certificate need no schema:
they are a `ca_material` row with role "tsa".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.core.db

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_timestamps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("document", sa.String(length=36), nullable=False),
        sa.Column("report", sa.String(length=36), nullable=False),
        sa.Column("imprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["document"], ["documents.id"], name=op.f("fk_pending_timestamps_document_documents")
        ),
        sa.ForeignKeyConstraint(
            ["report"],
            ["validation_reports.id"],
            name=op.f("fk_pending_timestamps_report_validation_reports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_timestamps")),
        sa.UniqueConstraint("report", name=op.f("uq_pending_timestamps_report")),
    )
    with op.batch_alter_table("pending_timestamps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_timestamps_document"), ["document"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pending_timestamps_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_timestamps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_timestamps_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_pending_timestamps_document"))

    op.drop_table("pending_timestamps")
