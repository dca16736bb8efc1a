"""blobs in the database; audit entries and counter deltas handed to the sequencer

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 00:30:00

`blobs` holds a stored message's bytes inline (up to 1 MiB) or names its chunks in
`blob_chunks` (1 MiB each), written while the message is serialised (SPEC 12: several hub
processes sharing one PostgreSQL serve every document, whichever process accepted it).
Blobs already in DATA_DIR/blobs stay there: set BLOB_STORE=directory to keep reading them.

`audit_pending` and `stats_deltas` take what a transaction appends to the audit chain and
adds to the counters on PostgreSQL, without locking the chain's head or a counter row; the
sequencer (app/core/sequencer.py) links and folds them after each commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


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
    "sent_self_signed",  # 0009
    "sent_pdf_signed",  # 0009
)
STATUSES = tuple(f"status_{c}" for c in ("01", "02", "03", "04", "05", "06", "13", "15", "16"))
LATENCY = tuple(f"lat_{k:02d}" for k in range(60))
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    op.create_table(
        "stats_deltas",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            for name in COUNTERS + STATUSES + LATENCY
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_deltas")),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("chunked", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blobs")),
        sa.UniqueConstraint("chunked", name=op.f("uq_blobs_chunked")),
    )
    op.create_table(
        "blob_chunks",
        sa.Column("blob", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob", "seq", name=op.f("pk_blob_chunks")),
    )


def downgrade() -> None:
    # Fold what is pending first (any hub process does after a commit): these rows are lost.
    op.drop_table("stats_deltas")
    op.drop_table("audit_pending")
    op.drop_table("blob_chunks")
    op.drop_table("blobs")
