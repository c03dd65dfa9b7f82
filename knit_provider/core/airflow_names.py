"""How Knit's objects are named in Airflow, both ways: a Plan is DAG ``knit_plan__<slug>``, a Run is DagRun
``knit__<run id>`` of it, running in the DAG's one task ``run``.

Airflow-free and in one place, so the catalog (which stores the slug), the dispatcher, the operators, the REST API
and the pages all derive and parse the names the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

DAG_PREFIX = "knit_plan__"
DAGRUN_PREFIX = "knit__"
#: The one task of every Plan's DAG (Airflow's task log page of a Run is under it).
RUN_TASK_ID = "run"
#: Where the api-server mounts the Knit app (``KnitPlugin``), below Airflow's own base path.
KNIT_MOUNT = "/knit"


def web_path(base_url: str | None) -> str:
    """The path Airflow is served under, from ``[api] base_url`` or any URL of it (``http://host/airflow/`` ->
    ``/airflow``; no path -> ``""``): what every link Knit writes for a browser starts with."""
    text = (base_url or "").strip()
    path = urlsplit(text).path if "://" in text else text
    return path.rstrip("/")


def knit_run_path(run_id: str, base_path: str = "") -> str:
    """The Knit page of a Run, under Airflow's base path (see :func:`web_path`)."""
    return f"{base_path}{KNIT_MOUNT}/runs/{quote(run_id, safe='')}"


def plan_slug(image: str, plan_id: str) -> str:
    """A readable, unique name usable in an Airflow DAG id: ``<image-name>-<tag>-<id prefix>``."""
    repository, _, tag = image.split("@", 1)[0].rpartition(":")
    base = f"{repository.rsplit('/', 1)[-1]}-{tag}"
    base = re.sub(r"[^a-z0-9_-]+", "-", base.lower()).strip("-")[:60] or "plan"
    return f"{base}-{plan_id[:8]}"


def plan_dag_id(image: str | None, plan_id: str) -> str:
    """``knit_plan__<image-name>-<tag>-<id8>``: readable, stable for the Plan's life, unique."""
    return DAG_PREFIX + plan_slug(image or "plan:none", plan_id)


def dagrun_id(run_id: str) -> str:
    """The DagRun that carries a Knit Run."""
    return DAGRUN_PREFIX + run_id


def run_id_of_dagrun(dagrun_id: str) -> str | None:
    """The Knit Run a DagRun carries (``knit__<run id>``), None for DagRuns Knit did not start."""
    return dagrun_id[len(DAGRUN_PREFIX) :] if dagrun_id.startswith(DAGRUN_PREFIX) else None


@dataclass(frozen=True)
class Dispatch:
    """One waiting Run to start: its Plan's DAG, the DagRun id derived from the Run, and the DagRun's conf."""

    run_id: str
    plan_id: str
    dag_id: str

    @property
    def dagrun_id(self) -> str:
        return dagrun_id(self.run_id)

    @property
    def conf(self) -> dict[str, str]:
        return {"knit_run_id": self.run_id, "knit_plan_id": self.plan_id}

    def note_at(self, base_path: str) -> str:
        """The DagRun's note: the Knit Run it carries, linked to its Knit page under Airflow's ``base_path``
        (``web_path`` of ``[api] base_url``, or of the Airflow URL the starter talks to)."""
        return f"Knit Run `{self.run_id}` ([details]({knit_run_path(self.run_id, base_path)}))"
