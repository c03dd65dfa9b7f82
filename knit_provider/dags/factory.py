"""Builds Knit's Airflow DAGs from the catalog: ``knit_generator`` and one ``knit_plan__<slug>`` per Plan.

The DAG file (``dags/knit_dags.py``) only calls :func:`knit_dags`; the Plans come from the Airflow-free
``service.plan_dags`` so what a DAG holds is decided (and tested) without Airflow.

Every task's process parses the DAG file again before it runs (Airflow's worker start-up parse): there
:func:`knit_dags` builds only the DAG Airflow's parsing context names, the generator's sensor is imported only for
the generator's DAG (nothing either task imports reaches the kubernetes client: ``tests/unit/test_layers.py``), and
a Plan's DAG is built without its KnitAssets: they only draw Airflow's asset graph, which the DAG processor's parse
records, the task emits no asset event (``KnitRunOperator`` clears its outlets), and the first Asset a process
builds makes Airflow import every provider's asset handlers (the Amazon provider's pulls in boto: about 0.25 CPU s).
All of it, in each Run's task, cost most of a trivial Run's task time (``bench/fanout.py``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, get_parsing_context

from knit_provider.assets import KnitAsset
from knit_provider.core.airflow_names import DAG_PREFIX, RUN_TASK_ID
from knit_provider.core.run_control import RunControl
from knit_provider.dags.retention import retention_dags
from knit_provider.hooks.knit import KnitHook
from knit_provider.notifications.resolve import plan_callbacks
from knit_provider.operators.run import KnitRunOperator
from knit_provider.service.assets import PlanAssets, plan_assets
from knit_provider.service.plan_dags import PlanDag, plan_dags
from knit_provider.service.settings import KnitSettings

log = logging.getLogger(__name__)
GENERATOR_DAG_ID = "knit_generator"
START = datetime(2024, 1, 1, tzinfo=UTC)


def generator_dag(knit_conn_id: str = KnitHook.default_conn_name) -> DAG:
    """Sensor-driven and always on: one task waits (deferred) for catalog work, then does a pass; ``@continuous``
    starts the next wait as soon as a DagRun ends."""
    from knit_provider.sensors.catalog import KnitGeneratorSensor  # only here: see the module's docstring

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


def plan_dag(
    plan: PlanDag,
    knit_conn_id: str = KnitHook.default_conn_name,
    runner: str = "process",
    defaults: RunControl | None = None,
    *,
    on_failure_notifier: str = "",
    ports: PlanAssets | None = None,
    settings: KnitSettings | None = None,
) -> DAG:
    """One DagRun per Knit Run (run id ``knit__<run id>``); created unpaused (an inactive Plan's Runs wait in the
    catalog).

    ``ports``: the KnitAssets its task declares as inlets and outlets, for Airflow's asset graph only (the task
    emits no outlet events: a KnitAsset's events come from its watcher, one per Data). A watched one is declared
    with its watcher (a consumer's default one), or each parse of Knit's DAG file would cancel the watcher's
    trigger.

    The task is a ``KnitPodOperator`` (the real KubernetesPodOperator) with the kubernetes runner, else a
    ``KnitRunOperator``. Its retries are the Plan's (else ``defaults``): each attempt of a Run is a try of the task.
    The notifiers the Plan's ``knit.notify.*`` annotations name (and ``on_failure_notifier``, for every Plan) are
    the DAG's callbacks; one that cannot be built is left out, logged and said on the DAG's page.

    ``settings``: the Knit settings this parse read; the task keeps them, so a Run's task (which parses its DAG
    first, in its own process) reads its connection once.
    """
    control = plan.control.with_defaults(defaults or RunControl())
    task = {
        "task_id": RUN_TASK_ID,
        "plan_id": plan.plan_id,
        "knit_conn_id": knit_conn_id,
        "retries": control.retry_count,
        "retry_delay": timedelta(seconds=control.retry_delay),
    }
    if ports is not None:
        task["inlets"] = [
            KnitAsset(tags, knit_conn_id=knit_conn_id, watch=tags in ports.watched) for tags in ports.inlets
        ]
        task["outlets"] = [
            KnitAsset(tags, knit_conn_id=knit_conn_id, watch=tags in ports.watched) for tags in ports.outlets
        ]
    ports = "\n".join([f"- in `{p}`" for p in plan.inputs] + [f"- out `{p}`" for p in plan.outputs])
    callbacks = plan_callbacks(plan.annotations, on_failure=on_failure_notifier)
    for problem in callbacks.problems:
        log.error("Knit Plan %s (%s): %s", plan.plan_id, plan.dag_id, problem)
    unused = "".join(f"\n\n**Notifier not applied**: {problem}" for problem in callbacks.problems)
    with DAG(
        plan.dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        # never paused: an inactive Plan's Runs wait `deactivated` in the catalog and are never dispatched, and a
        # DAG created paused would stay paused once the Plan is activated (nothing in a task may unpause a DAG)
        is_paused_upon_creation=False,
        max_active_runs=16,
        tags=["knit", "knit-plan"],
        description=plan.description,
        doc_md=f"**Knit Plan** `{plan.plan_id}`\n\nimage `{plan.image}`\n\n{ports}{unused}",
        **callbacks.dag_kwargs(),
    ) as dag:
        if runner == "kubernetes":
            from knit_provider.operators.pod import KnitPodOperator  # KPO costs seconds to import: only if used

            operator = KnitPodOperator(**task)
        else:
            operator = KnitRunOperator(**task)
        operator.parsed_settings = settings
    return dag


def knit_dags(knit_conn_id: str = KnitHook.default_conn_name) -> dict[str, DAG]:
    """All of Knit's DAGs by id, read from the catalog now (the DAG processor re-runs this at every parse).

    In a task's process, Airflow's parsing context names the one DAG it runs: only that one is built, without its
    KnitAssets (all of them, as the DAG processor builds them, when it names none of Knit's, e.g. a Plan deleted
    since).
    """
    wanted = get_parsing_context().dag_id
    if wanted is not None:
        dags = _build(knit_conn_id, only=wanted)
        if wanted in dags:
            return dags
    return _build(knit_conn_id, only=None)


def _build(knit_conn_id: str, only: str | None) -> dict[str, DAG]:
    """Knit's DAGs, or (``only``) just the one of that id if it is one of Knit's."""
    dags: dict[str, DAG] = {}
    if only is None or only == GENERATOR_DAG_ID:
        dags[GENERATOR_DAG_ID] = generator_dag(knit_conn_id)
    if only is None or not only.startswith(DAG_PREFIX):
        dags.update(retention_dags(knit_conn_id))
    if only is not None and not only.startswith(DAG_PREFIX):
        return {only: dags[only]} if only in dags else {}
    hook = KnitHook(knit_conn_id)
    with hook.get_conn() as knit:
        chosen = [plan for plan in plan_dags(knit) if only is None or plan.dag_id == only]
        ports = plan_assets(knit) if chosen and only is None else {}  # see the module's docstring
        for plan in chosen:
            dags[plan.dag_id] = plan_dag(
                plan, knit_conn_id, hook.settings.runner, hook.settings.default_control, ports=ports.get(plan.plan_id),
                on_failure_notifier=hook.settings.on_failure_notifier, settings=hook.settings,
            )  # fmt: skip
    return dags
