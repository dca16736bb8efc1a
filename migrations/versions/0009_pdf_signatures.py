"""PDF attachments' signatures on documents; sent_self_signed and sent_pdf_signed counters

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-30 00:30:00

documents.pdf_indication / pdf_signed summarise the PDF verdicts of the latest report (SPEC
5.3); the statistics tables gain the two SPEC 9 counters. Existing documents have no PDF
verdicts (they were accepted before PDFs were checked); `lienthong stats rebuild` recounts
sent_self_signed for them from the documents.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTERS = ("sent_self_signed", "sent_pdf_signed")


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf_indication", sa.String(length=30), nullable=True))
        batch_op.add_column(
            sa.Column("pdf_signed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for table in ("stats_daily", "stats_monthly"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in COUNTERS:
                batch_op.add_column(
                    sa.Column(column, sa.Integer(), nullable=False, server_default="0")
                )


def downgrade() -> None:
    for table in ("stats_daily", "stats_monthly"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in COUNTERS:
                batch_op.drop_column(column)
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("pdf_signed")
        batch_op.drop_column("pdf_indication")
