"""Carrying Runs through an executor: what is pending, dispatch bookkeeping, the hand-off to a runner, the end.

Airflow-free on purpose: the trigger, the generator and the run operators are thin shells around these
functions, so every rule here is tested without a scheduler. The catalog, never an event, records pending work:
a Run is ``waiting`` until some executor has started it, whatever happened to the wake-up that announced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, case, func, or_, select, update

from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.models import UPLOAD_PLAN_ID, inputs_t, outputs_t, plans_t, runs_t
from knit_provider.catalog.plans import plan_slug
from knit_provider.catalog.views import run_details
from knit_provider.core.errors import Conflict, IllegalTransition
from knit_provider.core.layout import LOG_FILE
from knit_provider.core.lifecycle import LIVE, RunStatus
from knit_provider.core.timefmt import now_ms
from knit_provider.service import runs as service_runs
from knit_provider.service.context import Knit

S = RunStatus
DAG_PREFIX = "knit_plan__"
DAGRUN_PREFIX = "knit__"
#: The one task of every Plan's DAG (Airflow's task log page of a Run is under it).
RUN_TASK_ID = "run"
#: Statuses an executor holds (or should hold): the ones reconciliation checks against the executor.
HELD = frozenset(LIVE - {S.WAITING, S.DEACTIVATED})
EXIT_LOST = 255


def plan_dag_id(image: str | None, plan_id: str) -> str:
    """``knit_plan__<image-name>-<tag>-<id8>``: readable, stable for the Plan's life, unique."""
    return DAG_PREFIX + plan_slug(image or "plan:none", plan_id)


def dagrun_id(run_id: str) -> str:
    return DAGRUN_PREFIX + run_id


@dataclass(frozen=True)
class PlanDag:
    """What Airflow needs to build one Plan's DAG (Airflow-free, like cosmos' intermediate graph)."""

    dag_id: str
    plan_id: str
    image: str
    active: bool
    inputs: list[str]
    outputs: list[str]

    @property
    def description(self) -> str:
        return f"Knit Plan {self.plan_id}: {self.image}"


def plan_dags(engine: Engine) -> list[PlanDag]:
    """Every Plan but the upload pseudo-plan, with its ports, in creation order."""
    with read_tx(engine) as conn:
        inputs: dict[str, list[str]] = {}
        for plan_id, path in conn.execute(select(inputs_t.c.plan_id, inputs_t.c.path).order_by(inputs_t.c.position)):
            inputs.setdefault(plan_id, []).append(path)
        outputs: dict[str, list[str]] = {}
        for plan_id, path in conn.execute(
            select(outputs_t.c.plan_id, outputs_t.c.path)
            .where(outputs_t.c.is_log.is_(False))
            .order_by(outputs_t.c.position)
        ):
            outputs.setdefault(plan_id, []).append(path)
        rows = conn.execute(
            select(plans_t.c.plan_id, plans_t.c.image, plans_t.c.active)
            .where(plans_t.c.plan_id != UPLOAD_PLAN_ID)
            .order_by(plans_t.c.created_at, plans_t.c.plan_id)
        ).all()
    return [
        PlanDag(
            dag_id=plan_dag_id(r.image, r.plan_id),
            plan_id=r.plan_id,
            image=r.image or "",
            active=bool(r.active),
            inputs=inputs.get(r.plan_id, []),
            outputs=outputs.get(r.plan_id, []),
        )
        for r in rows
    ]


# ---- what is pending (the trigger's one cheap query) ------------------------------------------------------


@dataclass(frozen=True)
class PendingWork:
    """Counts behind a wake-up: Runs to dispatch now, and Runs an executor holds (to reconcile)."""

    dispatchable: int = 0
    held: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"dispatchable": self.dispatchable, "held": self.held}


def _due_for_dispatch(now: int, redispatch_after_s: float):
    """Never dispatched, or last tried long enough ago to try again (a waiting Run's dispatch stamp)."""
    cutoff = now - int(redispatch_after_s * 1000)
    return or_(runs_t.c.dispatched_at.is_(None), runs_t.c.dispatched_at <= cutoff)


def pending_work(engine: Engine, *, redispatch_after_s: float) -> PendingWork:
    """One query over the status index: live Runs grouped by status, with their oldest dispatch stamp."""
    due = func.sum(case((_due_for_dispatch(now_ms(), redispatch_after_s), 1), else_=0))
    query = (
        select(runs_t.c.status, func.count(), due)
        .where(runs_t.c.status.in_([s.value for s in HELD | {S.WAITING}]))
        .group_by(runs_t.c.status)
    )
    dispatchable = held = 0
    with read_tx(engine) as conn:
        for status, count, n_due in conn.execute(query):
            if status == S.WAITING.value:
                dispatchable = int(n_due or 0)
            else:
                held += int(count)
    return PendingWork(dispatchable=dispatchable, held=held)


# ---- dispatch ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatch:
    """One waiting Run to start: its Plan's DAG and the DagRun id derived from the Run."""

    run_id: str
    plan_id: str
    dag_id: str

    @property
    def dagrun_id(self) -> str:
        return dagrun_id(self.run_id)

    @property
    def conf(self) -> dict[str, str]:
        return {"knit_run_id": self.run_id, "knit_plan_id": self.plan_id}


