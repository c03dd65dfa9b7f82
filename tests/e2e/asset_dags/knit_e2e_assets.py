"""Classic DAGs around Knit Data, for the end-to-end tests: consumers scheduled on KnitAssets (of pushed Data, and
of a Plan's outputs), a DAG whose tasks
push Knit Data (an operator, and the hook on an ObjectStoragePath), and one that waits for Knit Data and pulls it."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import ObjectStoragePath, dag, task

from knit_provider.assets import KnitAsset, knit_ids
from knit_provider.hooks.data import KnitDataHook
from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.data import KnitPullOperator, KnitPushOperator
from knit_provider.sensors.data import KnitDataSensor

START = datetime(2024, 1, 1, tzinfo=UTC)
HOME = KnitHook().settings.knit_home


def asset_consumer(dag_id: str, tags: list[str], log_name: str):
    """A DAG scheduled on the KnitAsset of ``tags``, writing each knit id it gets (and its DagRun) to ``log_name``."""

    @dag(
        dag_id=dag_id,
        schedule=[KnitAsset(tags=tags)],
        start_date=START,
        catchup=False,
        is_paused_upon_creation=False,
        max_active_runs=16,
    )
    def consumer():
        @task
        def consume(*, triggering_asset_events=None, dag_run=None) -> list[str]:
            received = knit_ids(triggering_asset_events)
            with (HOME / log_name).open("a") as log:
                log.writelines(f"{knit_id} {dag_run.run_id}\n" for knit_id in received)
            return received

        consume()

    return consumer()


@dag(dag_id="knit_e2e_push", schedule=None, start_date=START, catchup=False, is_paused_upon_creation=False)
def pusher():
    @task
    def make_batch(*, dag_run=None) -> str:
        batch = Path(tempfile.mkdtemp(prefix="knit-e2e-batch-"))
        (batch / "rows.csv").write_text(f"id,label\n1,{dag_run.run_id}\n")
        return str(batch)

    @task
    def hook_push() -> str:
        # a file:// store: Airflow 3.3 opens an ObjectStoragePath only through a scheme registered with Airflow
        # (file and local; s3, gcs... come with their providers), so memory:// cannot be read back
        root = ObjectStoragePath(f"file://{tempfile.mkdtemp()}/hook-batch")
        (root / "nested").mkdir(parents=True, exist_ok=True)
        (root / "nested" / "a.txt").write_text("from object storage\n")
        return KnitDataHook().push(root, tags=["e2e:hook-pushed"])

    KnitPushOperator(task_id="push_op", source=make_batch(), tags=["e2e:pushed"], name="batch")
    hook_push()


@dag(dag_id="knit_e2e_sensor", schedule=None, start_date=START, catchup=False, is_paused_upon_creation=False)
def waiter():
    wait = KnitDataSensor(task_id="wait", tags=["e2e:sensed"], poke_interval=1)
    pull = KnitPullOperator(task_id="pull", knit_id="{{ ti.xcom_pull(task_ids='wait')[0] }}", dest=str(HOME / "pulled"))
    wait >> pull


asset_consumer("knit_e2e_asset_consumer", ["e2e:asset-burst", "project:assets"], "consumed.log")
asset_consumer("knit_e2e_run_output_consumer", ["e2e:asset-run-out"], "consumed-run-outputs.log")
pusher()
waiter()
