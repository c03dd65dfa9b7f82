"""Executing one Run, the same way for every executor: the attempt (``start_attempt``), the program up
(``started``), the task's heartbeat and a stop while it runs (``watching``), and the one end (``conclude``);
``abandon`` ends a Run whose executor is gone (``service.reconciliation`` finds them).

Airflow-free on purpose: the operators are thin shells around these functions, and tests drive Runs through
exactly them (``run_program`` is the whole attempt of the process and docker runners).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from knit_provider.catalog import assets as catalog_assets
from knit_provider.catalog import dispatch as catalog_dispatch
from knit_provider.catalog import plans as catalog_plans
from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.dispatch import HELD
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.views import run_details
from knit_provider.core.errors import Conflict, IllegalTransition, KnitError
from knit_provider.core.layout import LOG_FILE
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.run_control import EXIT_TIMED_OUT, RunControl, timed_out_message
from knit_provider.core.timefmt import now_ms
from knit_provider.runners.base import Mount, Runner, RunRequest
from knit_provider.service import runs as service_runs
from knit_provider.service.context import Knit
from knit_provider.service.dispatching import mark_dispatched, status_of
from knit_provider.service.hook_calls import HookSettings
from knit_provider.service.lifecycle_hooks import before_starting

S = RunStatus
EXIT_LOST = 255
EXIT_NOT_STAGED = 125  # as a container that could not start
#: How often a running task looks for a stop (``knit run stop``, or its Run ended by reconciliation).
STOP_POLL_S = 1.0
#: How often a running task stamps its heartbeat, as a fraction of ``[knit] heartbeat_timeout``.
BEATS_PER_TIMEOUT = 6


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
    control: RunControl = field(default_factory=RunControl)  # the Plan's own timeout and retries
    attempt: int = 1


@dataclass(frozen=True)
class Ending:
    """How a Run's attempt ended, and the Runs its outputs caused. ``status`` is ``ready`` after a failed attempt
    with retries left: the next attempt follows, and the Run is not ``failed``."""

    status: RunStatus
    exit_code: int | None
    message: str
    created_runs: list[str]

    @property
    def retrying(self) -> bool:
        return self.status is S.READY


def start_attempt(knit: Knit, run_id: str, *, hooks: HookSettings | None = None) -> Assignment | Ending | None:
    """An executor's attempt at a Run, whatever state an earlier attempt left it in.

    Returns the Assignment to execute; an Ending when the Run was stopped before it could start (the stop's
    verdict is recorded); None when there is nothing to do (already done, or its Plan is deactivated).
    A Run left held by a dead earlier attempt is failed first; a failed Run is retried (clearing its task in
    Airflow's UI is a retry); a removed (invalidated) Run is a Conflict. With lifecycle ``hooks``, the Run is made
    ready on its own first and Knitfab's "before starting" hooks are called: their answers' environment is the
    program's too (Knit's own ``KNIT_*`` variables win).
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
        stopped = stopped_before_starting(knit, run_id)
        if stopped is not None:
            return stopped
        service_runs.retry(knit, run_id)
    if hooks is None or not hooks.active():
        return begin(knit, run_id)
    mark_dispatched(knit, run_id)  # waiting -> ready as a change of its own: its hooks are called first
    env = before_starting(knit, hooks, run_id)
    assignment = begin(knit, run_id)
    return replace(assignment, env={**env, **assignment.env}) if env else assignment


def stopped_before_starting(knit: Knit, run_id: str) -> Ending | None:
    """The verdict of a failed Run that ``knit run stop --fail`` ended before any worker began its attempt, or None.

    Its DagRun may still be queued from before the stop: that task must record the stop, not undo it by retrying
    the Run as a cleared task does. ``knit run retry`` runs it again."""
    with read_tx(knit.engine) as conn:
        run = catalog_runs.require_run(conn, run_id)
    if run["attempt_started_at"] is not None or run["exit_code"] != catalog_runs.EXIT_ABORTED[0]:
        return None
    message = f"{run['exit_message'] or 'aborted'} before it started; `knit run retry` runs it again"
    return Ending(S.FAILED, run["exit_code"], message, [])


