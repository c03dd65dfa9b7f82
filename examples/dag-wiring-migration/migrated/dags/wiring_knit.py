"""The same pipeline half-migrated to Knit: ingest stays a classic DAG and pushes Knit Data; training and evaluation
are Plans (``../plans/``); the report stays a classic DAG, scheduled on the evaluations' Knit Data.

What changed: the ingest task ends in ``KnitPushOperator`` instead of an outlet; the train DAG is gone (two Plans
take its place, and run by themselves for every dataset, and every (model, dataset) combination); the report's
schedule is ``KnitAsset(tags=[...])`` and it reads knit ids instead of paths.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import dag, task

from knit_provider.assets import KnitAsset, knit_ids
from knit_provider.hooks.data import KnitDataHook
from knit_provider.operators.data import KnitPushOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "steps"))
import pipeline  # noqa: E402  (the steps, shared with the Knit Plans' image)

DATA = Path(os.environ.get("WIRING_DATA", "/tmp/knit-wiring")) / "knit"
PROJECT = "project:wiring"
START = datetime(2024, 1, 1, tzinfo=UTC)


@dag(schedule=None, start_date=START, catchup=False, is_paused_upon_creation=False, tags=["wiring", "knit"])
def wiring_knit_ingest():
    @task
    def ingest(*, dag_run=None) -> str:
        batch = int((dag_run.conf or {}).get("batch", 1))
        return str(pipeline.ingest(batch, Path(tempfile.mkdtemp(prefix="wiring-batch-")) / f"batch-{batch}"))

    KnitPushOperator(
        task_id="push",
        source=ingest(),
        tags=["type:dataset", PROJECT],
        name="batch-{{ (dag_run.conf or {}).get('batch', 1) }}",
    )


@dag(
    schedule=[KnitAsset(tags=["type:metrics", PROJECT])],
    start_date=START,
    catchup=False,
    is_paused_upon_creation=False,
    tags=["wiring", "knit"],
)
def wiring_knit_report():
    @task
    def report(*, triggering_asset_events=None) -> str:
        hook = KnitDataHook()
        pulled = [Path(hook.pull(knit_id, DATA / "metrics")) for knit_id in knit_ids(triggering_asset_events)]
        return str(pipeline.report(pulled, DATA.parent / "report-knit.md", title="Half-migrated pipeline"))

    report()


wiring_knit_ingest()
wiring_knit_report()
