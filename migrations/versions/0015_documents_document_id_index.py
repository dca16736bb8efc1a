"""an index on documents.document_id alone

Revision ID: 0015
Revises: 0010
Create Date: 2026-11-30 03:50:00

`GET /documents?document_id=` looks a DocumentId up across senders; the unique index on
(from_organ, document_id) is partial (not quarantined) and could not serve it, so the
lookup read every document.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_documents_document_id", "documents", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_documents_document_id", table_name="documents")
