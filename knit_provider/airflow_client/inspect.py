"""Reading (and, for ``knit admin doctor --fix``, failing) Knit's DagRuns through Airflow's REST API: where the
catalog's view of a Run is compared with Airflow's (the ``knit`` CLI with a named Airflow, or the api-server
calling itself with the caller's token)."""

from __future__ import annotations

from datetime import datetime

from knit_provider.airflow_client.dagruns import AirflowUnavailable, DagRunStarter
from knit_provider.core.airflow_names import DAG_PREFIX, DAGRUN_PREFIX, Dispatch

PAGE = 100
#: The most DagRuns one listing reads (a doctor pass, not a bulk export).
MAX_LISTED = 20_000


def _ms(text: str | None) -> int | None:
    if not text:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


class AirflowDagRuns(DagRunStarter):
    """``service.consistency.AirflowView`` over Airflow's REST API."""

    def dagrun_state(self, dispatch: Dispatch) -> str | None:
        reply = self._call("GET", f"/api/v2/dags/{dispatch.dag_id}/dagRuns/{dispatch.dagrun_id}", ok=(404,))
        return None if reply.status_code == 404 else reply.json().get("state")

    def unfinished_dagruns(self) -> list[tuple[str, str, str, int | None]]:
        """``(dag id, dagrun id, state, queued at in ms)`` of every queued or running DagRun Knit started."""
        found: list[tuple[str, str, str, int | None]] = []
        offset = 0
        while offset < MAX_LISTED:
            params = {
                "state": ["queued", "running"], "limit": PAGE, "offset": offset, "order_by": "id",
                "dag_id_prefix_pattern": DAG_PREFIX, "run_id_prefix_pattern": DAGRUN_PREFIX,
            }  # fmt: skip
            page = self._call("GET", "/api/v2/dags/~/dagRuns", params=params).json()
            runs = page.get("dag_runs", [])
            for run in runs:
                if run["dag_id"].startswith(DAG_PREFIX) and run["dag_run_id"].startswith(DAGRUN_PREFIX):
                    queued = run.get("queued_at") or run.get("run_after")
                    found.append((run["dag_id"], run["dag_run_id"], run["state"], _ms(queued)))
            offset += len(runs)
            if len(runs) < PAGE:
                return found
        return found

    def fail_dagrun(self, dag_id: str, dagrun_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id}", json={"state": "failed"})


__all__ = ["AirflowDagRuns", "AirflowUnavailable"]
