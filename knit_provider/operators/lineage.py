"""OpenLineage for a Knit Run's task, through Airflow's OpenLineage provider (the ``openlineage`` extra).

The provider asks an operator for its lineage at the task's start, completion and failure
(``get_openlineage_facets_on_*``) and sends START / COMPLETE / FAIL events. A Run's datasets are its Data: the
namespace ``knit://<catalog name>`` names the catalog, the knit id is the dataset's name, and a ``knit`` facet holds
its tags and mount path; the job (the Plan's DAG task) carries a ``knitPlan`` facet with the plan id and image.
The same Run's lineage in the catalog (``knit data lineage``) and in Marquez, DataHub or OpenMetadata agree.
"""

from __future__ import annotations

from typing import Any

from knit_provider.hooks.knit import KnitHook
from knit_provider.service import runs as service_runs
from knit_provider.version_compat import airflow_conf

FACET_SCHEMA = "https://github.com/airflow-provider-knit/spec/facets/{}.json"


def namespace() -> str:
    name = (airflow_conf().get("knit", "catalog_name", fallback="knit") or "knit").strip()
    return f"knit://{name}"


def _facets():
    """The facet classes, built on first use (the OpenLineage client is an optional dependency)."""
    import attr
    from openlineage.client.facet_v2 import DatasetFacet, JobFacet

    @attr.define
    class KnitDataFacet(DatasetFacet):
        knitId: str  # noqa: N815 (OpenLineage's camelCase)
        tags: list[str]
        mountPath: str | None = None  # noqa: N815
        log: bool = False

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA.format("KnitDataFacet")

    @attr.define
    class KnitPlanFacet(JobFacet):
        planId: str  # noqa: N815
        image: str
        runId: str  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA.format("KnitPlanFacet")

    return KnitDataFacet, KnitPlanFacet


def run_lineage(run: dict, data_tags: dict[str, list[str]]) -> Any:
    """The ``OperatorLineage`` of one Run (its JSON as ``knit run show`` gives it)."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    data_facet, plan_facet = _facets()
    where = namespace()

    def dataset(cls, port: dict, *, log: bool = False):
        knit_id = port["knitId"]
        facet = data_facet(knitId=knit_id, tags=data_tags.get(knit_id, []), mountPath=port.get("path"), log=log)
        return cls(namespace=where, name=knit_id, facets={"knit": facet})

    outputs = [dataset(OutputDataset, p) for p in run["outputs"]]
    if run.get("log"):
        outputs.append(dataset(OutputDataset, run["log"], log=True))
    plan = run["plan"]
    return OperatorLineage(
        inputs=[dataset(InputDataset, p) for p in run["inputs"]],
        outputs=outputs,
        job_facets={"knitPlan": plan_facet(planId=plan["planId"], image=plan.get("image", ""), runId=run["runId"])},
    )


class KnitRunLineage:
    """Mixed into a Run's operator: its lineage for the OpenLineage provider, read from the catalog."""

    knit_run_id: str
    knit_conn_id: str

    def _knit_lineage(self, task_instance: Any = None) -> Any:
        run_id = getattr(self, "knit_run_id", "") or ""
        if not run_id and task_instance is not None:
            from knit_provider.core.airflow_names import run_id_of_dagrun

            run_id = run_id_of_dagrun(getattr(task_instance, "run_id", "") or "") or ""
        if not run_id or "{{" in run_id:
            return None
        from knit_provider.service import data as service_data

        with KnitHook(self.knit_conn_id).get_conn() as knit:
            run = service_runs.show(knit, run_id)
            ports = run["inputs"] + run["outputs"] + ([run["log"]] if run.get("log") else [])
            tags = {p["knitId"]: service_data.show(knit, p["knitId"])["tags"] for p in ports}
        return run_lineage(run, tags)

    def get_openlineage_facets_on_start(self) -> Any:
        return self._knit_lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self._knit_lineage(task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self._knit_lineage(task_instance)
