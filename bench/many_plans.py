"""Many-Plans benchmark: 1,000 active Plans, so 1,000 DAGs from the one DAG file ``dags/knit_dags.py``.

Prints one JSON line ``{"parse_s": ..., "dag_processor_rss_mb": ..., "new_plan_dag_s": ..., "generator_idle_pass_ms":
..., "targets": {...}, ...}``, on one ``airflow standalone`` (SQLite, LocalExecutor, the project's parse intervals:
``min_file_process_interval`` 3 s, bundle refresh 5 s):

- ``parse_s``: the DAG file's "Last Duration" in Airflow's own DAG processor statistics (the "DAG File Processing
  Stats" table the dag-processor logs; ``[dag_processor] print_stats_interval`` is set to 5 s here), median over the
  parses after all the Plans' DAGs exist. ``factory_s`` splits the work in a fresh interpreter with the same
  configuration: importing the factory, ``knit_dags()`` (reading the Plans, building the DAG objects) and its parts.
- ``dag_processor_rss_mb``: the peak, over the whole run, of the summed RSS of the dag-processor and the processes
  below it (the parse runs in a child): an upper bound, since forked children share pages.
- ``new_plan_dag_s``: from ``plans.apply`` of one more Plan to its DAG answering ``GET /api/v2/dags/{dag_id}``
  (median of 3); ``parse_interval_s``: the median time between two parses of the file (the generator DAG's
  ``last_parsed_time``). Target: within 2 parse intervals.
- ``generator_idle_pass_ms``: ``service.generator.generator_pass`` timed directly on that catalog while nothing is
  waiting (median and p90 of 30 passes after one warm-up), with the standalone running beside it.

Targets: parse_s < 2, dag_processor_rss_mb < 1024, new_plan_dag_s <= 2 x parse_interval_s, generator_idle_pass_ms <
100. Usage: ``python bench/many_plans.py [--plans 1000] [--keep]`` (progress on stderr; about 2 minutes).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from datetime import datetime
from pathlib import Path

from knit_dev.standalone import REPO, Standalone, free_port
from processes import rss_mb  # bench/processes.py

from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.service import Knit, plans
from knit_provider.service.generator import Timing, generator_pass

TARGETS = {"parse_s": 2.0, "dag_processor_rss_mb": 1024, "new_plan_dag_intervals": 2, "generator_idle_pass_ms": 100}
STATS_INTERVAL_S = 5
#: a row of the "DAG File Processing Stats" table for the file: [PID] [current duration] #DAGs #errors last duration
STATS_ROW = re.compile(
    r"knit_dags\.py +(?:\d+ +)?(?:[\d.]+s +)?(?P<dags>\d+) +(?P<errors>\d+) +(?P<last>[\d.]+)s +(?P<at>\S+)"
)
FACTORY_TIMING = """
import json, time
t0 = time.perf_counter()
from knit_provider.dags.factory import knit_dags
from knit_provider.hooks.knit import KnitHook
from knit_provider.service.assets import plan_assets
from knit_provider.service.plan_dags import plan_dags
t1 = time.perf_counter()
dags = knit_dags()
t2 = time.perf_counter()
with KnitHook().get_conn() as knit:
    t3 = time.perf_counter(); plan_dags(knit); t4 = time.perf_counter(); plan_assets(knit); t5 = time.perf_counter()
print(json.dumps({"import_s": round(t1 - t0, 3), "knit_dags_s": round(t2 - t1, 3), "dags": len(dags),
                  "plan_dags_query_s": round(t4 - t3, 3), "plan_assets_s": round(t5 - t4, 3)}))
"""


def log(message: str) -> None:
    print(f"[many_plans {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plan_yaml(n: int) -> str:
    return (
        f'image: "many/p{n}:v1"\n'
        f'inputs:\n  - path: "/in/x"\n    tags: ["many:in-{n}", "kind:raw"]\n'
        f'outputs:\n  - path: "/out/y"\n    tags: ["many:out-{n}"]\n'
        'args: ["true"]\n'
        "active: true\n"
    )


def stats_rows(log_text: str) -> list[dict]:
    """The file's rows in every "DAG File Processing Stats" table of the log, in order."""
    return [
        {"dags": int(m["dags"]), "errors": int(m["errors"]), "last_s": float(m["last"]), "at": m["at"]}
        for m in STATS_ROW.finditer(log_text)
    ]


