"""held documents: axis documents whose signature is INDETERMINATE/TRY_LATER

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 00:30:00

SPEC 5.1: a document from the axis without fresh revocation data is held (not delivered, not
answered) and re-validated by the worker with backoff until it passes or HOLD_MAX_AGE passes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.core.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("axis_doc_id", sa.String(length=200), nullable=False),
        sa.Column("axis_from", sa.String(length=35), nullable=False),
        sa.Column("axis_to", sa.JSON(), nullable=False),
        sa.Column("from_organ", sa.String(length=35), nullable=False),
        sa.Column("document_id", sa.String(length=300), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("held_since", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("indication", sa.String(length=30), nullable=False),
        sa.Column("sub_indication", sa.String(length=40), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("resolved_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("document", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_documents")),
        sa.UniqueConstraint("axis_doc_id", name=op.f("uq_held_documents_axis_doc_id")),
    )
    op.create_index(
        op.f("ix_held_documents_from_organ"), "held_documents", ["from_organ"], unique=False
    )
    op.create_index(
        "ix_held_documents_due", "held_documents", ["state", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_held_documents_due", table_name="held_documents")
    op.drop_index(op.f("ix_held_documents_from_organ"), table_name="held_documents")
    op.drop_table("held_documents")
