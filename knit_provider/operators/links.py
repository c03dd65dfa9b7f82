"""Links from Airflow back to Knit: a Plan DAG's task shows its Knit Run; every link starts with Airflow's base path."""

from __future__ import annotations

from airflow.sdk import BaseOperatorLink

from knit_provider.core.airflow_names import knit_run_path, run_id_of_dagrun
from knit_provider.hooks.knit import airflow_base_path


class KnitRunLink(BaseOperatorLink):
    name = "Knit Run"

    def get_link(self, operator, *, ti_key) -> str:
        run_id = run_id_of_dagrun(ti_key.run_id)
        return knit_run_path(run_id, airflow_base_path()) if run_id else ""
