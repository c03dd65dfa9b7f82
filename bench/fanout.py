"""Fan-out benchmark: N Runs of one Plan started by one write, against one DagRun of N mapped tasks.

Prints one JSON line ``{"knit_makespan_s": ..., "mapped_makespan_s": ..., "ratio": ..., "targets": {...}, ...}``.
Both sides run on ONE ``airflow standalone`` (SQLite, LocalExecutor, parallelism 8, the process runner), in
alternating rounds (knit, mapped, then mapped, knit, ...) after one small warm-up round of each, so machine noise
hits both alike. Each task runs the same trivial program (``cp -r`` of a small directory, image ``knit-bench:1.0``
mapped to a build context with ``ENTRYPOINT ["sh","-c"]``) through the process runner.

- **knit**: N small directories are pushed as Data tagged ``fan:<round>`` before the standalone starts (no Plan
  wants them yet). The round starts just before ``plans.apply`` of a Plan whose input wants ``fan:<round>``: that
  one write creates N Runs; as ``knit plan apply`` does when its profile names the Airflow, it starts a few of them
  through Airflow's REST API and leaves the rest to the generator (``service.starting``). The Plan's DAG does not
  exist yet when the write commits: the DAG processor makes it at its next parse, and that wait is part of the
  makespan (``dag_visible_s``: the DAG's first version written; ``dagrun_created_s.first``: the first DagRun).
  The round ends at the last Run's ``finished_at`` in the catalog.
- **mapped**: ``bench_fanout_mapped``: a task lists the round's N input directories, and ``run.expand(source=...)``
  runs the program over each (N mapped task instances in one DagRun). The round starts just before
  ``POST /api/v2/dags/bench_fanout_mapped/dagRuns`` and ends at the last mapped task instance's ``end_date``.

While a round runs the bench reads only the two databases (the catalog; Airflow's, read-only), never the REST API,
so the api-server's CPU is the round's own. Reported per side: makespan (median over rounds), Runs/s, CPU seconds
per Run of the scheduler (its loop), the executor (its workers and the task processes they ran), the api-server,
the dag-processor and the triggerer (``bench/processes.py``), and ``where_the_time_goes``: DagRun creation, DagRun
created -> task queued, queued -> running, task duration, how busy the 8 slots were, and the api-server's requests
by kind (``bench/fanout_stats.py``).

Target: ratio = knit / mapped <= 1.25. Usage: ``python bench/fanout.py [--runs 500] [--rounds 2] [--keep]``
(progress on stderr; about 13 minutes at 500 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fanout_stats import breakdown, epoch, requests_by_kind  # bench/fanout_stats.py
from knit_dev.standalone import REPO, Standalone, free_port
from processes import cpu_seconds, cpu_used, per_run  # bench/processes.py
from sqlalchemy import func, select

from knit_provider.airflow_client.dagruns import AirflowEndpoint
from knit_provider.catalog.models import runs_t
from knit_provider.cli.backend import AirflowApiDispatcher
from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.service import Knit, data, plans

IMAGE = "knit-bench:1.0"
PROGRAM = "cp -r /in/x/. /out/y/"
PARALLELISM = 8
TARGETS = {"ratio": 1.25}
MAPPED_DAG = "bench_fanout_mapped"
GENERATOR = "knit_generator"
POLL_S = 0.25
PAGE = 100  # Airflow's [api] maximum_page_limit

MAPPED_DAG_FILE = '''"""The mapped twin of the fan-out bench's Plan (written by bench/fanout.py)."""

from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import DAG, task

WORK = Path({work!r})
IMAGE_MAP = Path({image_map!r})

with DAG(
    "bench_fanout_mapped",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_runs=1,
    tags=["bench"],
):

    @task
    def inputs(**context):
        return sorted(str(p) for p in (WORK / context["dag_run"].conf["label"] / "in").iterdir())

    @task
    def run(source):
        from knit_provider.runners.base import Mount, RunRequest
        from knit_provider.runners.image_map import ImageMap
        from knit_provider.runners.process import ProcessRunner

        source = Path(source)
        out = source.parent.parent / "out" / source.name
        out.mkdir(parents=True)
        request = RunRequest(
            run_id=f"mapped-{{source.parent.parent.name}}-{{source.name}}",
            image={image!r},
            entrypoint=None,
            args=[{program!r}],
            mounts=(Mount(source, "/in/x", True), Mount(out, "/out/y", False)),
            log_path=out.parent / f"{{source.name}}.log",
        )
        result = ProcessRunner(image_map=ImageMap.load([IMAGE_MAP])).run(request)
        if not result.ok:
            raise RuntimeError(result.message)

    run.expand(source=inputs())
