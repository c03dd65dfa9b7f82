"""Run control (beyond Knitfab): the journal of Run status changes and the outbox of lifecycle hook calls

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knit_run_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("run", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_knit_run_events")),
    )
    op.create_index(op.f("ix_knit_run_events_run_id"), "knit_run_events", ["run_id"], unique=False)
    op.create_table(
        "knit_hook_deliveries",
        sa.Column("delivery_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_knit_hook_deliveries")),
        sa.UniqueConstraint("run_id", "attempt", "to_status", "phase", "url", name="uq_knit_hook_deliveries_call"),
    )
    op.create_index(
        "ix_knit_hook_deliveries_state_next_try_at", "knit_hook_deliveries", ["state", "next_try_at"], unique=False
    )
    op.create_index("ix_knit_hook_deliveries_run_id_url", "knit_hook_deliveries", ["run_id", "url"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_knit_hook_deliveries_run_id_url", table_name="knit_hook_deliveries")
    op.drop_index("ix_knit_hook_deliveries_state_next_try_at", table_name="knit_hook_deliveries")
    op.drop_table("knit_hook_deliveries")
    op.drop_index(op.f("ix_knit_run_events_run_id"), table_name="knit_run_events")
    op.drop_table("knit_run_events")
