"""Upload load on the quickstart's deployment: many writers whose writes start Runs, against one ``airflow standalone``.

Prints one JSON line ``{"rest": {...}, "cli": {...}, "runs_done", "runs_expected", "components_died",
"health_p99_s", "targets": {...}}`` (the top-level figures are the worse of the two modes).

The deployment is the quickstart's (``knit_dev.standalone.Standalone``: SQLite, LocalExecutor, parallelism 4, the
process runner) with one 1-input Plan of a trivial program (``cp -r``). Two modes, each on a fresh deployment:

- **rest**: ``--uploads`` uploads (``POST /knit/api/data``, a small tar.gz) from ``--clients`` concurrent clients,
  each logged in as Airflow's admin; the api-server starts each upload's Run right after its response.
- **cli**: the same number of Data pushed by ``--clients`` concurrent ``knit data push`` processes whose
  environment names the Airflow (``KNIT_AIRFLOW_URL``), so each push starts its Run through Airflow's REST API;
  each process pushes ``--dirs-per-push`` directories (one write, and one start, per directory).

Throughout, Airflow's health endpoint is asked every 0.5 s (a reply slower than 5 s counts as 5 s), and the
scheduler, triggerer, dag-processor and api-server processes are watched: ``components_died`` counts those that
exit. The mode ends when every Run is done (or ``--timeout``). Targets: every Run done, no component dies, health
answers in under 1 s at the 99th percentile. Usage: ``python bench/upload_load.py [--uploads 500] [--clients 8]
[--mode both|rest|cli]`` (about 10 minutes per mode on 2 cores; progress on stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from knit_dev.standalone import COMPONENTS, Standalone, free_port, process_alive

from knit_provider.remote import KnitClient
from knit_provider.service import Knit, plans, runs

IMAGE = "knit-load:1.0"
PLAN = (
    f"image: {IMAGE}\n"
    "args: ['cp -r /in/x/. /out/y/']\n"
    "inputs: [{path: /in/x, tags: ['load:raw']}]\n"
    "outputs: [{path: /out/y, tags: ['load:out']}]\n"
)
TARGETS = {"runs_done": "== runs_expected", "components_died": 0, "health_p99_s": 1.0}
HEALTH_EVERY_S = 0.5
HEALTH_TIMEOUT_S = 5.0


def log(message: str) -> None:
    print(f"[upload_load] {message}", file=sys.stderr, flush=True)


def payload(number: int) -> bytes:
    """A small tar.gz holding one file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = f"upload {number}\n".encode()
        info = tarfile.TarInfo("data.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


class Watch:
    """Asks the health endpoint every 0.5 s and notes which components exit, until stopped."""

    def __init__(self, airflow: Standalone) -> None:
        self.airflow = airflow
        self.latencies: list[float] = []
        self.unhealthy: list[str] = []
        self.pids = airflow.component_pids()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Watch:
        missing = set(COMPONENTS) - set(self.pids)
        if missing:
            raise RuntimeError(f"components not found among the standalone's processes: {sorted(missing)}")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        with httpx.Client(timeout=HEALTH_TIMEOUT_S) as http:
            while not self._stop.wait(HEALTH_EVERY_S):
                started = time.monotonic()
                try:
                    reply = http.get(f"{self.airflow.url}/api/v2/monitor/health")
                    body = reply.json()
                    bad = [c for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                           if body.get(c, {}).get("status") != "healthy"]  # fmt: skip
                    if bad:
                        self.unhealthy.append(",".join(bad))
                except (httpx.HTTPError, ValueError) as err:
                    self.unhealthy.append(type(err).__name__)
                self.latencies.append(min(time.monotonic() - started, HEALTH_TIMEOUT_S))

    def died(self) -> list[str]:
        return sorted(name for name, pid in self.pids.items() if not process_alive(pid))

    def p99(self) -> float:
        if not self.latencies:
            return HEALTH_TIMEOUT_S
        ordered = sorted(self.latencies)
        return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)


def rest_uploads(airflow: Standalone, total: int, clients: int) -> list[str]:
    """``total`` uploads from ``clients`` concurrent clients; returns the errors (one line each)."""
    errors: list[str] = []
    numbers = iter(range(total))
    lock = threading.Lock()

    def client_loop(_: int) -> None:
        with KnitClient(airflow.url, username="admin", password=airflow.password(), timeout=120) as client:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                try:
                    client.data.push_tar(io.BytesIO(payload(number)), ["load:raw", f"n:{number}"])
                except Exception as err:  # noqa: BLE001 - counted and reported
                    errors.append(f"upload {number}: {type(err).__name__}: {err}"[:300])

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_loop, range(clients)))
    return errors