#: Runs with what a Dispatch needs: the Plan's image names its DAG.
_DISPATCH_ROWS = select(runs_t.c.run_id, runs_t.c.plan_id, plans_t.c.image).join(
    plans_t, plans_t.c.plan_id == runs_t.c.plan_id
)


def _dispatch_of(row) -> Dispatch:
    return Dispatch(run_id=row.run_id, plan_id=row.plan_id, dag_id=plan_dag_id(row.image, row.plan_id))


def claim_dispatchable(
    knit: Knit, *, redispatch_after_s: float, run_ids: list[str] | None = None, limit: int = 500
) -> list[Dispatch]:
    """Stamp and return the waiting Runs due for dispatch (all, or those of ``run_ids``), oldest first.

    The stamp makes concurrent dispatchers skip each other's fresh claims; a Run whose dispatch failed
    becomes due again ``redispatch_after_s`` later. Starting twice is harmless anyway (DagRun ids are unique).
    """
    now = now_ms()
    query = (
        _DISPATCH_ROWS.where(runs_t.c.status == S.WAITING.value, runs_t.c.plan_id != UPLOAD_PLAN_ID)
        .where(_due_for_dispatch(now, redispatch_after_s))
        .order_by(runs_t.c.created_at, runs_t.c.run_id)
        .limit(limit)
    )
    if run_ids is not None:
        if not run_ids:
            return []
        query = query.where(runs_t.c.run_id.in_(run_ids))
    with write_tx(knit.engine) as conn:
        rows = conn.execute(query).all()
        if rows:
            conn.execute(update(runs_t).where(runs_t.c.run_id.in_([r.run_id for r in rows])).values(dispatched_at=now))
    return [_dispatch_of(r) for r in rows]


def release_claim(knit: Knit, run_id: str) -> None:
    """Forget a claim whose dispatch failed, so the generator's next pass takes the Run without waiting."""
    with write_tx(knit.engine) as conn:
        conn.execute(
            update(runs_t)
            .where(runs_t.c.run_id == run_id, runs_t.c.status == S.WAITING.value)
            .values(dispatched_at=None)
        )


def mark_dispatched(knit: Knit, run_id: str) -> bool:
    """waiting -> ready once its DagRun exists; False if the Run already moved on (its task was quicker)."""
    return _try_transition(knit, run_id, S.READY, only_from={S.WAITING})


def _try_transition(knit: Knit, run_id: str, target: RunStatus, *, only_from: set[RunStatus]) -> bool:
    with write_tx(knit.engine) as conn:
        status = RunStatus(catalog_runs.require_run(conn, run_id)["status"])
        if status not in only_from:
            return False
        catalog_runs.transition(conn, run_id, target)
        return True


# ---- execution --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    path: str  # where the program sees it, e.g. /in/dataset
    knit_id: str
    host_dir: Path


@dataclass(frozen=True)
class Assignment:
    """Everything a runner needs to execute one Run, resolved from the catalog and the Data store."""

    run_id: str
    plan_id: str
    image: str
    entrypoint: list[str] | None
    args: list[str] | None
    inputs: list[Port]
    outputs: list[Port]
    log_path: Path | None  # inside the log Data when the Plan keeps a log
    env: dict[str, str] = field(default_factory=dict)


def status_of(knit: Knit, run_id: str) -> RunStatus:
    with read_tx(knit.engine) as conn:
        return RunStatus(catalog_runs.require_run(conn, run_id)["status"])


def begin(knit: Knit, run_id: str) -> Assignment:
    """waiting/ready -> starting, with empty output directories ready for the program to fill."""
    with write_tx(knit.engine) as conn:
        run = catalog_runs.require_run(conn, run_id)
        status = RunStatus(run["status"])
        if status not in (S.WAITING, S.READY):
            raise Conflict(f"run {run_id} cannot start: it is {status.value}")
        if status is S.WAITING:
            catalog_runs.transition(conn, run_id, S.READY)
        catalog_runs.transition(conn, run_id, S.STARTING)
        plan = conn.execute(select(plans_t).where(plans_t.c.plan_id == run["plan_id"])).mappings().one()
        detail = run_details(conn, [run_id])[0]
    inputs = [Port(i["path"], i["knitId"], knit.store.path(i["knitId"])) for i in detail["inputs"]]
    outputs = [Port(o["path"], o["knitId"], knit.store.create_empty(o["knitId"])) for o in detail["outputs"]]
    log_path = None
    if detail["log"] is not None:
        log_path = knit.store.create_empty(detail["log"]["knitId"]) / LOG_FILE
    return Assignment(
        run_id=run_id,
        plan_id=run["plan_id"],
        image=plan["image"] or "",
        entrypoint=plan["entrypoint"],
        args=plan["args"],
        inputs=inputs,
        outputs=outputs,
        log_path=log_path,
        env={"KNIT_RUN_ID": run_id, "KNIT_PLAN_ID": run["plan_id"]},
    )