def parses_of(rows: list[dict], dags_at_least: int) -> list[float]:
    """The durations of distinct parses (a parse appears in every table printed until the next one) that made at
    least ``dags_at_least`` DAGs."""
    seen: dict[str, float] = {}
    for row in rows:
        if row["dags"] >= dags_at_least and row["errors"] == 0:
            seen[row["at"]] = row["last_s"]
    return list(seen.values())


def intervals(times: list[float]) -> list[float]:
    """The gaps between distinct consecutive times."""
    distinct = sorted(set(times))
    return [round(b - a, 3) for a, b in zip(distinct, distinct[1:], strict=False)]


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3), "p90": ordered[round(0.9 * (len(ordered) - 1))]}


class MemoryWatch(threading.Thread):
    """Samples the dag-processor's RSS (its own, and the summed tree) until stopped; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_own = self.peak_child = self.peak_total = 0.0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.25):
            try:
                own, child, total = rss_mb(self.pid)
            except Exception:  # the process is between states: take the next sample
                continue
            self.samples += 1
            self.peak_own, self.peak_child = max(self.peak_own, own), max(self.peak_child, child)
            self.peak_total = max(self.peak_total, total)

    def stop(self) -> dict:
        self._halt.set()
        self.join(5)
        return {
            "dag_processor_rss_mb": round(self.peak_total, 1),
            "manager_rss_mb": round(self.peak_own, 1),
            "largest_child_rss_mb": round(self.peak_child, 1),
            "samples": self.samples,
        }


class Bench:
    def __init__(self, home: Path, count: int) -> None:
        self.home = home
        self.count = count
        dags = home / "dags"
        dags.mkdir(parents=True)
        shutil.copy(REPO / "dags" / "knit_dags.py", dags / "knit_dags.py")
        self.airflow = Standalone(
            knit_home=home,
            port=free_port(),
            dags_folder=dags,
            extra_env={"AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": str(STATS_INTERVAL_S)},
        )
        self.knit = Knit.open(home=home)

    def dag_count(self) -> int:
        return int(self.airflow.api("GET", "/api/v2/dags?dag_id_pattern=knit_plan__&limit=1")["total_entries"])

    def wait_dags(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.dag_count() >= count:
                    return
            except (OSError, urllib.error.URLError):
                pass  # a loaded api-server answering slowly
            time.sleep(1)
        raise TimeoutError(f"fewer than {count} Plan DAGs after {timeout:.0f}s")

    def exists(self, dag_id: str) -> bool:
        try:
            self.airflow.api("GET", f"/api/v2/dags/{dag_id}")
            return True
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return False
            raise

    def parse_times(self, seconds: float) -> list[float]:
        """``last_parsed_time`` of the generator DAG, polled for ``seconds`` (each distinct value is a parse)."""
        seen = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.airflow.api("GET", "/api/v2/dags/knit_generator")["last_parsed_time"]
            if text:
                seen.append(datetime.fromisoformat(text).timestamp())
            time.sleep(0.25)
        return seen

    def new_plan_dag(self, n: int, timeout: float = 300.0) -> float:
        t0 = time.monotonic()
        applied = plans.apply(self.knit, plan_yaml(n))
        dag_id = plan_dag_id(applied["image"], applied["planId"])
        while not self.exists(dag_id):
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{dag_id} not a DAG after {timeout:.0f}s")
            time.sleep(0.2)
        return round(time.monotonic() - t0, 3)

    def idle_passes(self, count: int = 30) -> list[float]:
        timing = Timing(redispatch_after_s=5.0, heartbeat_timeout_s=30.0, reconcile_interval_s=5.0)
        times = []
        for n in range(count + 1):
            started = time.perf_counter()
            report = generator_pass(self.knit, start=refuse, refusals=(), dagrun_states=no_dagruns, timing=timing)
            elapsed = (time.perf_counter() - started) * 1000
            if report["started"] or report["reconciled"]:
                raise RuntimeError(f"the generator found work in an idle catalog: {report}")
            if n:
                times.append(round(elapsed, 2))
        return times

    def factory_timing(self) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", FACTORY_TIMING], env=self.airflow.env(), capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def run(self) -> dict:
        started = time.monotonic()
        for n in range(self.count):
            plans.apply(self.knit, plan_yaml(n))
        log(f"applied {self.count} Plans in {time.monotonic() - started:.1f}s; starting airflow standalone")
        started = time.monotonic()
        self.airflow.start()
        watch = MemoryWatch(self.airflow.component_pids()["dag-processor"])
        watch.start()
        self.wait_dags(self.count, timeout=600)
        all_dags_s = round(time.monotonic() - started, 1)
        log(f"{self.count} Plan DAGs {all_dags_s}s after the start; watching parses")
        parsed_at = self.parse_times(max(30.0, 4 * STATS_INTERVAL_S))
        new_plan = [self.new_plan_dag(self.count + n) for n in range(3)]
        log(f"new Plans became DAGs in {new_plan} s")
        time.sleep(STATS_INTERVAL_S + 1)  # one more stats table
        memory = watch.stop()
        parses = parses_of(stats_rows(self.airflow.log_file.read_text(errors="replace")), self.count)
        passes = self.idle_passes()
        factory = self.factory_timing()
        parse = spread(parses)
        interval = spread(intervals(parsed_at))
        new_plan_s = round(statistics.median(new_plan), 3)
        pass_ms = spread(passes)
        limit = TARGETS["new_plan_dag_intervals"] * interval["median"] if interval["median"] else None
        meets = {
            "parse_s": parse["median"] is not None and parse["median"] < TARGETS["parse_s"],
            "dag_processor_rss_mb": memory["dag_processor_rss_mb"] < TARGETS["dag_processor_rss_mb"],
            "new_plan_dag_s": limit is not None and new_plan_s <= limit,
            "generator_idle_pass_ms": pass_ms["median"] < TARGETS["generator_idle_pass_ms"],
        }
        return {
            "parse_s": parse["median"],
            "dag_processor_rss_mb": memory["dag_processor_rss_mb"],
            "new_plan_dag_s": new_plan_s,
            "parse_interval_s": interval["median"],
            "generator_idle_pass_ms": pass_ms["median"],
            "targets": TARGETS,
            "meets_targets": all(meets.values()),
            "meets": meets,
            "plans": self.count,
            "parse_s_spread": {**parse, "parses": parses},
            "memory": memory,
            "new_plan_dag_rounds_s": new_plan,
            "parse_intervals_s": intervals(parsed_at),
            "generator_idle_pass_ms_spread": {**pass_ms, "passes": len(passes)},
            "factory_s": factory,
            "all_dags_after_start_s": all_dags_s,
            "home": str(self.home),
        }

    def close(self) -> None:
        self.knit.close()


def no_dagruns(held) -> dict:
    return dict.fromkeys((d.run_id for d in held), None)


def refuse(dispatch, still_waiting) -> None:
    raise RuntimeError(f"nothing should be started in an idle catalog: {dispatch}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=1000, help="active Plans (DAGs) in the catalog")
    parser.add_argument("--keep", action="store_true", help="keep the temporary knit home for inspection")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="knit-many-plans-"))
    bench = Bench(home, args.plans)
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
    log(f"parse {results['parse_s']}s, dag-processor {results['dag_processor_rss_mb']} MiB, new Plan's DAG "
        f"{results['new_plan_dag_s']}s, idle pass {results['generator_idle_pass_ms']} ms: "
        f"targets {'met' if results['meets_targets'] else 'NOT met'} {results['meets']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
