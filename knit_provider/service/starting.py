"""Starting claimed Runs with whatever can start a DagRun: the task SDK inside Airflow, the REST API outside.

One loop for every dispatcher (the generator, a finishing Run's eager dispatch, a ``knit`` write), so the
bookkeeping is the same everywhere: a started Run becomes ``ready``; a refused one stays ``waiting`` for a later
pass, its claim kept (the generator, so it does not spin on a DAG not parsed yet) or released (anyone else,
so the generator takes it at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from knit_provider.airflow_client.dagruns import AirflowUnavailable, DagRunStarter
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.options import OPTIONS
from knit_provider.service.context import Knit
from knit_provider.service.execution import Dispatch, claim_dispatchable, mark_dispatched, release_claim, status_of

log = logging.getLogger(__name__)

#: Starts one Run's DagRun; raises to refuse (the message says why). Its second argument, ``still_waiting()``,
#: says whether a finished DagRun found for the Run may be cleared to run again: yes for a retried Run (waiting
#: again), no when the claim went stale and another dispatcher's DagRun already ran it.
Starter = Callable[[Dispatch, Callable[[], bool]], None]


@dataclass
class DispatchReport:
    started: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # run id -> why it waits for a later pass

    def as_dict(self) -> dict:
        return {"started": self.started, "deferred": self.deferred}


def note_for(dispatch: Dispatch) -> str:
    """The DagRun's note: the Knit Run it carries, linked to the Knit API."""
    return f"Knit Run `{dispatch.run_id}` ([details](/knit/runs/{dispatch.run_id}))"


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


def start_waiting(
    knit: Knit,
    start: Starter,
    *,
    refusals: tuple[type[Exception], ...],
    redispatch_after_s: float,
    run_ids: list[str] | None = None,
) -> DispatchReport:
    """Claim the waiting Runs (all due ones, or ``run_ids``) and start them; refusals go back to the generator."""
    claimed = claim_dispatchable(knit, redispatch_after_s=redispatch_after_s, run_ids=run_ids)
    return start_claimed(knit, claimed, start, refusals=refusals, release_refused=True)


def start_through_api(knit: Knit, starter: DagRunStarter, *, run_ids: list[str] | None = None) -> DispatchReport:
    """What a write outside Airflow (the ``knit`` CLI) does after committing: start the waiting Runs through
    Airflow's REST API; whatever Airflow refuses is left to the generator."""
    return start_waiting(
        knit,
        lambda d, still_waiting: starter.start(d.dag_id, d.dagrun_id, d.conf, note_for(d), may_clear=still_waiting),
        refusals=(AirflowUnavailable,),
        redispatch_after_s=float(OPTIONS["redispatch_after"][0]),
        run_ids=run_ids,
    )