def started(knit: Knit, run_id: str) -> bool:
    """starting -> running when the program is up; False if the Run was stopped meanwhile."""
    return _try_transition(knit, run_id, S.RUNNING, only_from={S.STARTING})


@dataclass(frozen=True)
class Ending:
    """How a Run ended, and the Runs its outputs caused (to dispatch at once)."""

    status: RunStatus
    exit_code: int | None
    message: str
    created_runs: list[str]


def conclude(knit: Knit, run_id: str, *, exit_code: int, message: str) -> Ending:
    """Record a program's end: outputs measured, then done or failed; a stopped Run keeps the stop's verdict."""
    contents = service_runs.measure_outputs(knit, run_id)
    with write_tx(knit.engine) as conn:
        status = RunStatus(catalog_runs.require_run(conn, run_id)["status"])
        catalog_runs.record_content(conn, contents)
        if status in (S.READY, S.STARTING, S.RUNNING):
            target = S.COMPLETING if exit_code == 0 else S.ABORTING
            catalog_runs.transition(conn, run_id, target, exit_code=exit_code, exit_message=message)
        created = catalog_runs.finalize(conn, run_id) if status in HELD else []
        row = catalog_runs.require_run(conn, run_id)
    return Ending(RunStatus(row["status"]), row["exit_code"], row["exit_message"] or "", created)


def abandon(knit: Knit, run_id: str, message: str, *, exit_code: int = EXIT_LOST) -> Ending | None:
    """End a Run whose executor is gone: held -> failed (a stop already asked for keeps its verdict).

    None when the Run is no longer held (it finished after all, or was never started).
    """
    try:
        with write_tx(knit.engine) as conn:
            status = RunStatus(catalog_runs.require_run(conn, run_id)["status"])
            if status not in HELD:
                return None
            if status not in (S.COMPLETING, S.ABORTING):
                catalog_runs.transition(conn, run_id, S.ABORTING, exit_code=exit_code, exit_message=message)
            created = catalog_runs.finalize(conn, run_id)
            row = catalog_runs.require_run(conn, run_id)
    except IllegalTransition:
        return None
    return Ending(RunStatus(row["status"]), row["exit_code"], row["exit_message"] or "", created)


def held_runs(knit: Knit) -> list[Dispatch]:
    """Runs an executor holds, with their DAG: what reconciliation compares against the executor's state."""
    query = _DISPATCH_ROWS.where(runs_t.c.status.in_([s.value for s in HELD])).order_by(runs_t.c.updated_at)
    with read_tx(knit.engine) as conn:
        rows = conn.execute(query).all()
    return [_dispatch_of(r) for r in rows]


def find_lost(knit: Knit, dagrun_state: Callable[[Dispatch], str | None]) -> list[tuple[Dispatch, str | None]]:
    """Held Runs whose DagRun has ended or vanished, with that DagRun's state (None = no DagRun).

    ``dagrun_state`` answers Airflow's state of a Run's DagRun ("queued", "running", "success", "failed"),
    or None when there is no such DagRun.
    """
    lost = []
    for held in held_runs(knit):
        state = dagrun_state(held)
        if state not in ("queued", "running"):
            lost.append((held, state))
    return lost


def reconcile(knit: Knit, dagrun_state: Callable[[Dispatch], str | None]) -> list[tuple[str, Ending]]:
    """Fail every held Run whose task died without reporting: a Run never stays running with nobody running it."""
    ended = []
    for held, state in find_lost(knit, dagrun_state):
        reason = (
            f"its Airflow DagRun {held.dag_id}/{held.dagrun_id} ended {state} without the task reporting the end"
            if state is not None
            else f"its Airflow DagRun {held.dag_id}/{held.dagrun_id} does not exist"
        )
        ending = abandon(knit, held.run_id, f"lost: {reason} (worker killed?); marked failed by reconciliation")
        if ending is not None:
            ended.append((held.run_id, ending))
    return ended


def start_attempt(knit: Knit, run_id: str) -> Assignment | Ending | None:
    """An executor's attempt at a Run, whatever state an earlier attempt left it in.

    Returns the Assignment to execute; an Ending when the Run was stopped before it could start (the stop's
    verdict is recorded); None when there is nothing to do (already done, or its Plan is deactivated).
    A Run left held by a dead earlier attempt is failed first; a failed Run is retried (clearing its task in
    Airflow's UI is a retry); a removed (invalidated) Run is a Conflict.
    """
    status = status_of(knit, run_id)
    if status in (S.DONE, S.DEACTIVATED):
        return None
    if status is S.INVALIDATED:
        raise Conflict(f"run {run_id} was removed (invalidated); it cannot run again")
    if status in (S.COMPLETING, S.ABORTING):
        return conclude(knit, run_id, exit_code=0, message="")
    if status in (S.STARTING, S.RUNNING):
        abandon(knit, run_id, "lost: a new attempt found the previous one still marked running; marked failed")
        status = S.FAILED
    if status is S.FAILED:
        service_runs.retry(knit, run_id)
    return begin(knit, run_id)
