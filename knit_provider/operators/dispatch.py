"""Turning claimed Runs into DagRuns of their Plans' DAGs: shared by the generator and by finishing Runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from airflow.sdk.exceptions import AirflowRuntimeError

from knit_provider.hooks import dagruns
from knit_provider.service.context import Knit
from knit_provider.service.execution import Dispatch, mark_dispatched

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    started: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # run id -> why it waits for a later pass

    def as_dict(self) -> dict:
        return {"started": self.started, "deferred": self.deferred}


def note_for(dispatch: Dispatch) -> str:
    """The DagRun's note: the Knit Run it carries, linked to the Knit API."""
    return f"Knit Run `{dispatch.run_id}` ([details](/knit/api/runs/{dispatch.run_id}))"


def start_dagruns(knit: Knit, dispatches: list[Dispatch]) -> DispatchReport:
    """Create one DagRun per Run (a finished DagRun of a retried Run is cleared to run again), then mark it ready.

    A refusal (typically: the Plan's DAG is not parsed yet) leaves the Run waiting with its dispatch stamp,
    so the generator tries again later; nothing is lost.
    """
    report = DispatchReport()
    for dispatch in dispatches:
        try:
            outcome = dagruns.trigger(dispatch.dag_id, dispatch.dagrun_id, conf=dispatch.conf, note=note_for(dispatch))
            if outcome is dagruns.Outcome.EXISTS and dagruns.state(dispatch.dag_id, dispatch.dagrun_id) in (
                "success",
                "failed",
            ):
                dagruns.trigger(dispatch.dag_id, dispatch.dagrun_id, conf=dispatch.conf, reset=True)
        except AirflowRuntimeError as err:
            report.deferred[dispatch.run_id] = f"{dispatch.dag_id}: {err}"
            log.warning("Run %s not started yet (%s: %s); retried later", dispatch.run_id, dispatch.dag_id, err)
            continue
        mark_dispatched(knit, dispatch.run_id)
        report.started.append(dispatch.run_id)
        log.info("Run %s -> DagRun %s/%s", dispatch.run_id, dispatch.dag_id, dispatch.dagrun_id)
    return report
