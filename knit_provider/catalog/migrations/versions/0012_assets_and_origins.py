"""Knit Data as Airflow assets: the feed of usable Data, watched KnitAssets and their deliveries; the Airflow task
that pushed an upload (its lineage root)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "knit_asset_feed",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("knit_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["knit_id"], ["knit_data.knit_id"], name=op.f("fk_knit_asset_feed_knit_id_knit_data"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_knit_asset_feed")),
    )
    op.create_index(op.f("ix_knit_asset_feed_knit_id"), "knit_asset_feed", ["knit_id"], unique=False)
    # the Data usable already, so a KnitAsset with backfill=True finds them too
    op.execute(
        "INSERT INTO knit_asset_feed (knit_id, at) SELECT d.knit_id, r.finished_at FROM knit_data d "
        "JOIN knit_runs r ON r.run_id = d.run_id WHERE r.status = 'done' AND d.purged_at IS NULL "
        "ORDER BY r.finished_at, d.knit_id"
    )
    op.create_table(
        "knit_asset_watches",
        sa.Column("asset_key", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("asset_key", name=op.f("pk_knit_asset_watches")),
    )
    op.create_table(
        "knit_asset_deliveries",
        sa.Column("asset_key", sa.String(length=64), nullable=False),
        sa.Column("knit_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("airflow_asset_id", sa.BigInteger(), nullable=True),
        sa.Column("airflow_event_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_key"],
            ["knit_asset_watches.asset_key"],
            name=op.f("fk_knit_asset_deliveries_asset_key_knit_asset_watches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_key", "knit_id", name=op.f("pk_knit_asset_deliveries")),
    )
    op.create_index(op.f("ix_knit_asset_deliveries_knit_id"), "knit_asset_deliveries", ["knit_id"], unique=False)
    op.create_index(op.f("ix_knit_asset_deliveries_state"), "knit_asset_deliveries", ["state"], unique=False)
    op.create_table(
        "knit_run_origins",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("origin_key", sa.String(length=64), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("dagrun_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("push_key", sa.String(length=250), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["knit_runs.run_id"], name=op.f("fk_knit_run_origins_run_id_knit_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_knit_run_origins")),
        sa.UniqueConstraint("origin_key", name=op.f("uq_knit_run_origins_origin_key")),
    )


def downgrade() -> None:
    op.drop_table("knit_run_origins")
    op.drop_index(op.f("ix_knit_asset_deliveries_state"), table_name="knit_asset_deliveries")
    op.drop_index(op.f("ix_knit_asset_deliveries_knit_id"), table_name="knit_asset_deliveries")
    op.drop_table("knit_asset_deliveries")
    op.drop_table("knit_asset_watches")
    op.drop_index(op.f("ix_knit_asset_feed_knit_id"), table_name="knit_asset_feed")
    op.drop_table("knit_asset_feed")
