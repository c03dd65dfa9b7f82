"""Latency benchmark: a 3-Plan Knit chain against the same chain as three Asset-scheduled Airflow DAGs.

Prints one JSON line ``{"knit": {...}, "airflow_assets": {...}, "ratio": R, "targets": {...}, ...}``. Both chains
run on ONE ``airflow standalone`` (SQLite, LocalExecutor, parallelism 4, the process runner), in alternating rounds
after one warm-up round of each, so machine noise hits both alike.

- **knit**: Plans ``bench:raw -> bench:s1 -> bench:s2 -> bench:s3``, each a trivial program (``cp -r`` of its input
  to its output, image ``knit-bench:1.0`` mapped to a build context whose Dockerfile has ``ENTRYPOINT ["sh","-c"]``).
  A round starts just before ``data.push_dir`` of a fresh small directory tagged ``bench:raw`` and ends at the
  stage-3 Run's ``finished_at`` in the catalog (the time the Run became done, written by its task). As
  ``knit data push`` does when its profile names the Airflow, the push then starts the new Run's DagRun through
  Airflow's REST API (the CLI's ``AirflowApiDispatcher``, with a token fetched once, as the asset side's);
  ``--generator-only`` leaves that to the generator instead.
- **airflow_assets**: ``bench_chain_1`` (scheduled on ``Asset("bench_start")``, outlet ``bench_s1``) ->
  ``bench_chain_2`` -> ``bench_chain_3``; each task copies a small directory (``shutil.copytree``); the last one
  appends ``time.time()`` to a file. A round starts just before ``POST /api/v2/assets/events`` for ``bench_start``
  and ends at the time that task wrote.
- ``chain_3_total_s``: median over rounds (each round is reported too); ``ratio`` = knit / airflow_assets.
- ``per_stage_overhead_s`` = (knit ``chain_3_total_s`` - program time) / 3, the program time being three runs of
  the same program through the process runner directly.
- ``asset_consumer``: from a stage-1 output usable to a classic DAG on ``KnitAsset(tags=["bench:s1"])`` starting its
  task, against ``bench_chain_1``'s task end to a classic DAG on ``Asset("bench_s1")`` starting its task
  (``bench/asset_consumer.py``; ``knit_s``, ``airflow_s``, ``ratio``, target <= 1.25).
- ``stage_s``: per-stage medians (stage k ends when Run k is done / DAG k's task ended), and per round a timeline
  relative to the round's start: catalog times (Run created, claimed for dispatch, done) and Airflow's (DagRun
  queued, task queued / started / ended, the generator's sensor and dispatch task).

Targets: ratio <= 1.25 and per_stage_overhead_s <= 3. Before each round the bench waits until nothing but the
generator's deferred sensor is live (the idle system a user pushes into). Usage:
``python bench/latency.py [--rounds 5] [--keep] [--metadata postgresql]`` (a few minutes; progress on stderr).
``--metadata postgresql`` runs the same components one by one on a temporary PostgreSQL instead of SQLite: on
SQLite, Airflow starts a queued DagRun only once ``CURRENT_TIMESTAMP`` (whole seconds) passed its ``run_after``, so
an asset-triggered DagRun made within the second of its event waits for the scheduler's next loop (about 1 s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from asset_consumer import AssetConsumers, summary  # bench/asset_consumer.py: the asset_consumer figure
from knit_dev.cluster import AirflowCluster
from knit_dev.postgres import TemporaryPostgres
from knit_dev.standalone import REPO, Standalone, free_port
from sqlalchemy import select

from knit_provider.airflow_client.dagruns import AirflowEndpoint
from knit_provider.catalog.models import data_t, run_inputs_t, runs_t
from knit_provider.cli.backend import AirflowApiDispatcher
from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.runners.base import Mount, RunRequest
from knit_provider.runners.image_map import ImageMap
from knit_provider.runners.process import ProcessRunner
from knit_provider.service import Knit, data, plans

IMAGE = "knit-bench:1.0"
PROGRAM = "cp -r /in/x/. /out/y/"
TARGETS = {"ratio": 1.25, "per_stage_overhead_s": 3}
GENERATOR = "knit_generator"
GENERATOR_TASK = "generate"
ROUND_TIMEOUT_S = 180.0
POLL_S = 0.05
ASSET_DAGS = ["bench_chain_1", "bench_chain_2", "bench_chain_3"]

ASSET_DAG_FILE = '''"""The Asset-scheduled twin of the latency bench's Knit chain (written by bench/latency.py)."""

