"""data: purged_at (knit data purge) and knit_data_reads (downloads in progress, which purge waits for)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knit_data", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "knit_data_reads",
        sa.Column("read_id", sa.String(length=36), nullable=False),
        sa.Column("knit_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["knit_id"], ["knit_data.knit_id"], name=op.f("fk_knit_data_reads_knit_id_knit_data"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("read_id", name=op.f("pk_knit_data_reads")),
    )
    with op.batch_alter_table("knit_data_reads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knit_data_reads_knit_id"), ["knit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("knit_data_reads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knit_data_reads_knit_id"))
    op.drop_table("knit_data_reads")
    with op.batch_alter_table("knit_data", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
