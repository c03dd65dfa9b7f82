"""The catalog's tables: Knit's own, never Airflow's (prefixed ``knit_``).

Tags are interned (``knit_tags``) so that matching a Data against every Plan input is one indexed
GROUP BY over small integers. Times are epoch milliseconds (see ``core.timefmt``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The pseudo-plan whose Runs are uploads: no inputs, one output ``/upload``; a lineage root.
UPLOAD_PLAN_ID = "261d29b6-df9c-5b4c-8ae6-602690ad35d2"  # uuid5(NAMESPACE_URL, "knit#uploaded"); migration 0001
UPLOAD_PLAN_NAME = "knit#uploaded"
UPLOAD_PATH = "/upload"

ID = String(36)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TagRow(Base):
    __tablename__ = "knit_tags"
    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(1024))
    __table_args__ = (UniqueConstraint("key", "value", name="uq_knit_tags_key_value"),)


class PlanRow(Base):
    __tablename__ = "knit_plans"
    plan_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    image: Mapped[str | None] = mapped_column(String(1024))
    entrypoint: Mapped[list | None] = mapped_column(JSON)
    args: Mapped[list | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    resources: Mapped[dict] = mapped_column(JSON, default=dict)
    on_node: Mapped[dict | None] = mapped_column(JSON)
    service_account: Mapped[str | None] = mapped_column(String(253))
    annotations: Mapped[list] = mapped_column(JSON, default=list)
    identity: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class PlanInputRow(Base):
    __tablename__ = "knit_plan_inputs"
    input_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_plans.plan_id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    n_user_tags: Mapped[int] = mapped_column(Integer, index=True)  # pin-only inputs (0) are looked up by it
    pin_knit_id: Mapped[str | None] = mapped_column(ID)
    pin_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("plan_id", "position", name="uq_knit_plan_inputs_plan_position"),)


class PlanInputTagRow(Base):
    __tablename__ = "knit_plan_input_tags"
    input_id: Mapped[int] = mapped_column(ForeignKey("knit_plan_inputs.input_id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("knit_tags.tag_id"), primary_key=True, index=True)


class PlanOutputRow(Base):
    """An output mount point, or the log when ``is_log`` (then ``path`` is NULL)."""

    __tablename__ = "knit_plan_outputs"
    output_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_plans.plan_id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(String(1024))
    is_log: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("plan_id", "position", name="uq_knit_plan_outputs_plan_position"),)


class PlanOutputTagRow(Base):
    __tablename__ = "knit_plan_output_tags"
    output_id: Mapped[int] = mapped_column(
        ForeignKey("knit_plan_outputs.output_id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("knit_tags.tag_id"), primary_key=True)


class RunRow(Base):
    """A Run; ``combo_key`` (its input knit ids in input order) is unique per plan: never twice."""

    __tablename__ = "knit_runs"
    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_plans.plan_id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    combo_key: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger, index=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    exit_message: Mapped[str | None] = mapped_column(Text)
    #: When an executor last tried to start this waiting Run (ms); NULL = never. Lets a dispatch that failed
    #: (e.g. the Plan's DAG not parsed yet) be retried later without a hot loop.
    dispatched_at: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("plan_id", "combo_key", name="uq_knit_runs_plan_combo"),
        Index("ix_knit_runs_plan_status", "plan_id", "status"),
    )


class RunInputRow(Base):
    """Which Data a Run consumed at which input (kept for tombstones even if an upload is removed)."""

    __tablename__ = "knit_run_inputs"
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_runs.run_id", ondelete="CASCADE"), primary_key=True)
    input_id: Mapped[int] = mapped_column(ForeignKey("knit_plan_inputs.input_id"), primary_key=True)
    knit_id: Mapped[str] = mapped_column(ID, index=True)


class DataRow(Base):
    __tablename__ = "knit_data"
    knit_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_runs.run_id"), index=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("knit_plan_outputs.output_id"))
    checksum: Mapped[str | None] = mapped_column(String(80))
    size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DataTagRow(Base):
    __tablename__ = "knit_data_tags"
    knit_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_data.knit_id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("knit_tags.tag_id"), primary_key=True, index=True)


class NominationRow(Base):
    """Data currently satisfying a Plan input (recomputed on every cause; Runs are never removed with it)."""

    __tablename__ = "knit_nominations"
    input_id: Mapped[int] = mapped_column(ForeignKey("knit_plan_inputs.input_id", ondelete="CASCADE"), primary_key=True)
    knit_id: Mapped[str] = mapped_column(
        ID, ForeignKey("knit_data.knit_id", ondelete="CASCADE"), primary_key=True, index=True
    )


tags_t = TagRow.__table__
plans_t = PlanRow.__table__
inputs_t = PlanInputRow.__table__
input_tags_t = PlanInputTagRow.__table__
outputs_t = PlanOutputRow.__table__
output_tags_t = PlanOutputTagRow.__table__
runs_t = RunRow.__table__
run_inputs_t = RunInputRow.__table__
data_t = DataRow.__table__
data_tags_t = DataTagRow.__table__
nominations_t = NominationRow.__table__
