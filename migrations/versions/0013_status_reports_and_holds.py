"""validation reports and holds for status messages

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 03:30:00

A status message keeps its validation report (with its RFC 3161 token) like a document does
(SPEC 5, 5.2): `validation_reports.status` names the status a report is about (NULL: the
document's own). A status from the axis whose signature is TRY_LATER is held like a document
(SPEC 5.1): `held_documents.kind` says which (existing rows are documents).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("validation_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_validation_reports_status_status_messages"),
            "status_messages",
            ["status"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_validation_reports_status"), ["status"], unique=False)
    with op.batch_alter_table("held_documents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="document")
        )


def downgrade() -> None:
    with op.batch_alter_table("held_documents", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("validation_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_reports_status"))
        batch_op.drop_constraint(
            batch_op.f("fk_validation_reports_status_status_messages"), type_="foreignkey"
        )
        batch_op.drop_column("status")
