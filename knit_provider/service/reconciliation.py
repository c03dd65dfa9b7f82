"""Ending held Runs nobody runs any more (stuck Runs): a Run never stays starting, running, completing or aborting
with nobody running it.

A held Run is lost, and concluded with a message saying which, when
- its task stopped beating (``[knit] heartbeat_timeout``: a killed worker, seen at once),
- its attempt outlived its timeout by the reconcile interval (its task did not end it),
- its pod vanished (the kubernetes runner: no pod carries its ``knit/run-id`` label while it runs; checked twice,
  a few seconds apart, since a pod is deleted a moment before its task concludes the Run), or
- its Airflow DagRun ended or vanished without the task reporting the end.
Completing and aborting Runs (a stop asked for) are held too: when their task is gone the same way they end with
the stop's verdict, and their message says what happened after the stop.

The generator's pass runs ``reconcile``; ``knit admin doctor`` lists ``find_lost``'s findings (and ``--fix``
reconciles them) where Airflow (and the pods) can be asked. Airflow-free: callers pass how to read a DagRun's
state and which Runs have a pod.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from knit_provider.catalog import dispatch as catalog_dispatch
from knit_provider.catalog import plans as catalog_plans
from knit_provider.catalog.engine import read_tx
from knit_provider.core.airflow_names import Dispatch, plan_dag_id
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.run_control import EXIT_TIMED_OUT, RunControl, timed_out_message
from knit_provider.core.timefmt import now_ms
from knit_provider.service.context import Knit
from knit_provider.service.execution import EXIT_LOST, Ending, abandon

log = logging.getLogger(__name__)
S = RunStatus
#: Airflow's state of the DagRun carrying a Run ("queued", "running", "success", "failed"), None if there is none.
DagRunState = Callable[[Dispatch], "str | None"]
#: The same for many Runs at once, by run id: what a pass asks (one question per batch where the adapter can,
#: ``hooks.dagruns.dispatch_states``; a pass may hold hundreds of Runs).
DagRunStates = Callable[[Sequence[Dispatch]], Mapping[str, "str | None"]]
#: The states of a DagRun whose task may still report.
ALIVE = ("queued", "running")


def one_by_one(state: DagRunState) -> DagRunStates:
    """``DagRunStates`` asking one DagRun at a time, for an adapter with no batch question."""
    return lambda dispatches: {d.run_id: state(d) for d in dispatches}


#: The run ids that have a pod now (the kubernetes runner), asked once per pass.
PodsNow = Callable[[], Collection[str]]
#: How long a running Run's pod must stay missing before the Run counts as lost.
POD_RECHECK_S = 3.0
RUN_LABEL = "knit/run-id"


@dataclass(frozen=True)
class Lost:
    """A held Run nobody runs any more, why, and the exit it ends with."""

    dispatch: Dispatch
    why: str
    exit_code: int = EXIT_LOST
    pod_vanished: bool = False


def find_lost(
    knit: Knit,
    dagrun_states: DagRunStates | None,
    *,
    heartbeat_timeout_s: float,
    default_control: RunControl | None = None,
    grace_s: float = 0.0,
    pods: Collection[str] | None = None,
) -> list[Lost]:
    """Held Runs nobody runs any more (see the module's docstring). ``dagrun_states`` None: Airflow not asked;
    ``pods`` None: pods not checked (else the run ids having a pod). Airflow is asked once, about the held Runs
    no other sign already judged."""
    with read_tx(knit.engine) as conn:
        held = catalog_dispatch.held_runs(conn)
    now, lost, ask = now_ms(), [], []
    for run in held:
        dispatch = Dispatch(run_id=run.run_id, plan_id=run.plan_id, dag_id=plan_dag_id(run.image, run.plan_id))
        silent_s = (now - run.heartbeat_at) / 1000 if run.heartbeat_at is not None else 0.0
        if silent_s > heartbeat_timeout_s:
            lost.append(
                Lost(dispatch, f"its task stopped reporting: no heartbeat for {silent_s:.0f} s (worker killed?)")
            )
            continue
        control = catalog_plans.control_of(run.run_control).with_defaults(default_control or RunControl())
        if control.timeout_s is not None and run.attempt_started_at is not None:
            ran_s = (now - run.attempt_started_at) / 1000
            if ran_s > control.timeout_s + grace_s:
                why = f"{timed_out_message(control.timeout_s)}; its task did not end it ({ran_s:.0f} s)"
                lost.append(Lost(dispatch, why, EXIT_TIMED_OUT))
                continue
        if pods is not None and run.status is S.RUNNING and run.run_id not in pods:
            why = f"its pod vanished: no pod labelled {RUN_LABEL}={run.run_id} while it runs (deleted or evicted?)"
            lost.append(Lost(dispatch, why, pod_vanished=True))
            continue
        ask.append(dispatch)
    states = dagrun_states(ask) if dagrun_states is not None and ask else {}
    for dispatch in ask:
        state = states.get(dispatch.run_id, "running")  # not asked (Airflow not asked, or left out): alive
        if state not in ALIVE:
            where = f"its Airflow DagRun {dispatch.dag_id}/{dispatch.dagrun_id}"
            why = f"{where} ended {state} without the task reporting the end" if state else f"{where} does not exist"
            lost.append(Lost(dispatch, f"{why} (worker killed?)"))
    return lost


def still_vanished(knit: Knit, found: list[Lost], pods_now: PodsNow | None) -> list[Lost]:
    """Pods missing once may be a pod deleted a moment before its task concludes: ask again a little later."""
    if pods_now is None or not any(lost.pod_vanished for lost in found):
        return found
    time.sleep(POD_RECHECK_S)
    present = set(pods_now())
    with read_tx(knit.engine) as conn:
        running = {r.run_id for r in catalog_dispatch.held_runs(conn) if r.status is S.RUNNING}
    return [
        lost
        for lost in found
        if not lost.pod_vanished or (lost.dispatch.run_id in running and lost.dispatch.run_id not in present)
    ]


def conclude_lost(knit: Knit, found: list[Lost]) -> list[tuple[str, Ending]]:
    """End each lost Run with a message saying why (a stop's verdict stands)."""
    ended = []
    for lost in found:
        ending = abandon(knit, lost.dispatch.run_id, f"lost: {lost.why}; ended by reconciliation",
                         exit_code=lost.exit_code)  # fmt: skip
        if ending is not None:
            ended.append((lost.dispatch.run_id, ending))
    return ended


def reconcile(
    knit: Knit,
    dagrun_states: DagRunStates | None,
    *,
    heartbeat_timeout_s: float,
    default_control: RunControl | None = None,
    grace_s: float = 0.0,
    pods_now: PodsNow | None = None,
) -> list[tuple[str, Ending]]:
    """Conclude every held Run nobody runs any more: a Run never stays running with nobody running it."""
    pods = None
    if pods_now is not None:
        try:
            pods = set(pods_now())
        except Exception as err:  # the cluster's API unreachable: judge by the other signs this time
            log.warning("pods not checked: %s", err)
            pods_now = None
    found = find_lost(
        knit, dagrun_states, heartbeat_timeout_s=heartbeat_timeout_s, default_control=default_control,
        grace_s=grace_s, pods=pods,
    )  # fmt: skip
    return conclude_lost(knit, still_vanished(knit, found, pods_now))
