"""revocation answers fetched from the network (SPEC 5.1)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:18:06

CRLs, OCSP answers and caIssuers certificates fetched for certificates the hub did not issue:
the cache (newest row of a lookup until expires_at) and the evidence reports point to.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.core.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocation_answers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lookup", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("issuer_key", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("this_update", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_update", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refresh_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("subject_not_after", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_with", sa.LargeBinary(), nullable=False),
        sa.Column("request_der", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_answers")),
        sa.UniqueConstraint("lookup", "sha256", name="uq_revocation_answers_lookup_sha256"),
    )
    with op.batch_alter_table("revocation_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_revocation_answers_lookup_expires", ["lookup", "expires_at"], unique=False
        )
        batch_op.create_index("ix_revocation_answers_refresh_at", ["refresh_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_revocation_answers_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("revocation_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revocation_answers_sha256"))
        batch_op.drop_index("ix_revocation_answers_refresh_at")
        batch_op.drop_index("ix_revocation_answers_lookup_expires")

    op.drop_table("revocation_answers")