import json
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import DAG, Asset, task

SOURCE = Path({source!r})
WORK = Path({work!r})
END_FILE = Path({end_file!r})


def chain_dag(number, upstream, outlet):
    with DAG(
        f"bench_chain_{{number}}",
        schedule=[Asset(upstream)],
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        is_paused_upon_creation=False,
        tags=["bench"],
    ) as dag:

        @task(task_id="copy", outlets=[Asset(outlet)] if outlet else [])
        def copy(**context):
            shutil.copytree(SOURCE, WORK / f"s{{number}}-{{uuid.uuid4().hex}}")
            if outlet is None:
                with END_FILE.open("a") as out:
                    out.write(json.dumps({{"t": time.time(), "run_id": context["run_id"]}}) + "\\n")

        copy()
    return dag


bench_chain_1 = chain_dag(1, "bench_start", "bench_s1")
bench_chain_2 = chain_dag(2, "bench_s1", "bench_s2")
bench_chain_3 = chain_dag(3, "bench_s2", None)
'''


def log(message: str) -> None:
    print(f"[latency {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plan_yaml(number: int) -> str:
    return (
        f'image: "{IMAGE}"\n'
        f'inputs:\n  - path: "/in/x"\n    tags: ["bench:{"raw" if number == 1 else f"s{number - 1}"}"]\n'
        f'outputs:\n  - path: "/out/y"\n    tags: ["bench:s{number}"]\n'
        f'args: ["{PROGRAM}"]\n'
        "active: true\n"
    )


def make_payload(directory: Path, label: str) -> Path:
    """A small directory: three files of 1 KiB in a subdirectory, one of them unique to this round."""
    (directory / "sub").mkdir(parents=True)
    for n in range(3):
        (directory / "sub" / f"f{n}.txt").write_text(f"{label} {n}\n" * 64)
    return directory


def epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def rel(value: float | None, t0: float) -> float | None:
    return round(value - t0, 3) if value is not None else None


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


class Bench:
    def __init__(self, home: Path, rounds: int, *, start_at_push: bool = True, metadata_url: str = "") -> None:
        self.home = home
        self.rounds = rounds
        self.start_at_push = start_at_push
        self.work = home / "bench"
        self.work.mkdir(parents=True)
        context = self.work / "image"
        context.mkdir()
        (context / "Dockerfile").write_text('FROM busybox\nENTRYPOINT ["sh", "-c"]\n')
        self.image_map = self.work / "images.yaml"
        self.image_map.write_text(f'"{IMAGE}": image\n')
        self.end_file = self.work / "asset_end.jsonl"
        self.end_file.touch()
        dags = self.work / "dags"
        dags.mkdir()
        shutil.copy(REPO / "dags" / "knit_dags.py", dags / "knit_dags.py")
        source = make_payload(self.work / "asset_source", "asset")
        (self.work / "asset_out").mkdir()
        (dags / "bench_asset_chain.py").write_text(
            ASSET_DAG_FILE.format(source=str(source), work=str(self.work / "asset_out"), end_file=str(self.end_file))
        )
        self.consumers = AssetConsumers(self.work, dags)
        where = {"knit_home": home, "port": free_port(), "image_maps": [self.image_map], "dags_folder": dags}
        # on PostgreSQL: the same components, one by one (AirflowCluster with one scheduler)
        self.airflow: Standalone = (
            AirflowCluster(**where, metadata_url=metadata_url, schedulers=1) if metadata_url else Standalone(**where)
        )
        self.knit = Knit.open(home=home)
        self.starter: AirflowApiDispatcher | None = None  # None: the generator alone starts the Runs
        self.plan_ids: list[str] = []
        self.asset_id: int | None = None

    # ---- set-up -------------------------------------------------------------------------------------------

    def apply_plans(self) -> list[str]:
        for number in (1, 2, 3):
            self.plan_ids.append(plans.apply(self.knit, plan_yaml(number))["planId"])
        return [plan_dag_id(IMAGE, p) for p in self.plan_ids]

    def find_asset_id(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.airflow.api("GET", "/api/v2/assets?uri_pattern=bench_start")["assets"]
            for asset in found:
                if asset["uri"] == "bench_start":
                    return int(asset["id"])
            time.sleep(1)
        raise TimeoutError("asset bench_start not registered")

    def wait_idle(self, timeout: float = 90.0) -> float:
        """Until no DagRun but the generator's is live and the generator's sensor is deferred; seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            live = self.airflow.api("GET", "/api/v2/dags/~/dagRuns?state=queued&state=running&limit=100")
            others = [r for r in live["dag_runs"] if r["dag_id"] != GENERATOR]
            gen = [r for r in live["dag_runs"] if r["dag_id"] == GENERATOR]
            armed = False
            if len(gen) == 1:
                tis = self.task_instances(GENERATOR, gen[0]["dag_run_id"])
                armed = tis.get(GENERATOR_TASK, {}).get("state") == "deferred"
            if not others and armed:
                return time.monotonic() - started
            time.sleep(0.25)
        log(f"warning: not idle after {timeout:.0f}s; going on")
        return time.monotonic() - started

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        reply = self.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in reply["task_instances"]}

    # ---- knit rounds --------------------------------------------------------------------------------------

    def chain_rows(self, knit_id: str) -> list[dict]:
        """The Runs downstream of ``knit_id`` along the chain (one per stage, as far as they exist)."""
        found: list[dict] = []
        current = knit_id
        with self.knit.engine.connect() as conn:
            for _ in range(3):
                row = (
                    conn.execute(
                        select(runs_t)
                        .join(run_inputs_t, run_inputs_t.c.run_id == runs_t.c.run_id)
                        .where(run_inputs_t.c.knit_id == current)
                    )
                    .mappings()
                    .first()
                )
                if row is None:
                    break
                found.append(dict(row))
                if row["status"] != "done":
                    break
                outputs = conn.execute(select(data_t.c.knit_id).where(data_t.c.run_id == row["run_id"])).scalars()
                current = next(iter(outputs), None)
                if current is None:
                    break
        return found

    def knit_round(self, label: str) -> dict:
        payload = make_payload(self.work / "payloads" / label, label)
        t0 = time.time()
        knit_id = data.push_dir(self.knit, payload, ["bench:raw"])["knitId"]  # its dispatcher starts the Run
        push_s = time.time() - t0
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while True:
            rows = self.chain_rows(knit_id)
            failed = [r for r in rows if r["status"] in ("failed", "invalidated", "deactivated")]
            if failed:
                raise RuntimeError(f"knit round {label}: Run {failed[0]['run_id']} is {failed[0]['status']}")
            if len(rows) == 3 and rows[2]["status"] == "done":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"knit round {label}: chain not done after {ROUND_TIMEOUT_S:.0f}s: {rows}")
            time.sleep(POLL_S)
        polled_end = time.time()
        total = rows[2]["finished_at"] / 1000 - t0
        with self.knit.engine.connect() as conn:
            stage1_output = conn.execute(select(data_t.c.knit_id).where(data_t.c.run_id == rows[0]["run_id"])).scalar()
        consumer_s = self.consumers.knit_delay(self.airflow, stage1_output, rows[0]["finished_at"] / 1000)
        stages = []
        previous = t0
        for number, (plan_id, row) in enumerate(zip(self.plan_ids, rows, strict=True), start=1):
            dag_id = plan_dag_id(IMAGE, plan_id)
            finished = row["finished_at"] / 1000
            stage = {
                "stage_s": round(finished - previous, 3),
                "run_created": rel(row["created_at"] / 1000, t0),
                "claimed": rel(row["dispatched_at"] / 1000 if row["dispatched_at"] else None, t0),
                "run_done": rel(finished, t0),
            }
            previous = finished
            try:
                dagrun = self.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(row['run_id'])}")
                ti = self.task_instances(dag_id, dagrun["dag_run_id"]).get("run", {})
                stage.update(
                    dagrun_queued=rel(epoch(dagrun["queued_at"]), t0),
                    task_queued=rel(epoch(ti.get("queued_when")), t0),
                    task_start=rel(epoch(ti.get("start_date")), t0),
                    task_end=rel(epoch(ti.get("end_date")), t0),
                )
            except Exception as exc:  # the timeline is a bonus: never lose the round for it
                stage["airflow_error"] = str(exc)
            stages.append({"stage": number, **stage})
        return {
            "total_s": round(total, 3),
            "polled_total_s": round(polled_end - t0, 3),
            "push_s": round(push_s, 3),
            "stages": stages,
            "generator": self.generator_timeline(t0, polled_end),
            "asset_consumer_s": consumer_s,
        }

    def generator_timeline(self, t0: float, t_end: float) -> dict | None:
        """The generator pass that took this round's upload: the earliest sensor to end after the push
        (None: no pass did, e.g. the Run was started by something else)."""
        try:
            recent = self.airflow.api("GET", f"/api/v2/dags/{GENERATOR}/dagRuns?order_by=-id&limit=6")["dag_runs"]
            passes = []
            for run in recent:
                tis = self.task_instances(GENERATOR, run["dag_run_id"])
                ended = epoch(tis.get(GENERATOR_TASK, {}).get("end_date"))
                if ended is not None and t0 - 0.5 <= ended <= t_end:
                    passes.append((ended, tis[GENERATOR_TASK]))
        except Exception as exc:
            return {"error": str(exc)}
        if not passes:
            return None
        ended, generate = min(passes, key=lambda p: p[0])
        return {  # the sensor resumes from its deferral and does the pass in the same task instance
            "pass_queued": rel(epoch(generate.get("queued_when")), t0),
            "pass_end": rel(ended, t0),
        }

    # ---- asset rounds -------------------------------------------------------------------------------------

    def asset_round(self, label: str) -> dict:
        seen = len(self.end_file.read_text().splitlines())
        t0 = time.time()
        self.airflow.api("POST", "/api/v2/assets/events", {"asset_id": self.asset_id, "extra": {"round": label}})
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while True:
            lines = self.end_file.read_text().splitlines()
            if len(lines) > seen and lines[seen].endswith("}"):
                end = json.loads(lines[seen])
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"asset round {label}: bench_chain_3 wrote nothing after {ROUND_TIMEOUT_S:.0f}s")
            time.sleep(POLL_S)
        total = end["t"] - t0
        consumer_s = self.consumers.airflow_delay(self.airflow)
        stages = []
        previous = t0
        for number, dag_id in enumerate(ASSET_DAGS, start=1):
            stage: dict = {}
            try:
                if number == 3:
                    run = self.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{end['run_id']}")
                else:
                    run = self.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-id&limit=1")["dag_runs"][0]
                ti = self.task_instances(dag_id, run["dag_run_id"]).get("copy", {})
                finished = end["t"] if number == 3 else epoch(ti.get("end_date"))
                stage = {
                    "stage_s": round(finished - previous, 3) if finished else None,
                    "dagrun_queued": rel(epoch(run["queued_at"]), t0),
                    "task_queued": rel(epoch(ti.get("queued_when")), t0),
                    "task_start": rel(epoch(ti.get("start_date")), t0),
                    "task_end": rel(epoch(ti.get("end_date")), t0),
                }
                previous = finished or previous
            except Exception as exc:
                stage["airflow_error"] = str(exc)
            stages.append({"stage": number, **stage})
        return {"total_s": round(total, 3), "stages": stages, "asset_consumer_s": consumer_s}

    # ---- the program alone --------------------------------------------------------------------------------

    def program_times(self, count: int = 3) -> list[float]:
        runner = ProcessRunner(image_map=ImageMap.load([self.image_map]))
        source = make_payload(self.work / "program" / "in", "program")
        times = []
        for n in range(count + 1):  # the first one warms the page cache and imports
            out = self.work / "program" / f"out{n}"
            out.mkdir(parents=True)
            request = RunRequest(
                run_id=f"bench-{n}",
                image=IMAGE,
                entrypoint=None,
                args=[PROGRAM],
                mounts=(Mount(source, "/in/x", True), Mount(out, "/out/y", False)),
                log_path=self.work / "program" / f"log{n}",
            )
            started = time.perf_counter()
            result = runner.run(request)
            elapsed = time.perf_counter() - started
            if not result.ok:
                raise RuntimeError(f"the program failed through the process runner: {result.message}")
            if not (out / "sub" / "f0.txt").is_file():
                raise RuntimeError("the program ran but copied nothing")
            if n:
                times.append(round(elapsed, 4))
        return times

    # ---- the whole bench ----------------------------------------------------------------------------------

    def run(self) -> dict:
        machine = {
            "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "other_airflow_processes": foreign_airflow_processes(),
        }
        plan_dags = self.apply_plans()
        log(f"starting airflow standalone on port {self.airflow.port} under {self.airflow.airflow_home}")
        started = time.monotonic()
        self.airflow.start()
        log(f"healthy after {time.monotonic() - started:.0f}s; waiting for the DAGs")
        self.airflow.wait_for_dags([GENERATOR, *plan_dags, *ASSET_DAGS], timeout=180)
        self.asset_id = self.find_asset_id()
        self.consumers.wait_ready(self.airflow, self.knit)
        if self.start_at_push:
            # what `knit data push` does when its profile names the Airflow
            self.starter = AirflowApiDispatcher(AirflowEndpoint(self.airflow.url, token=self.airflow.token()))
            self.knit.dispatcher = self.starter
        log(f"DAGs parsed {time.monotonic() - started:.0f}s after start; asset bench_start is id {self.asset_id}")
        knit_rounds, asset_rounds, idle_waits = [], [], []
        for number in range(self.rounds + 1):
            warm = number == 0
            for kind in ("knit", "assets") if number % 2 == 0 else ("assets", "knit"):
                idle_waits.append(round(self.wait_idle(), 2))
                label = f"{kind}-{number}"
                result = self.knit_round(label) if kind == "knit" else self.asset_round(label)
                log(f"{'warm-up ' if warm else ''}round {number} {kind}: {result['total_s']:.2f}s")
                if not warm:
                    (knit_rounds if kind == "knit" else asset_rounds).append(result)
        program = self.program_times()
        machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        knit_total = median([r["total_s"] for r in knit_rounds])
        asset_total = median([r["total_s"] for r in asset_rounds])
        program_s = round(sum(program), 4)
        overhead = round((knit_total - program_s) / 3, 3)
        ratio = round(knit_total / asset_total, 3)
        return {
            "knit": {
                "chain_3_total_s": knit_total,
                "rounds_s": [r["total_s"] for r in knit_rounds],
                "end_time": "catalog finished_at of the stage-3 Run (ms); polled_total_s is the bench's poll",
                "program_time_s": program_s,
                "program_runs_s": program,
                "per_stage_overhead_s": overhead,
                "runs_started_by": "the push (Airflow REST API), then each finishing task"
                if self.start_at_push
                else "the generator, then each finishing task",
                "stage_s": stage_medians(knit_rounds),
                "rounds": knit_rounds,
            },
            "airflow_assets": {
                "chain_3_total_s": asset_total,
                "rounds_s": [r["total_s"] for r in asset_rounds],
                "end_time": "time.time() written by bench_chain_3's task; stages 1-2 end at their task's end_date",
                "stage_s": stage_medians(asset_rounds),
                "rounds": asset_rounds,
            },
            "ratio": ratio,
            "asset_consumer": summary(
                [r["asset_consumer_s"] for r in knit_rounds], [r["asset_consumer_s"] for r in asset_rounds]
            ),
            "targets": TARGETS,
            "meets_targets": ratio <= TARGETS["ratio"] and overhead <= TARGETS["per_stage_overhead_s"],
            "rounds": self.rounds,
            "idle_wait_s": idle_waits,
            "times": "timeline fields are seconds from the round's start (just before the push / the POST)",
            "machine": machine,
            "home": str(self.home),
        }

    def close(self) -> None:
        self.knit.close()


def stage_medians(rounds: list[dict]) -> list[float | None]:
    medians = []
    for index in range(3):
        values = [r["stages"][index].get("stage_s") for r in rounds]
        values = [v for v in values if v is not None]
        medians.append(median(values) if values else None)
    return medians


def foreign_airflow_processes() -> int:
    """Airflow processes already running on the machine (another standalone shares the CPUs)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"airflow" in cmdline and entry.name != str(os.getpid()):
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds of each kind (after one warm-up)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary knit home for inspection")
    parser.add_argument(
        "--generator-only", action="store_true", help="the push names no Airflow: the generator starts stage 1"
    )
    parser.add_argument(
        "--metadata",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="Airflow's metadata database: airflow standalone on SQLite (the quickstart), or the same components "
        "on a temporary PostgreSQL (a deployment's database)",
    )
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="knit-latency-"))
    with contextlib.ExitStack() as stack:
        metadata_url = ""
        if args.metadata == "postgresql":
            metadata_url = stack.enter_context(TemporaryPostgres()).create_database("airflow")
        results = run_bench(home, args, metadata_url)
    print(json.dumps(results | {"metadata": args.metadata}), flush=True)
    verdict = "met" if results["meets_targets"] else "NOT met"
    overhead = results["knit"]["per_stage_overhead_s"]
    log(f"ratio {results['ratio']}, per-stage overhead {overhead}s: targets {verdict}")
    return 0


def run_bench(home: Path, args: argparse.Namespace, metadata_url: str) -> dict:
    bench = Bench(home, args.rounds, start_at_push=not args.generator_only, metadata_url=metadata_url)
    try:
        return bench.run()
    finally:
        log("stopping airflow standalone")
        bench.airflow.stop()
        bench.close()
        if bench.starter is not None:
            bench.starter.close()
        if args.keep:
            log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