def cli_pushes(airflow: Standalone, total: int, clients: int, dirs_per_push: int, work: Path) -> list[str]:
    """``total`` directories pushed by ``clients`` concurrent ``knit data push`` processes naming the Airflow."""
    sources = []
    for number in range(total):
        source = work / f"d{number}"
        source.mkdir()
        (source / "data.txt").write_text(f"push {number}\n")
        sources.append(source)
    batches = [sources[i : i + dirs_per_push] for i in range(0, total, dirs_per_push)]
    env = {**airflow.env(), "KNIT_AIRFLOW_URL": airflow.url, "KNIT_AIRFLOW_USERNAME": "admin",
           "KNIT_AIRFLOW_PASSWORD": airflow.password()}  # fmt: skip
    knit = str(Path(sys.executable).with_name("knit"))
    errors: list[str] = []

    def push(batch: list[Path]) -> None:
        done = subprocess.run([knit, "data", "push", "-t", "load:raw", *map(str, batch)], env=env, cwd=work,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        if done.returncode != 0:
            errors.append(f"push exit {done.returncode}: {done.stderr.strip()[-300:]}")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(push, batches))
    return errors


def wait_done(knit: Knit, plan_id: str, expected: int, timeout: float) -> tuple[int, dict[str, int]]:
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = {}
        for run in runs.find(knit, plan_ids=[plan_id]):
            counts[run["status"]] = counts.get(run["status"], 0) + 1
        if counts.get("done", 0) >= expected or counts.get("done", 0) + counts.get("failed", 0) >= expected:
            break
        time.sleep(2)
    return counts.get("done", 0), counts


def one_mode(mode: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"knit-load-{mode}-") as scratch:
        work = Path(scratch)
        context = work / "image"
        context.mkdir()
        (context / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
        image_map = work / "images.yaml"
        image_map.write_text(f'"{IMAGE}": image\n')
        home = work / "home"
        log(f"{mode}: starting airflow standalone under {home}")
        with (
            Standalone(knit_home=home, port=free_port(), image_maps=[image_map]) as airflow,
            Knit.open(home=home) as knit,
        ):
            plan = plans.apply(knit, PLAN)
            from knit_provider.core.airflow_names import plan_dag_id

            airflow.wait_for_dags([plan_dag_id(plan["image"], plan["planId"])], timeout=180)
            log(f"{mode}: {args.uploads} writes from {args.clients} clients")
            with Watch(airflow) as watch:
                started = time.monotonic()
                if mode == "rest":
                    errors = rest_uploads(airflow, args.uploads, args.clients)
                else:
                    pushes = work / "pushes"
                    pushes.mkdir()
                    errors = cli_pushes(airflow, args.uploads, args.clients, args.dirs_per_push, pushes)
                writes_s = time.monotonic() - started
                log(f"{mode}: writes took {writes_s:.1f} s ({len(errors)} errors); waiting for the Runs")
                done, counts = wait_done(knit, plan["planId"], args.uploads, args.timeout)
                total_s = time.monotonic() - started
                died = watch.died()
            result = {
                "runs_done": done,
                "runs_expected": args.uploads,
                "run_statuses": counts,
                "components_died": len(died),
                "died": died,
                "health_p99_s": watch.p99(),
                "health_max_s": round(max(watch.latencies, default=HEALTH_TIMEOUT_S), 3),
                "health_median_s": round(statistics.median(watch.latencies), 3) if watch.latencies else None,
                "unhealthy_samples": len(watch.unhealthy),
                "write_errors": len(errors),
                "first_errors": errors[:3],
                "writes_s": round(writes_s, 1),
                "all_done_s": round(total_s, 1),
            }
            log(f"{mode}: {json.dumps(result)}")
            return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--dirs-per-push", type=int, default=5)
    parser.add_argument("--mode", choices=["both", "rest", "cli"], default="both")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for every Run per mode")
    args = parser.parse_args()
    modes = ["rest", "cli"] if args.mode == "both" else [args.mode]
    results = {mode: one_mode(mode, args) for mode in modes}
    worst = {
        "runs_done": min(r["runs_done"] for r in results.values()),
        "runs_expected": args.uploads,
        "components_died": max(r["components_died"] for r in results.values()),
        "health_p99_s": max(r["health_p99_s"] for r in results.values()),
    }
    print(json.dumps({**results, **worst, "targets": TARGETS}))


if __name__ == "__main__":
    main()
