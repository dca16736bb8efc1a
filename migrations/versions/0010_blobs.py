"""blobs in the database: every hub process on every machine reaches them

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-30 00:30:00

`blobs` holds a stored message's bytes inline (up to 1 MiB) or names its chunks in
`blob_chunks` (1 MiB each), written while the message is serialised (SPEC 12: several hub
processes sharing one PostgreSQL serve every document, whichever process accepted it).
Blobs already in DATA_DIR/blobs stay there: set BLOB_STORE=directory to keep reading them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.drop_table("blob_chunks")
    op.drop_table("blobs")
