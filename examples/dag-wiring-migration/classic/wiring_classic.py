"""The pipeline as teams wire it today: three DAGs chained by Assets (ingest -> train -> report).

Every hand-off is a file path carried in an asset event's extra; training also evaluates, on the batch it trained
on; the report collects what the training DAG says it evaluated. Adding a second model version means editing these
DAGs (and deciding by hand which old batches to re-run it on).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import Asset, dag, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "steps"))
import pipeline  # noqa: E402  (the steps, shared with the Knit Plans' image)

DATA = Path(os.environ.get("WIRING_DATA", "/tmp/knit-wiring")) / "classic"
RAW = Asset("wiring_classic_raw", uri=f"file://{DATA}/raw")
METRICS = Asset("wiring_classic_metrics", uri=f"file://{DATA}/metrics")
START = datetime(2024, 1, 1, tzinfo=UTC)


@dag(schedule=None, start_date=START, catchup=False, is_paused_upon_creation=False, tags=["wiring", "classic"])
def wiring_classic_ingest():
    @task(outlets=[RAW])
    def ingest(*, dag_run=None, outlet_events=None) -> str:
        batch = int((dag_run.conf or {}).get("batch", 1))
        out = pipeline.ingest(batch, DATA / "raw" / f"batch-{batch}")
        outlet_events[RAW].extra = {"path": str(out), "batch": batch}
        return str(out)

    ingest()


@dag(schedule=[RAW], start_date=START, catchup=False, is_paused_upon_creation=False, tags=["wiring", "classic"])
def wiring_classic_train():
    @task(outlets=[METRICS])
    def train_and_evaluate(*, triggering_asset_events=None, outlet_events=None) -> list[str]:
        done = []
        for event in triggering_asset_events[RAW]:
            dataset = Path(event.extra["path"])
            model = pipeline.train(dataset, DATA / "models" / dataset.name)
            done.append(str(pipeline.evaluate(model, dataset, DATA / "metrics" / dataset.name)))
        outlet_events[METRICS].extra = {"paths": done}
        return done

    train_and_evaluate()


@dag(schedule=[METRICS], start_date=START, catchup=False, is_paused_upon_creation=False, tags=["wiring", "classic"])
def wiring_classic_report():
    @task
    def report(*, triggering_asset_events=None) -> str:
        paths = [Path(p) for event in triggering_asset_events[METRICS] for p in event.extra["paths"]]
        return str(pipeline.report(paths, DATA.parent / "report-classic.md", title="Classic pipeline"))

    report()


wiring_classic_ingest()
wiring_classic_train()
wiring_classic_report()
