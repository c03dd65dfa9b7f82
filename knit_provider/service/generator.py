"""The generator's pass: start every Run due for dispatch, end the held Runs nobody runs any more, and sweep what
killed pushes left in the Data store. Idempotent and safe at any time: the catalog says what is pending, so a pass
never depends on the wake-up that caused it.

Airflow-free: the adapter that runs the pass (the generator's sensor) passes in how to start a DagRun and how to
read their states (the Task SDK, ``hooks.dagruns``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from knit_provider.core.run_control import RunControl
from knit_provider.service.context import Knit
from knit_provider.service.dispatching import claim_dispatchable
from knit_provider.service.doctor import sweep_if_due
from knit_provider.service.hook_calls import HookSettings
from knit_provider.service.lifecycle_hooks import Publisher, consume_events, deliver_due, housekeeping
from knit_provider.service.reconciliation import DagRunStates, reconcile
from knit_provider.service.run_pods import PodView
from knit_provider.service.settings import KnitSettings
from knit_provider.service.starting import Starter, start_claimed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """The ``[knit]`` settings a pass follows."""

    redispatch_after_s: float
    heartbeat_timeout_s: float
    reconcile_interval_s: float = 10.0
    default_control: RunControl = field(default_factory=RunControl)
    hooks: HookSettings = field(default_factory=HookSettings)

    @classmethod
    def of(cls, settings: KnitSettings) -> Timing:
        return cls(
            redispatch_after_s=settings.redispatch_after_s,
            heartbeat_timeout_s=settings.heartbeat_timeout_s,
            reconcile_interval_s=settings.reconcile_interval_s,
            default_control=settings.default_control,
            hooks=settings.hooks,
        )


def generator_pass(
    knit: Knit,
    *,
    start: Starter,
    refusals: tuple[type[Exception], ...],
    dagrun_states: DagRunStates,
    timing: Timing,
    publish: Publisher | None = None,
    pods: PodView | None = None,
) -> dict[str, Any]:
    """One pass; returns what it did (the generator task's XCom). Besides starting and reconciling Runs, it hands
    the journal of status changes to the lifecycle hooks and ``publish`` (Airflow's listeners) and makes the hook
    calls due (``service.lifecycle_hooks``). With ``pods`` (the kubernetes runner), a running Run whose pod vanished
    is lost too, and the pods of the Runs it concludes are deleted (their program must not go on writing)."""
    for swept in sweep_if_due(knit):  # at most every few minutes for all processes: one ``stat`` otherwise
        log.warning("removed %s (%d bytes): %s", swept["path"], swept["bytes"], swept["problem"])
    claimed = claim_dispatchable(knit, redispatch_after_s=timing.redispatch_after_s)
    # a refusal (typically: the Plan's DAG is not parsed yet) keeps the claim, so the generator does not spin on it
    report = start_claimed(knit, claimed, start, refusals=refusals, release_refused=False)
    ended = reconcile(
        knit,
        dagrun_states,
        heartbeat_timeout_s=timing.heartbeat_timeout_s,
        default_control=timing.default_control,
        grace_s=timing.reconcile_interval_s,  # a timed-out attempt its own task did not end within this
        pods_now=(lambda: {p.run_id for p in pods.run_pods()}) if pods is not None else None,
    )
    for run_id, ending in ended:
        log.warning("Run %s ended by reconciliation: %s", run_id, ending.message)
    if ended and pods is not None:
        _delete_pods(pods, {run_id for run_id, _ in ended})
    changes = consume_events(knit, timing.hooks, publish=publish)
    hooks: dict[str, Any] = {}
    if timing.hooks.configured:
        hooks = deliver_due(knit, timing.hooks).as_dict()
        housekeeping(knit)
    return {**report.as_dict(), "reconciled": [run_id for run_id, _ in ended], "changes": changes, "hooks": hooks}


def _delete_pods(pods: PodView, run_ids: set[str]) -> None:
    """The pods of Runs reconciliation ended (their task is gone: nobody else deletes them)."""
    try:
        for pod in pods.run_pods():
            if pod.run_id in run_ids:
                log.warning("deleting pod %s/%s of Run %s (ended by reconciliation)", pod.namespace, pod.name,
                            pod.run_id)  # fmt: skip
                pods.delete(pod)
    except Exception as err:  # knit admin doctor --fix deletes what is left
        log.warning("could not delete the pods of Runs %s: %s", sorted(run_ids), err)
