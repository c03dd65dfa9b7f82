"""``knit_retention``: a scheduled DAG applying the declared retention policies (``service.retention``) with
its one task, ``KnitRetentionOperator``."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.retention import KnitRetentionOperator
from knit_provider.version_compat import airflow_conf

RETENTION_DAG_ID = "knit_retention"
DEFAULT_SCHEDULE = "@daily"


def retention_dags(knit_conn_id: str = KnitHook.default_conn_name) -> dict[str, DAG]:
    """``knit_retention``, on ``[knit] retention_schedule`` (default daily), unpaused."""
    schedule = airflow_conf().get("knit", "retention_schedule", fallback=None) or DEFAULT_SCHEDULE
    with DAG(
        RETENTION_DAG_ID,
        schedule=schedule,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,
        tags=["knit"],
        description="Applies the declared Knit retention policies (purges Data; inputs of unfinished Runs stay)",
        doc_md=(
            "Applies each policy declared in the `knit` connection's `retention` extra, else in "
            "`<knit home>/retention.yaml`; the task log lists every purged knit id and the bytes freed."
        ),
    ) as dag:
        KnitRetentionOperator(task_id="apply_policies", knit_conn_id=knit_conn_id)
    return {RETENTION_DAG_ID: dag}