def begin(knit: Knit, run_id: str) -> Assignment:
    """waiting/ready -> starting (its heartbeat starts), with empty output directories for the program."""
    with write_tx(knit.engine) as conn:
        run = catalog_runs.require_run(conn, run_id)
        status = RunStatus(run["status"])
        if status not in (S.WAITING, S.READY):
            raise Conflict(f"run {run_id} cannot start: it is {status.value}")
        if status is S.WAITING:
            catalog_runs.transition(conn, run_id, S.READY)
        catalog_runs.transition(conn, run_id, S.STARTING)
        catalog_runs.begin_attempt(conn, run_id, now_ms())
        catalog_dispatch.beat(conn, run_id, now_ms())
        plan = catalog_plans.require_plan(conn, run["plan_id"])
        detail = run_details(conn, [run_id])[0]
    inputs = [Port(i["path"], i["knitId"], knit.store.input_dir(i["knitId"])) for i in detail["inputs"]]
    outputs = [Port(o["path"], o["knitId"], knit.store.output_dir(o["knitId"])) for o in detail["outputs"]]
    log_path = None
    if detail["log"] is not None:
        log_path = knit.store.output_dir(detail["log"]["knitId"]) / LOG_FILE
    return Assignment(
        run_id=run_id,
        plan_id=run["plan_id"],
        image=plan["image"] or "",
        entrypoint=plan["entrypoint"],
        args=plan["args"],
        inputs=inputs,
        outputs=outputs,
        log_path=log_path,
        env={"KNIT_RUN_ID": run_id, "KNIT_PLAN_ID": run["plan_id"], "KNIT_ATTEMPT": str(run["attempt"] or 1)},
        control=catalog_plans.control_of(plan["run_control"]),
        attempt=run["attempt"] or 1,
    )


def started(knit: Knit, run_id: str) -> bool:
    """starting -> running when the program is up; False if the Run was stopped meanwhile."""
    with write_tx(knit.engine) as conn:
        if RunStatus(catalog_runs.require_run(conn, run_id)["status"]) is not S.STARTING:
            return False
        catalog_runs.transition(conn, run_id, S.RUNNING)
        return True


def _measure_outputs(knit: Knit, run_id: str) -> dict[str, tuple[str, int]]:
    """Checksum and size of each output (and log) Data a Run's program wrote, for ``record_content``."""
    with read_tx(knit.engine) as conn:
        catalog_runs.require_run(conn, run_id)
        produced = catalog_runs.outputs_of(conn, run_id)  # outputs and log
    contents = {}
    for knit_id in produced:
        info = knit.store.commit_output(knit_id)  # an output the program left untouched is empty Data
        contents[knit_id] = (info.checksum, info.size)
    return contents


def conclude(knit: Knit, run_id: str, *, exit_code: int, message: str, retries_left: int = 0) -> Ending:
    """The one end of a Run's attempt: outputs measured, then done or failed (a stop keeps its verdict); the Runs its
    outputs cause are handed to the dispatcher. A failed attempt with ``retries_left`` (not a user's stop) leaves
    the Run ``ready`` for its next attempt instead, with fresh outputs."""
    contents = _measure_outputs(knit, run_id)
    discarded: list[str] = []
    with write_tx(knit.engine) as conn:
        status = RunStatus(catalog_runs.require_run(conn, run_id)["status"])
        catalog_runs.record_content(conn, contents)
        if status in (S.READY, S.STARTING, S.RUNNING):
            target = S.COMPLETING if exit_code == 0 else S.ABORTING
            catalog_runs.transition(conn, run_id, target, exit_code=exit_code, exit_message=message)
        row = catalog_runs.require_run(conn, run_id)
        if row["status"] == S.ABORTING.value and retries_left > 0 and row["exit_code"] != catalog_runs.EXIT_ABORTED[0]:
            discarded = catalog_runs.next_attempt(
                conn, run_id, exit_code=row["exit_code"], message=row["exit_message"] or ""
            ).discarded_data
            created: list[str] = []
        else:
            if status in HELD:
                catalog_runs.record_attempt(conn, run_id, now_ms())
            created = catalog_runs.finalize(conn, run_id) if status in HELD else []
        ended = catalog_runs.require_run(conn, run_id)
        if knit.outlet_claims is not None and ended["status"] == S.DONE.value:
            knit.outlet_claims += catalog_assets.claim_for_task(conn, catalog_runs.outputs_of(conn, run_id))
    for knit_id in discarded:
        knit.store.delete(knit_id)
    knit.runs_waiting(created)
    if ended["status"] == S.READY.value:  # retrying: this attempt's own exit
        return Ending(S.READY, row["exit_code"], row["exit_message"] or "", [])
    return Ending(RunStatus(ended["status"]), ended["exit_code"], ended["exit_message"] or "", created)


def abandon(knit: Knit, run_id: str, message: str, *, exit_code: int = EXIT_LOST) -> Ending | None:
    """End a Run whose executor is gone: held -> failed (a stop already asked for keeps its verdict, and its
    message says what happened after it).

    None when the Run is no longer held (it finished after all, or was never started).
    """
    try:
        with write_tx(knit.engine) as conn:
            row = catalog_runs.require_run(conn, run_id)
            status = RunStatus(row["status"])
            if status not in HELD:
                return None
            if status not in (S.COMPLETING, S.ABORTING):
                catalog_runs.transition(conn, run_id, S.ABORTING, exit_code=exit_code, exit_message=message)
            else:  # the stop's verdict stands; its message says why nobody concluded it
                catalog_runs.note_exit(conn, run_id, f"{row['exit_message'] or status.value}; then {message}")
            catalog_runs.record_attempt(conn, run_id, now_ms())
            created = catalog_runs.finalize(conn, run_id)
            row = catalog_runs.require_run(conn, run_id)
    except IllegalTransition:
        return None
    knit.runs_waiting(created)  # a Run stopped as done before its worker died: its outputs count
    return Ending(RunStatus(row["status"]), row["exit_code"], row["exit_message"] or "", created)


