"""Why a Run exists and why it is in its status, in words, from what the catalog recorded (``knit explain run``).

The cause is the event recorded when the Run was created (``catalog.causes``); the state follows from the Run's
status by the lifecycle (``core.lifecycle``), its exit, its dispatch stamp and its Plan; the last change made by
hand is recorded too. Nothing is guessed: a Run created before causes were kept says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.timefmt import format_ms

S = RunStatus

#: exit codes Knit itself gives a Run, and what each means
EXIT_MEANINGS = {
    253: "a user aborted it with knit run stop --fail",
    255: "its task was lost (the worker died or its DagRun ended without a report), so reconciliation failed it",
    125: "it could not start (the image, a mount, or scheduling its pod failed)",
}


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    plan_id: str
    image: str | None  # None for an upload (``knit#uploaded``)
    plan_active: bool
    status: RunStatus
    created_at: int
    updated_at: int
    finished_at: int | None
    exit_code: int | None
    exit_message: str | None
    dispatched_at: int | None
    cause: str | None
    cause_ref: str | None
    cause_actor: str | None
    action: str | None
    action_actor: str | None
    action_at: int | None


def _by(actor: str | None) -> str:
    return f" by {actor}" if actor else ""


def cause_message(run: RunFacts) -> str:
    """The event that created the Run, with its time and who (or what) caused it."""
    at = format_ms(run.created_at)
    ref, by = run.cause_ref, _by(run.cause_actor)
    if run.cause is None:
        return f"created at {at}; recorded before causes were kept, so what created it is not known"
    if run.cause == "upload" and run.image is None:
        return f"an upload (knit data push) of Data {ref}{by} at {at}"
    if run.cause == "upload":
        return f"Data {ref} was uploaded{by} at {at}, and it filled this Plan's input"
    if run.cause == "tag-edit":
        return f"the tags of Data {ref} were edited{by} at {at}, which nominated it to this Plan's input"
    if run.cause == "run-done":
        return f"Run {ref} finished done at {at}{by}, and its output filled this Plan's input"
    if run.cause == "plan-apply":
        return f"this Plan was applied{by} at {at}: a Run for every combination of existing Data (a backfill)"
    return f"{run.cause} {ref}{by} at {at}"


def _exit(run: RunFacts) -> str:
    if run.exit_code is None:
        return ""
    text = f"exit {run.exit_code}" + (f": {run.exit_message}" if run.exit_message else "")
    meaning = EXIT_MEANINGS.get(run.exit_code)
    if meaning is None and run.status is S.FAILED:
        meaning = "the program exited with that code" if run.exit_code else None
    return text + (f" ({meaning})" if meaning else "")


def state_message(run: RunFacts) -> str:
    """Why the Run is in its status now."""
    dag = plan_dag_id(run.image, run.plan_id) if run.image else None
    status = run.status
    if status is S.DEACTIVATED:
        if run.plan_active:
            return "it was created while its Plan was inactive; the Plan is active again, so it waits to be started"
        return f"its Plan is inactive: it waits, deactivated, until `knit plan active yes {run.plan_id}`"
    if status is S.WAITING:
        if run.dispatched_at is None:
            return (
                f"it waits for its DagRun in DAG {dag}: the write that made it waiting starts it when it can reach "
                "Airflow, else knit_generator's next pass does"
            )
        return (
            f"starting its DagRun in DAG {dag} was last tried at {format_ms(run.dispatched_at)} and has not "
            "succeeded yet (is the DAG parsed?); it is tried again after [knit] redispatch_after seconds"
        )
    if status is S.READY:
        return (
            f"its DagRun {dagrun_id(run.run_id)} of DAG {dag} exists and waits for a slot to run its task "
            "(the DAG's max_active_runs, the pool, [core] parallelism)"
        )
    if status is S.STARTING:
        return f"its task is starting the program (image {run.image}) since {format_ms(run.updated_at)}"
    if status is S.RUNNING:
        return f"its program is running since {format_ms(run.updated_at)}"
    if status is S.COMPLETING:
        return f"it is stopping and will end done ({_exit(run) or 'its program exited 0'})"
    if status is S.ABORTING:
        return f"it is stopping and will end failed ({_exit(run) or 'no exit recorded'})"
    finished = format_ms(run.finished_at) if run.finished_at is not None else "an unrecorded time"
    if status is S.DONE:
        if run.image is None:
            return f"an upload is done at once: its Data was complete at {finished}"
        return f"it finished done at {finished}" + (f" ({run.exit_message})" if run.exit_message else "")
    if status is S.FAILED:
        return f"it failed at {finished} with {_exit(run) or 'no exit recorded'}"
    return "it was removed (knit run rm): a tombstone kept so that its combination never runs again"


_ACTIONS = {
    "retry": "retried (knit run retry)",
    "stop": "stopped (knit run stop)",
    "abort": "aborted (knit run stop --fail)",
    "rm": "removed (knit run rm)",
    "activate": "made waiting again when its Plan was activated",
    "deactivate": "deactivated when its Plan was deactivated",
}


def action_message(run: RunFacts) -> str | None:
    """The last change made to the Run by hand, if any."""
    if run.action is None:
        return None
    at = f" at {format_ms(run.action_at)}" if run.action_at is not None else ""
    return f"{_ACTIONS.get(run.action, run.action)}{_by(run.action_actor)}{at}"
