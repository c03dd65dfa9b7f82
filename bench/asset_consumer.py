"""The ``asset_consumer`` figure of ``bench/latency.py``: from a Knit Run's output becoming done to a classic DAG's
task (scheduled on ``KnitAsset``) starting, against Airflow's own producer task -> Asset -> consumer task.

Both consumers ride on the latency bench's chains, so each world carries one extra consumer of its stage 1:

- **knit**: ``bench_knit_consumer`` is scheduled on ``KnitAsset(tags=["bench:s1"])``; its task writes the knit ids it
  got. The delay is its task instance's ``start_date`` minus the stage-1 Run's ``finished_at`` in the catalog (the
  moment the Data became usable).
- **airflow**: ``bench_asset_consumer`` is scheduled on ``Asset("bench_s1")``, the outlet of ``bench_chain_1``'s task.
  The delay is its task instance's ``start_date`` minus that producer task's ``end_date`` (the outlet event is
  registered as the task succeeds).

``ratio`` = median knit / median airflow; target <= 1.25.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.25
CONSUMERS = ["bench_knit_consumer", "bench_asset_consumer"]
WAIT_S = 90.0

CONSUMER_DAG_FILE = '''"""Consumers of the latency bench's stage 1, on a KnitAsset and on an Asset."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import DAG, Asset, task

from knit_provider.assets import KnitAsset, knit_ids

KNIT_FILE = Path({knit_file!r})
ASSET_FILE = Path({asset_file!r})


def consumer(dag_id, asset, out):
    with DAG(dag_id, schedule=[asset], start_date=datetime(2024, 1, 1, tzinfo=UTC), catchup=False,
             is_paused_upon_creation=False, max_active_runs=16, tags=["bench"]) as dag:

        @task(task_id="consume")
        def consume(**context):
            line = {{"t": time.time(), "run_id": context["run_id"],
                     "knit_ids": knit_ids(context.get("triggering_asset_events"))}}
            with out.open("a") as f:
                f.write(json.dumps(line) + "\\n")

        consume()
    return dag


bench_knit_consumer = consumer("bench_knit_consumer", KnitAsset(tags=["bench:s1"]), KNIT_FILE)
bench_asset_consumer = consumer("bench_asset_consumer", Asset("bench_s1"), ASSET_FILE)
'''


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


class AssetConsumers:
    """Installs the two consumer DAGs beside the bench's chains and measures each round's delays."""

    def __init__(self, work: Path, dags: Path) -> None:
        self.knit_file = work / "knit_consumer.jsonl"
        self.asset_file = work / "asset_consumer.jsonl"
        self.knit_file.touch()
        self.asset_file.touch()
        (dags / "bench_consumers.py").write_text(
            CONSUMER_DAG_FILE.format(knit_file=str(self.knit_file), asset_file=str(self.asset_file))
        )
        self.asset_lines_seen = 0

    def wait_ready(self, airflow: Any, knit: Any) -> None:
        """Both DAGs parsed and the KnitAsset's watcher running (its cursor is in the catalog)."""
        from knit_provider.service import assets
        from knit_provider.service.assets import AssetSpec

        airflow.wait_for_dags(CONSUMERS, timeout=180)
        key = AssetSpec.of(["bench:s1"]).key
        deadline = time.monotonic() + WAIT_S
        while key not in {w["asset_key"] for w in assets.watches(knit)}:
            if time.monotonic() > deadline:
                raise TimeoutError("the bench's KnitAsset watcher did not start")
            time.sleep(0.5)

    def _start(self, airflow: Any, dag_id: str, run_id: str) -> float | None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            ti = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/consume")
            if ti.get("start_date"):
                return _epoch(ti["start_date"])
            time.sleep(0.2)
        return None

    def knit_delay(self, airflow: Any, stage1_output: str, done_at: float) -> float | None:
        """Seconds from the stage-1 output usable to the KnitAsset consumer's task start."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for line in self.knit_file.read_text().splitlines():
                entry = json.loads(line)
                if stage1_output in entry["knit_ids"]:
                    started = self._start(airflow, "bench_knit_consumer", entry["run_id"])
                    return round(started - done_at, 3) if started else None
            time.sleep(0.1)
        return None

    def airflow_delay(self, airflow: Any) -> float | None:
        """Seconds from ``bench_chain_1``'s task end to the Asset consumer's task start, for the round just run."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            lines = self.asset_file.read_text().splitlines()
            if len(lines) > self.asset_lines_seen:
                entry = json.loads(lines[self.asset_lines_seen])
                self.asset_lines_seen = len(lines)
                started = self._start(airflow, "bench_asset_consumer", entry["run_id"])
                producer = airflow.api("GET", "/api/v2/dags/bench_chain_1/dagRuns?order_by=-id&limit=1")["dag_runs"][0]
                ti = airflow.api(
                    "GET", f"/api/v2/dags/bench_chain_1/dagRuns/{producer['dag_run_id']}/taskInstances/copy"
                )
                ended = _epoch(ti.get("end_date"))
                return round(started - ended, 3) if started and ended else None
            time.sleep(0.1)
        return None


def summary(knit_delays: list[float | None], airflow_delays: list[float | None]) -> dict:
    knit = [d for d in knit_delays if d is not None]
    flow = [d for d in airflow_delays if d is not None]
    knit_s = round(statistics.median(knit), 3) if knit else None
    airflow_s = round(statistics.median(flow), 3) if flow else None
    ratio = round(knit_s / airflow_s, 3) if knit_s is not None and airflow_s else None
    return {
        "knit_s": knit_s,
        "airflow_s": airflow_s,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio is not None and ratio <= TARGET_RATIO,
        "knit_rounds_s": knit_delays,
        "airflow_rounds_s": airflow_delays,
        "what": "output usable (Run done) -> consumer task start, vs producer task end -> Asset consumer task start",
    }
