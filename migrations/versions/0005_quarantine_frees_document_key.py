"""quarantined documents do not occupy (From, DocumentId)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:40:00

The unique constraint on documents (from_organ, document_id) becomes a partial unique index
that leaves quarantined rows out (SPEC 5): a forged copy from the axis no longer makes the
real document a duplicate. Partial indexes work alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOT_QUARANTINED = sa.text("NOT quarantined")


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint("uq_documents_from_organ", type_="unique")
    op.create_index(
        "uq_documents_sender_document_id",
        "documents",
        ["from_organ", "document_id"],
        unique=True,
        sqlite_where=NOT_QUARANTINED,
        postgresql_where=NOT_QUARANTINED,
    )


def downgrade() -> None:
    # Fails if quarantined copies now share a key with a real document: delete those first.
    op.drop_index("uq_documents_sender_document_id", table_name="documents")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_documents_from_organ", ["from_organ", "document_id"])
