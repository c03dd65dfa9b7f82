"""Run control (beyond Knitfab): plans.run_control (timeout, retries), runs.attempt and its start, and the ended
attempts of a Run

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knit_plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_control", sa.JSON(), nullable=True))
    with op.batch_alter_table("knit_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attempt_started_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "knit_run_attempts",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("exit_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["knit_runs.run_id"], name=op.f("fk_knit_run_attempts_run_id_knit_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "attempt", name=op.f("pk_knit_run_attempts")),
    )


def downgrade() -> None:
    op.drop_table("knit_run_attempts")
    with op.batch_alter_table("knit_runs", schema=None) as batch_op:
        batch_op.drop_column("attempt_started_at")
        batch_op.drop_column("attempt")
    with op.batch_alter_table("knit_plans", schema=None) as batch_op:
        batch_op.drop_column("run_control")