'''


def log(message: str) -> None:
    print(f"[fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plan_yaml(label: str) -> str:
    return (
        f'image: "{IMAGE}"\n'
        f'inputs:\n  - path: "/in/x"\n    tags: ["fan:{label}"]\n'
        f'outputs:\n  - path: "/out/y"\n    tags: ["fan:out-{label}"]\n'
        f'args: ["{PROGRAM}"]\n'
        "active: true\n"
    )


def make_inputs(directory: Path, label: str, count: int) -> list[Path]:
    """``count`` small directories (one 1 KiB file each, unique content)."""
    made = []
    for n in range(count):
        path = directory / f"{n:05d}"
        path.mkdir(parents=True)
        (path / "item.txt").write_text(f"{label} {n}\n" * 64)
        made.append(path)
    return made


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


class Bench:
    def __init__(self, home: Path, runs: int, rounds: int, warmup: int) -> None:
        self.home = home
        self.runs = runs
        self.warmup = min(warmup, runs)
        self.schedule = plan_rounds(rounds)
        self.work = home / "bench"
        (self.work / "image").mkdir(parents=True)
        (self.work / "image" / "Dockerfile").write_text('FROM busybox\nENTRYPOINT ["sh", "-c"]\n')
        self.image_map = self.work / "images.yaml"
        self.image_map.write_text(f'"{IMAGE}": image\n')
        self.mapped_work = self.work / "mapped"
        dags = self.work / "dags"
        dags.mkdir()
        shutil.copy(REPO / "dags" / "knit_dags.py", dags / "knit_dags.py")
        (dags / "bench_fanout_mapped.py").write_text(
            MAPPED_DAG_FILE.format(
                work=str(self.mapped_work), image_map=str(self.image_map), image=IMAGE, program=PROGRAM
            )
        )
        self.airflow = Standalone(
            knit_home=home, port=free_port(), image_maps=[self.image_map], dags_folder=dags, parallelism=PARALLELISM
        )
        self.knit = Knit.open(home=home)
        self.starter: AirflowApiDispatcher | None = None

    def count(self, label: str) -> int:
        return self.warmup if label.startswith("warm") else self.runs

    # ---- set-up -------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Every round's inputs, before Airflow starts: the knit rounds' Data pushed, the mapped rounds' dirs."""
        for kind, label in self.schedule:
            count = self.count(label)
            if kind == "knit":
                dirs = make_inputs(self.work / "knit-inputs" / label, label, count)
                started = time.monotonic()
                data.push_dirs(self.knit, dirs, [f"fan:{label}"])
                log(f"pushed {count} Data for {label} in {time.monotonic() - started:.1f}s")
            else:
                make_inputs(self.mapped_work / label / "in", label, count)

    def wait_idle(self, timeout: float = 120.0) -> float:
        """Until no DagRun but the generator's is queued or running; seconds waited."""
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            live = self.airflow.api("GET", "/api/v2/dags/~/dagRuns?state=queued&state=running&limit=100")
            if not [r for r in live["dag_runs"] if r["dag_id"] != GENERATOR]:
                return round(time.monotonic() - started, 2)
            time.sleep(0.5)
        log(f"warning: not idle after {timeout:.0f}s; going on")
        return round(time.monotonic() - started, 2)

    def pages(self, path: str, key: str) -> list[dict]:
        found: list[dict] = []
        while True:
            separator = "&" if "?" in path else "?"
            page = self.airflow.api("GET", f"{path}{separator}limit={PAGE}&offset={len(found)}")[key]
            found += page
            if len(page) < PAGE:
                return found

    def log_size(self) -> int:
        return self.airflow.log_file.stat().st_size

    def requests_since(self, offset: int) -> dict[str, int]:
        """The api-server's requests logged since ``offset`` (the round's), by kind."""
        with self.airflow.log_file.open("rb") as log_file:
            log_file.seek(offset)
            return requests_by_kind(log_file.read().decode(errors="replace"))

    def airflow_db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.airflow.airflow_home / 'airflow.db'}?mode=ro", uri=True, timeout=30)

    # ---- rounds -------------------------------------------------------------------------------------------

    def knit_round(self, label: str) -> dict:
        count = self.count(label)
        log_at = self.log_size()
        before = cpu_seconds(self.airflow.component_pids())
        t0 = time.time()
        plan_id = plans.apply(self.knit, plan_yaml(label), yes=True)["planId"]  # its dispatcher starts a few
        apply_s = time.time() - t0
        statuses: dict[str, int] = {}
        while statuses.get("done", 0) < count:
            time.sleep(POLL_S)
            with self.knit.engine.connect() as conn:
                rows = conn.execute(
                    select(runs_t.c.status, func.count()).where(runs_t.c.plan_id == plan_id).group_by(runs_t.c.status)
                ).all()
            statuses = dict(rows)  # type: ignore[arg-type]
            bad = {s: n for s, n in statuses.items() if s in ("failed", "invalidated", "deactivated")}
            if bad:
                raise RuntimeError(f"knit round {label}: Runs of Plan {plan_id} ended {bad}")
        used = cpu_used(before, cpu_seconds(self.airflow.component_pids()))
        requests = self.requests_since(log_at)
        with self.knit.engine.connect() as conn:
            last = conn.execute(select(func.max(runs_t.c.finished_at)).where(runs_t.c.plan_id == plan_id)).scalar()
        makespan = last / 1000 - t0
        dag_id = plan_dag_id(IMAGE, plan_id)
        dagruns = self.pages(f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs")
        tis = self.pages(f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances", "task_instances")
        visible = self.dag_made(dag_id, t0)
        extra = {"apply_s": round(apply_s, 3), "dag_visible_s": visible, "api_requests": requests}
        return self.result(label, count, makespan, used, dagruns, tis, t0, **extra)

    def dag_made(self, dag_id: str, t0: float) -> float | None:
        """Seconds from ``t0`` to the DAG processor writing the DAG's first version (it exists for Airflow)."""
        with self.airflow_db() as db:
            found = db.execute("SELECT min(created_at) FROM dag_version WHERE dag_id = ?", (dag_id,)).fetchone()
        if not found or not found[0]:
            return None
        return round(datetime.fromisoformat(found[0]).replace(tzinfo=UTC).timestamp() - t0, 3)

    def mapped_round(self, label: str) -> dict:
        count = self.count(label)
        run_id = f"bench_{label}"
        log_at = self.log_size()
        before = cpu_seconds(self.airflow.component_pids())
        t0 = time.time()
        self.airflow.api(
            "POST", f"/api/v2/dags/{MAPPED_DAG}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": {"label": label}},
        )  # fmt: skip
        state = "queued"
        with self.airflow_db() as db:
            while state not in ("success", "failed"):
                time.sleep(POLL_S)
                found = db.execute(
                    "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (MAPPED_DAG, run_id)
                ).fetchone()
                state = found[0] if found else "queued"
        used = cpu_used(before, cpu_seconds(self.airflow.component_pids()))
        requests = self.requests_since(log_at)
        if state != "success":
            raise RuntimeError(f"mapped round {label}: DagRun {run_id} {state}")
        dagruns = [self.airflow.api("GET", f"/api/v2/dags/{MAPPED_DAG}/dagRuns/{run_id}")]
        tis = self.pages(f"/api/v2/dags/{MAPPED_DAG}/dagRuns/{run_id}/taskInstances", "task_instances")
        mapped = [ti for ti in tis if ti["task_id"] == "run"]
        if len(mapped) != count:
            raise RuntimeError(f"mapped round {label}: {len(mapped)} mapped task instances, not {count}")
        makespan = max(epoch(ti["end_date"]) or 0.0 for ti in mapped) - t0
        listing = [ti for ti in tis if ti["task_id"] == "inputs"]
        extra = {
            "inputs_task_end_s": round(epoch(listing[0]["end_date"]) - t0, 3) if listing else None,
            "api_requests": requests,
        }
        return self.result(label, count, makespan, used, dagruns, mapped, t0, **extra)

    def result(self, label, count, makespan, used, dagruns, tis, t0, **extra) -> dict:
        return {
            "round": label,
            "runs": count,
            "makespan_s": round(makespan, 3),
            "runs_per_s": round(count / makespan, 2),
            "cpu_s": used,
            "cpu_s_per_run": per_run(used, count),
            "where_the_time_goes": breakdown(dagruns, tis, t0=t0, parallelism=PARALLELISM),
            **extra,
        }

    # ---- the whole bench ----------------------------------------------------------------------------------

    def run(self) -> dict:
        machine = {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
        self.prepare()
        log(f"starting airflow standalone on port {self.airflow.port} under {self.airflow.airflow_home}")
        self.airflow.start()
        self.airflow.wait_for_dags([GENERATOR, MAPPED_DAG], timeout=180)
        # what `knit plan apply` does when its profile names the Airflow
        self.starter = AirflowApiDispatcher(AirflowEndpoint(self.airflow.url, token=self.airflow.token()))
        self.knit.dispatcher = self.starter
        rounds: dict[str, list[dict]] = {"knit": [], "mapped": []}
        idle = []
        for kind, label in self.schedule:
            idle.append(self.wait_idle())
            result = self.knit_round(label) if kind == "knit" else self.mapped_round(label)
            log(f"{label} {kind}: {result['runs']} Runs in {result['makespan_s']:.1f}s ({result['runs_per_s']}/s)")
            if not label.startswith("warm"):
                rounds[kind].append(result)
        machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        knit_s = median([r["makespan_s"] for r in rounds["knit"]])
        mapped_s = median([r["makespan_s"] for r in rounds["mapped"]])
        ratio = round(knit_s / mapped_s, 3)
        return {
            "knit_makespan_s": knit_s,
            "mapped_makespan_s": mapped_s,
            "ratio": ratio,
            "knit_runs_per_s": round(self.runs / knit_s, 2),
            "mapped_runs_per_s": round(self.runs / mapped_s, 2),
            "knit_cpu_s_per_run": median_parts([r["cpu_s_per_run"] for r in rounds["knit"]]),
            "mapped_cpu_s_per_run": median_parts([r["cpu_s_per_run"] for r in rounds["mapped"]]),
            "targets": TARGETS,
            "meets_targets": ratio <= TARGETS["ratio"],
            "runs": self.runs,
            "parallelism": PARALLELISM,
            "knit_rounds": rounds["knit"],
            "mapped_rounds": rounds["mapped"],
            "idle_wait_s": idle,
            "times": "where_the_time_goes: seconds from the round's start (just before the apply / the trigger)",
            "machine": machine,
            "home": str(self.home),
        }

    def close(self) -> None:
        if self.starter is not None:
            self.starter.close()
        self.knit.close()


def plan_rounds(rounds: int) -> list[tuple[str, str]]:
    """(kind, label) in order: one warm-up of each, then ``rounds`` of each alternating which goes first."""
    order = [("knit", "warm-knit"), ("mapped", "warm-mapped")]
    for number in range(1, rounds + 1):
        pair = [("knit", f"r{number}-knit"), ("mapped", f"r{number}-mapped")]
        order += pair if number % 2 else pair[::-1]
    return order


def median_parts(readings: list[dict[str, float]]) -> dict[str, float]:
    names = [name for name in readings[0] if all(name in r for r in readings)] if readings else []
    return {name: round(statistics.median(r[name] for r in readings), 4) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="Runs per round (Data per Plan; mapped tasks)")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds of each kind (after one warm-up)")
    parser.add_argument("--warmup", type=int, default=16, help="Runs in the warm-up round of each kind")
    parser.add_argument("--keep", action="store_true", help="keep the temporary knit home for inspection")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="knit-fanout-"))
    bench = Bench(home, args.runs, args.rounds, args.warmup)
    try:
        results = bench.run()
    finally:
        log("stopping airflow standalone")
        bench.airflow.stop()
        bench.close()
        if args.keep:
            log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(results), flush=True)
    verdict = "met" if results["meets_targets"] else "NOT met"
    log(f"knit {results['knit_makespan_s']}s, mapped {results['mapped_makespan_s']}s, ratio {results['ratio']}: "
        f"target {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
