"""runs: the cause each Run was created by (event, what, who) and the last change made to it by hand

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00

Runs created before this revision keep NULL causes: ``knit explain run`` says they were recorded before causes
were kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (
    ("cause", sa.String(length=16)),
    ("cause_ref", sa.String(length=36)),
    ("cause_actor", sa.String(length=255)),
    ("action", sa.String(length=16)),
    ("action_actor", sa.String(length=255)),
    ("action_at", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("knit_runs", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knit_runs", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
