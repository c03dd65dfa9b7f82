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

from knit_provider.airflow_client.dagruns import AirflowUnavailable, DagRunStarter
from knit_provider.core.options import OPTIONS
from knit_provider.service.context import Knit
from knit_provider.service.execution import Dispatch, claim_dispatchable, mark_dispatched, release_claim

log = logging.getLogger(__name__)

#: Starts one Run's DagRun; raises to refuse (the message says why).
Starter = Callable[[Dispatch], None]


@dataclass
class DispatchReport:
    started: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # run id -> why it waits for a later pass

    def as_dict(self) -> dict:
        return {"started": self.started, "deferred": self.deferred}


def note_for(dispatch: Dispatch) -> str:
    """The DagRun's note: the Knit Run it carries, linked to the Knit API."""
    return f"Knit Run `{dispatch.run_id}` ([details](/knit/api/runs/{dispatch.run_id}))"


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
            start(dispatch)
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
        lambda d: starter.start(d.dag_id, d.dagrun_id, d.conf, note_for(d)),
        refusals=(AirflowUnavailable,),
        redispatch_after_s=float(OPTIONS["redispatch_after"][0]),
        run_ids=run_ids,
    )
