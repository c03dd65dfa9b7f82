"""keyset pages: (created_at, id) indexes on Data, Runs and Plans, for lists read newest first from a cursor

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = (
    ("knit_data", "ix_knit_data_created_at_knit_id", ["created_at", "knit_id"]),
    ("knit_runs", "ix_knit_runs_created_at_run_id", ["created_at", "run_id"]),
    ("knit_plans", "ix_knit_plans_created_at_plan_id", ["created_at", "plan_id"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in INDEXES:
        op.drop_index(name, table_name=table)
