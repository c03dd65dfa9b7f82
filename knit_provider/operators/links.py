"""Links from Airflow back to Knit: a Plan DAG's task shows its Knit Run."""

from __future__ import annotations

from airflow.sdk import BaseOperatorLink

from knit_provider.service.execution import DAGRUN_PREFIX


def knit_run_id_of(dagrun_id: str) -> str | None:
    """The Knit Run a DagRun carries (``knit__<run id>``), None for DagRuns not started by Knit."""
    return dagrun_id[len(DAGRUN_PREFIX) :] if dagrun_id.startswith(DAGRUN_PREFIX) else None


class KnitRunLink(BaseOperatorLink):
    name = "Knit Run"

    def get_link(self, operator, *, ti_key) -> str:
        run_id = knit_run_id_of(ti_key.run_id)
        return f"/knit/runs/{run_id}" if run_id else ""
