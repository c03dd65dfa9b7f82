"""retention: knit_retention_reports, what each policy applied by knit_retention did

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knit_retention_reports",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("policy", sa.String(length=255), nullable=False),
        sa.Column("ran_at", sa.BigInteger(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_knit_retention_reports")),
    )
    op.create_index("ix_knit_retention_reports_policy_ran_at", "knit_retention_reports", ["policy", "ran_at"])


def downgrade() -> None:
    op.drop_index("ix_knit_retention_reports_policy_ran_at", table_name="knit_retention_reports")
    op.drop_table("knit_retention_reports")
