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
    #: Beyond Knitfab: ``{"timeout_s", "retries", "retry_delay_s"}`` as the Plan set them (core.run_control).
    run_control: Mapped[dict | None] = mapped_column(JSON)
    identity: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: keyset pages, newest first (migration 0007)
    __table_args__ = (Index("ix_knit_plans_created_at_plan_id", "created_at", "plan_id"),)


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
    heartbeat_at: Mapped[int | None] = mapped_column(BigInteger)
    #: The current attempt (1 for the first; automatic retries and ``knit run retry`` count up) and its start.
    attempt: Mapped[int | None] = mapped_column(Integer)
    attempt_started_at: Mapped[int | None] = mapped_column(BigInteger)
    #: What created the Run (``catalog.causes``): the event (upload, tag-edit, run-done, plan-apply), the Data,
    #: Run or Plan it concerned, and who wrote it. NULL for Runs created before causes were kept (migration 0008).
    cause: Mapped[str | None] = mapped_column(String(16))
    cause_ref: Mapped[str | None] = mapped_column(ID)
    cause_actor: Mapped[str | None] = mapped_column(String(255))
    #: The last change made to the Run by hand (retry, stop, abort, rm, the Plan (de)activated), by whom, when (ms).
    action: Mapped[str | None] = mapped_column(String(16))
    action_actor: Mapped[str | None] = mapped_column(String(255))
    action_at: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("plan_id", "combo_key", name="uq_knit_runs_plan_combo"),
        Index("ix_knit_runs_plan_status", "plan_id", "status"),
        Index("ix_knit_runs_created_at_run_id", "created_at", "run_id"),  # keyset pages (migration 0007)
    )


class RunAttemptRow(Base):
    """An attempt at a Run that has ended: its exit, for ``knit run show`` (the current attempt is the Run's own)."""

    __tablename__ = "knit_run_attempts"
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_runs.run_id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[int] = mapped_column(BigInteger)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    exit_message: Mapped[str | None] = mapped_column(Text)


class RunEventRow(Base):
    """A Run's status change, written in the transaction that made it (beyond Knitfab): the journal the lifecycle
    hooks and Airflow's listeners are fed from, so none is lost to a crash. ``run`` is the Run's JSON just after the
    change; ``previous`` the keys that differed just before it. Consumed events are deleted (service.lifecycle_hooks).
    """

    __tablename__ = "knit_run_events"
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID, index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[int] = mapped_column(BigInteger)
    run: Mapped[dict] = mapped_column(JSON)
    previous: Mapped[dict] = mapped_column(JSON)


class HookDeliveryRow(Base):
    """One call of one lifecycle hook URL (Knitfab's ``lifecycle-hooks``), kept until delivered or expired: the
    outbox. Deliveries of one Run to one URL go out in ``delivery_id`` order; ``state`` is pending, delivered or
    failed (expired). One row per (Run, attempt, transition, phase, URL): recording a call twice is a no-op."""

    __tablename__ = "knit_hook_deliveries"
    delivery_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID)
    attempt: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(8))  # before | after
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[int] = mapped_column(BigInteger)
    claimed_until: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)  # delivered or given up
    __table_args__ = (
        UniqueConstraint("run_id", "attempt", "to_status", "phase", "url", name="uq_knit_hook_deliveries_call"),
        Index("ix_knit_hook_deliveries_state_next_try_at", "state", "next_try_at"),
        Index("ix_knit_hook_deliveries_run_id_url", "run_id", "url"),
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
    #: When ``knit data purge`` deleted its bytes (ms); NULL = never. Recorded before the bytes go, so a purged
    #: Data is never served, nominated or mounted again even if the deletion itself was cut short.
    purged_at: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_knit_data_created_at_knit_id", "created_at", "knit_id"),)  # keyset pages (0007)


class DataReadRow(Base):
    """A download (or extraction) of a Data's bytes in progress: purge waits for it. A reader renews its row while
    it reads and deletes it at the end; a reader that crashed stops blocking once ``expires_at`` (ms) passed."""

    __tablename__ = "knit_data_reads"
    read_id: Mapped[str] = mapped_column(ID, primary_key=True)
    knit_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_data.knit_id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class SettingRow(Base):
    """A deployment-wide value every component reads from the catalog: ``data_store``, the Data store in use once
    ``knit admin migrate-store`` switched it (it then wins over ``[knit] data_store`` and ``KNIT_DATA_STORE``)."""

    __tablename__ = "knit_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


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


class RetentionReportRow(Base):
    """What applying a retention policy did (``knit_retention``): the Retention page shows each policy's newest."""

    __tablename__ = "knit_retention_reports"
    report_id: Mapped[str] = mapped_column(ID, primary_key=True)
    policy: Mapped[str] = mapped_column(String(255))
    ran_at: Mapped[int] = mapped_column(BigInteger)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    count: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    report: Mapped[str] = mapped_column(Text)  # JSON
    __table_args__ = (Index("ix_knit_retention_reports_policy_ran_at", "policy", "ran_at"),)


#: an autoincrementing 64-bit key (SQLite autoincrements only an INTEGER primary key)
SEQ = BigInteger().with_variant(Integer(), "sqlite")


class AssetFeedRow(Base):
    """Data that became usable (their Run done) or gained tags while usable, in commit order: the change cursor
    KnitAsset watchers poll (``max(seq)``). Writers are serialized, so seqs become visible in order."""

    __tablename__ = "knit_asset_feed"
    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    knit_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_data.knit_id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)


