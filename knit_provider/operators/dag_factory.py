"""Builds Knit's Airflow DAGs from the catalog: ``knit_generator`` and one ``knit_plan__<slug>`` per Plan.

The DAG file (``dags/knit_dags.py``) only calls :func:`knit_dags`; the Plans come from the Airflow-free
``service.execution.plan_dags`` so what a DAG holds is decided (and tested) without Airflow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.run import KnitRunOperator
from knit_provider.sensors.catalog import KnitGeneratorSensor
from knit_provider.service.execution import RUN_TASK_ID, PlanDag, plan_dags

GENERATOR_DAG_ID = "knit_generator"
START = datetime(2024, 1, 1, tzinfo=UTC)


def generator_dag(knit_conn_id: str = KnitHook.default_conn_name) -> DAG:
    """Sensor-driven and always on: one task waits (deferred) for catalog work, then does a pass; ``@continuous``
    starts the next wait as soon as a DagRun ends."""
    with DAG(
        GENERATOR_DAG_ID,
        schedule="@continuous",
        start_date=START,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,
        tags=["knit"],
        description="Starts waiting Knit Runs as DagRuns of their Plans' DAGs and fails Runs whose task died",
        doc_md=(
            "Waits (deferred, in the triggerer) until the Knit catalog holds work, then dispatches every waiting "
            "Run and reconciles the held ones. `airflow dags trigger knit_generator` forces a pass."
        ),
    ) as dag:
        KnitGeneratorSensor(
            task_id="generate",
            knit_conn_id=knit_conn_id,
            forced_dag_id=GENERATOR_DAG_ID,
            # Airflow 3.3 can fail a task whose trigger fires before the scheduler has seen it defer (the re-queued
            # TI meets the worker's stale "success"); a quick retry keeps the generator green. Nothing is lost
            # either way: the catalog holds the work.
            retries=2,
            retry_delay=timedelta(seconds=1),
        )
    return dag


def plan_dag(plan: PlanDag, knit_conn_id: str = KnitHook.default_conn_name, runner: str = "process") -> DAG:
    """One DagRun per Knit Run (run id ``knit__<run id>``); unpaused at creation when the Plan is active.

    The task is a ``KnitPodOperator`` (the real KubernetesPodOperator) with the kubernetes runner, else a
    ``KnitRunOperator``.
    """
    ports = "\n".join([f"- in `{p}`" for p in plan.inputs] + [f"- out `{p}`" for p in plan.outputs])
    with DAG(
        plan.dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        is_paused_upon_creation=not plan.active,
        max_active_runs=16,
        tags=["knit", "knit-plan"],
        description=plan.description,
        doc_md=f"**Knit Plan** `{plan.plan_id}`\n\nimage `{plan.image}`\n\n{ports}",
    ) as dag:
        if runner == "kubernetes":
            from knit_provider.operators.pod import KnitPodOperator  # KPO costs seconds to import: only if used

            KnitPodOperator(task_id=RUN_TASK_ID, plan_id=plan.plan_id, knit_conn_id=knit_conn_id)
        else:
            KnitRunOperator(task_id=RUN_TASK_ID, plan_id=plan.plan_id, knit_conn_id=knit_conn_id)
    return dag


def knit_dags(knit_conn_id: str = KnitHook.default_conn_name) -> dict[str, DAG]:
    """All of Knit's DAGs by id, read from the catalog now (the DAG processor re-runs this at every parse)."""
    dags = {GENERATOR_DAG_ID: generator_dag(knit_conn_id)}
    hook = KnitHook(knit_conn_id)
    with hook.get_conn() as knit:
        for plan in plan_dags(knit.engine):
            dags[plan.dag_id] = plan_dag(plan, knit_conn_id, hook.settings.runner)
    return dags