@contextmanager
def watching(
    knit: Knit,
    run_id: str,
    kill: Callable[[], None],
    *,
    heartbeat_timeout_s: float,
    timeout_s: float | None = None,
) -> Iterator[None]:
    """While the body runs the program: stamp the Run's heartbeat (so reconciliation sees at once when this task
    dies); end the attempt as "timed out after ..." past ``timeout_s``; and call ``kill`` once when the Run is
    stopped (``knit run stop``, the timeout) or ended by someone else."""
    finished = threading.Event()
    beat_every = heartbeat_timeout_s / BEATS_PER_TIMEOUT
    began = time.monotonic()

    def watch() -> None:
        last_beat = time.monotonic()
        while not finished.wait(STOP_POLL_S):
            if timeout_s is not None and time.monotonic() - began > timeout_s:
                time_out(knit, run_id, timeout_s)
            if time.monotonic() - last_beat >= beat_every:
                last_beat = time.monotonic()
                with write_tx(knit.engine) as conn:
                    status = catalog_dispatch.beat(conn, run_id, now_ms())
            else:
                status = status_of(knit, run_id)
            if status not in (S.STARTING, S.RUNNING):
                kill()
                return

    watcher = threading.Thread(target=watch, name=f"knit-watch-{run_id[:8]}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()


def time_out(knit: Knit, run_id: str, timeout_s: float) -> bool:
    """Stop a running attempt as "timed out after ..." (exit 124): a stop with a reason, so the program is killed
    and its end recorded as failed (or retried, when retries are left). False if it was not running any more."""
    with write_tx(knit.engine) as conn:
        if RunStatus(catalog_runs.require_run(conn, run_id)["status"]) not in (S.STARTING, S.RUNNING):
            return False
        catalog_runs.transition(
            conn, run_id, S.ABORTING, exit_code=EXIT_TIMED_OUT, exit_message=timed_out_message(timeout_s)
        )
        return True


def request_for(assignment: Assignment, log_path: Path) -> RunRequest:
    mounts = [Mount(p.host_dir, p.path, read_only=True) for p in assignment.inputs]
    mounts += [Mount(p.host_dir, p.path, read_only=False) for p in assignment.outputs]
    return RunRequest(
        run_id=assignment.run_id,
        image=assignment.image,
        entrypoint=assignment.entrypoint,
        args=assignment.args,
        mounts=tuple(mounts),
        env=dict(assignment.env),
        log_path=log_path,
    )


def run_program(
    knit: Knit,
    assignment: Assignment,
    runner: Runner,
    *,
    heartbeat_timeout_s: float,
    control: RunControl | None = None,
    retries_left: int = 0,
    on_line: Callable[[str], None] = lambda _line: None,
) -> Ending:
    """The rest of an attempt with a local runner (process or docker): run the program with its mounts (its
    output kept as the log Data), report it running, watch it (heartbeat, stop, ``control``'s timeout), and
    conclude with its exit (``retries_left``: how many attempts may still follow a failure)."""
    timeout_s = (control or assignment.control).timeout_s
    with tempfile.TemporaryDirectory(prefix="knit-log-") as scratch:
        log_path = assignment.log_path or Path(scratch) / "log"
        with watching(knit, assignment.run_id, lambda: runner.kill(assignment.run_id),
                      heartbeat_timeout_s=heartbeat_timeout_s, timeout_s=timeout_s), ExitStack() as inputs:  # fmt: skip
            try:  # an object store's inputs are fetched to this machine (and kept while the program runs)
                inputs.enter_context(knit.store.staged([p.knit_id for p in assignment.inputs]))
            except (KnitError, OSError) as err:
                return conclude(
                    knit,
                    assignment.run_id,
                    exit_code=EXIT_NOT_STAGED,
                    message=staging_failed(err),
                    retries_left=retries_left,
                )
            result = runner.run(
                request_for(assignment, log_path), on_start=lambda: started(knit, assignment.run_id), on_line=on_line
            )
    return conclude(
        knit, assignment.run_id, exit_code=result.exit_code, message=result.message, retries_left=retries_left
    )


def staging_failed(err: BaseException) -> str:
    """The Run's message when its inputs could not be brought to the program (the program never started)."""
    return f"the inputs could not be fetched from the Data store: {err}"