class AssetWatchRow(Base):
    """A ``KnitAsset(tags=...)`` being delivered: ``position`` is the feed seq up to which it has been served."""

    __tablename__ = "knit_asset_watches"
    asset_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class AssetDeliveryRow(Base):
    """One Data delivered to one KnitAsset, at most once (the primary key): ``sent`` when the trigger handed it to
    Airflow, ``delivered`` once Airflow committed the asset event, ``pending`` when it must be sent again. Kept when
    the Data loses its tags or is purged: an asset event is never taken back."""

    __tablename__ = "knit_asset_deliveries"
    asset_key: Mapped[str] = mapped_column(
        ForeignKey("knit_asset_watches.asset_key", ondelete="CASCADE"), primary_key=True
    )
    knit_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)
    sent_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    airflow_asset_id: Mapped[int | None] = mapped_column(BigInteger)
    airflow_event_id: Mapped[int | None] = mapped_column(BigInteger)


class RunOriginRow(Base):
    """Where an upload came from when an Airflow task pushed it: the task instance is its lineage root.
    ``origin_key`` (the task instance and the push's key) is unique, so a retried task never pushes twice."""

    __tablename__ = "knit_run_origins"
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("knit_runs.run_id", ondelete="CASCADE"), primary_key=True)
    origin_key: Mapped[str] = mapped_column(String(64), unique=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    dagrun_id: Mapped[str] = mapped_column(String(250))
    map_index: Mapped[int] = mapped_column(Integer)
    try_number: Mapped[int] = mapped_column(Integer)
    push_key: Mapped[str] = mapped_column(String(250))
    url: Mapped[str | None] = mapped_column(Text)


tags_t = TagRow.__table__
plans_t = PlanRow.__table__
inputs_t = PlanInputRow.__table__
input_tags_t = PlanInputTagRow.__table__
outputs_t = PlanOutputRow.__table__
output_tags_t = PlanOutputTagRow.__table__
runs_t = RunRow.__table__
run_inputs_t = RunInputRow.__table__
run_attempts_t = RunAttemptRow.__table__
run_events_t = RunEventRow.__table__
hook_deliveries_t = HookDeliveryRow.__table__
data_t = DataRow.__table__
data_tags_t = DataTagRow.__table__
data_reads_t = DataReadRow.__table__
nominations_t = NominationRow.__table__
retention_reports_t = RetentionReportRow.__table__
settings_t = SettingRow.__table__
asset_feed_t = AssetFeedRow.__table__
asset_watches_t = AssetWatchRow.__table__
asset_deliveries_t = AssetDeliveryRow.__table__
run_origins_t = RunOriginRow.__table__
