"""Starting Runs as DagRuns: the claim, the start, the bookkeeping, for every dispatcher.

Two callers. The generator's pass starts every Run due for dispatch (``start_claimed`` over
``claim_dispatchable``). A write's dispatcher (push-time start) starts only the Runs that write made waiting, and
only a few of them (``start_now``): a write that creates many Runs, or a write made while many Runs already wait,
leaves them to the generator, which starts them in one pass. So many writers never become a storm of DagRun
creations: the work a write adds to Airflow is bounded, whatever the load.

The bookkeeping is the same everywhere: a started Run becomes ``ready``; a refused one stays ``waiting`` for a
later pass, its claim kept (the generator, so it does not spin on a DAG not parsed yet) or released (anyone
else, so the generator takes it at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from knit_provider.core.airflow_names import Dispatch
from knit_provider.core.lifecycle import RunStatus
from knit_provider.service.context import Knit
from knit_provider.service.dispatching import (
    claim_dispatchable,
    mark_dispatched,
    pending_work,
    release_claim,
    status_of,
)

log = logging.getLogger(__name__)

#: The most Runs one write starts itself; the generator starts the rest (it claims hundreds per pass).
WRITE_START_LIMIT = 8
#: With more Runs than this already waiting for a DagRun, a write starts none itself: the generator is behind
#: (or about to take them all), and adding DagRun creations of our own would only compete with it.
BACKLOG_LIMIT = 32

#: Starts one Run's DagRun; raises to refuse (the message says why). Its second argument, ``still_waiting()``,
#: says whether a finished DagRun found for the Run may be cleared to run again: yes for a retried Run (waiting
#: again), no when the claim went stale and another dispatcher's DagRun already ran it.
Starter = Callable[[Dispatch, Callable[[], bool]], None]


@dataclass
class DispatchReport:
    started: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # run id -> why it waits for the generator

    def as_dict(self) -> dict:
        return {"started": self.started, "deferred": self.deferred}


def _still_waiting(knit: Knit, run_id: str) -> bool:
    return status_of(knit, run_id) is RunStatus.WAITING


def start_claimed(
    knit: Knit,
    dispatches: list[Dispatch],
    start: Starter,
    *,
    refusals: tuple[type[Exception], ...],
    release_refused: bool,
) -> DispatchReport:
    report = DispatchReport()
    for dispatch in dispatches:
        try:
            start(dispatch, partial(_still_waiting, knit, dispatch.run_id))
        except refusals as err:
            report.deferred[dispatch.run_id] = f"{dispatch.dag_id}: {err}"
            if release_refused:
                release_claim(knit, dispatch.run_id)
            log.warning("Run %s not started yet (%s: %s); retried later", dispatch.run_id, dispatch.dag_id, err)
            continue
        mark_dispatched(knit, dispatch.run_id)
        report.started.append(dispatch.run_id)
        log.info("Run %s -> DagRun %s/%s", dispatch.run_id, dispatch.dag_id, dispatch.dagrun_id)
    return report


def start_now(
    knit: Knit,
    run_ids: Sequence[str],
    start: Starter,
    *,
    refusals: tuple[type[Exception], ...],
    redispatch_after_s: float,
) -> DispatchReport:
    """Push-time start: start (a bounded number of) the Runs a write made waiting; the rest go to the generator.

    None is started when more than ``BACKLOG_LIMIT`` other Runs already wait for a DagRun (the generator is the
    better batcher then) or while another dispatcher is starting Runs (so concurrent writers, in any number of
    processes, never add up to concurrent DagRun creations: Airflow on SQLite does not survive many), and at most
    ``WRITE_START_LIMIT`` otherwise. Runs not started are not claimed, so the generator's next pass takes them
    without delay.
    """
    report = DispatchReport()
    run_ids = list(dict.fromkeys(run_ids))
    if not run_ids:
        return report
    backlog = pending_work(knit, redispatch_after_s=redispatch_after_s).dispatchable - len(run_ids)
    now, later = (
        ([], run_ids) if backlog > BACKLOG_LIMIT else (run_ids[:WRITE_START_LIMIT], run_ids[WRITE_START_LIMIT:])
    )
    reason = (
        f"{backlog} other Runs wait for a DagRun"
        if backlog > BACKLOG_LIMIT
        else f"a write starts at most {WRITE_START_LIMIT} Runs itself"
    )
    for run_id in later:
        report.deferred[run_id] = f"left to the generator: {reason}"
    if now:
        claimed = claim_dispatchable(knit, redispatch_after_s=redispatch_after_s, run_ids=now, unless_in_flight=True)
        if not claimed:
            report.deferred.update((r, "left to the generator: another start is in flight") for r in now)
            return report
        started = start_claimed(knit, claimed, start, refusals=refusals, release_refused=True)
        report.started += started.started
        report.deferred.update(started.deferred)
    return report
