"""Soak: minutes of random writes from 4 writers on one PostgreSQL with 2 schedulers, then Knit's invariants.

The deployment is ``knit_dev.cluster.AirflowCluster``: api-server, dag-processor, triggerer and two
schedulers (LocalExecutor each) as separate processes on one PostgreSQL server (Airflow's metadata and the Knit
catalog, each its own database), the process runner. Four writer threads (each its own catalog connection, as
four users' ``knit`` commands are) pick at random, for ``--minutes``:

- ``push``: a new small directory tagged ``soak:raw`` (now and then ``soak:cfg``, at most 3 of those);
- ``tag``: add or remove ``soak:alt`` on an uploaded Data (adding it starts a Run of the ``alt`` Plan);
- ``apply``: a new Plan on ``soak:raw`` (a distinct output tag; it backfills every raw Data), at most 3;
- ``stop``: ``run stop`` (half of them ``--fail``) of a Run not ended;
- ``retry``: ``run retry`` of a done or failed Run (refused while its outputs are used: counted as refused).

Writers wait while more than ``MAX_IN_FLIGHT`` Runs are in flight (counted as ``throttled_s``), so the deployment
keeps up and the end state is reached in bounded time. Plans: ``soak:raw -> soak:mid -> soak:end``,
``[soak:cfg, soak:end] -> soak:pair`` (combinations), ``soak:alt``.
Each program sleeps a moment, copies its input(s) and says ``ran <run id>`` once. Then the writers stop, the
bench waits for every Run to end and checks (``knit_dev.invariants``): every satisfied combination has
exactly one Run; nothing is stuck; every done Run's outputs are complete in the store; failed Runs say why; the
catalog and Airflow's DagRuns agree (one DagRun per dispatched Run, ended as the Run did, its task tried once
plus once per retry); no program ran twice in one attempt; a stop is the Run's verdict, and no Run is retried
but by a writer.

Prints one JSON line: ``operations`` (done / refused per kind), ``runs`` (by status), ``violations`` (the total,
target 0), ``invariants`` (violations per check), ``examples`` (a few lines of each violated check) and timings.
Usage: ``python bench/soak.py [--minutes 10] [--writers 4] [--seed N]`` (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from knit_dev import invariants
from knit_dev.cluster import AirflowCluster
from knit_dev.postgres import TemporaryPostgres
from knit_dev.standalone import free_port
from sqlalchemy import create_engine, func, select, text

from knit_provider.catalog.models import UPLOAD_PLAN_ID, runs_t
from knit_provider.core.errors import KnitError
from knit_provider.service import Knit, data, plans, runs

IMAGE = "knit-soak/sh:1.0"
ENDED = ("done", "failed", "invalidated")
MAX_CFG = 3
MAX_EXTRA_PLANS = 3
#: writers wait while more Runs than this are in flight: the soak is about what happens under concurrency, not about
#: a backlog 2 cores could not drain (about 1.5 Runs a second here)
MAX_IN_FLIGHT = 24


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sh_plan(inputs: list[tuple[str, str]], output_tag: str, extra: str = "") -> str:
    """A Plan running a shell program: sleep a moment, copy every input into /out/y, say which Run ran."""
    copies = " && ".join(f"cp -r {path}/. /out/y/" for path, _ in inputs)
    script = f'sleep 0.$((RANDOM % 10)){extra} && {copies} && echo "ran $KNIT_RUN_ID"'
    listed = ", ".join(f"{{path: {path}, tags: [{tag!r}]}}" for path, tag in inputs)
    return (
        f"image: {IMAGE}\nargs: [{script!r}]\ninputs: [{listed}]\n"
        f"outputs: [{{path: /out/y, tags: [{output_tag!r}]}}]\nlog: {{tags: ['soak:log']}}\n"
    )


BASE_PLANS = [
    sh_plan([("/in/x", "soak:raw")], "soak:mid"),
    sh_plan([("/in/x", "soak:mid")], "soak:end"),
    sh_plan([("/in/c", "soak:cfg"), ("/in/x", "soak:end")], "soak:pair"),
    sh_plan([("/in/x", "soak:alt")], "soak:alt-out"),
]


class Writers:
    """The random writers and what they did (counters shared under a lock)."""

    def __init__(self, cluster: AirflowCluster, work: Path, seed: int) -> None:
        self.cluster = cluster
        self.work = work
        self.seed = seed
        self.lock = threading.Lock()
        self.done: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.retries: Counter[str] = Counter()
        self.cfg_pushed = 0
        self.extra_plans = 0
        self.stop_at = 0.0
        self.throttled_s = 0.0

    def run(self, writers: int, seconds: float) -> None:
        self.stop_at = time.monotonic() + seconds
        threads = [threading.Thread(target=self.writer, args=(n,), daemon=True) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def writer(self, number: int) -> None:
        rng = random.Random(self.seed * 100 + number)
        operations = [self.push, self.tag, self.apply, self.stop, self.retry]
        weights = [45, 15, 3, 17, 20]
        with Knit.open(url=self.cluster.catalog_url, home=self.cluster.knit_home) as knit:
            knit.actor = f"soak writer {number}"  # a retry no writer asked for has no actor (``retried_by_nobody``)
            step = 0
            while time.monotonic() < self.stop_at:
                if in_flight(knit) > MAX_IN_FLIGHT:
                    time.sleep(1)
                    with self.lock:
                        self.throttled_s += 1
                    continue
                operation = rng.choices(operations, weights)[0]
                kind = operation.__name__
                try:
                    if operation(knit, rng, f"w{number}-{step}") is False:
                        kind = ""  # nothing to act on: not an operation
                    else:
                        self.count(self.done, kind)
                except KnitError:  # refused as the rules say (a Run that just ended, outputs in use, ...)
                    self.count(self.refused, kind)
                except Exception as exc:  # anything else is a bug the soak is here to find
                    with self.lock:
                        self.unexpected.append(f"{kind}: {type(exc).__name__}: {str(exc)[:300]}")
                step += 1
                time.sleep(rng.uniform(0.1, 0.8))

    def count(self, counter: Counter, kind: str) -> None:
        with self.lock:
            counter[kind] += 1

    # -- the operations: False when there was nothing to act on --------------------------------------------------
    def push(self, knit: Knit, rng: random.Random, name: str) -> bool:
        folder = self.work / "pushes" / name
        folder.mkdir(parents=True)
        (folder / "n.txt").write_text(f"{name} {rng.random()}\n")
        with self.lock:
            cfg = self.cfg_pushed < MAX_CFG and rng.random() < 0.1
            self.cfg_pushed += cfg
        data.push_dir(knit, folder, ["soak:cfg" if cfg else "soak:raw"])
        return True

    def tag(self, knit: Knit, rng: random.Random, name: str) -> bool:
        uploads = data.find(knit, tags=["soak:raw"])
        if not uploads:
            return False
        target = rng.choice(uploads)["knitId"]
        if rng.random() < 0.6:
            data.tag(knit, target, add=["soak:alt"])
        else:
            data.tag(knit, target, remove=["soak:alt"])
        return True

    def apply(self, knit: Knit, rng: random.Random, name: str) -> bool:
        with self.lock:
            if self.extra_plans >= MAX_EXTRA_PLANS:
                return False
            self.extra_plans += 1
            number = self.extra_plans
        plans.apply(knit, sh_plan([("/in/x", "soak:raw")], f"soak:v{number}", extra=f" && echo v{number}"))
        return True

    def _pick_run(self, knit: Knit, rng: random.Random, statuses: list[str]) -> str | None:
        found = [r for r in runs.find(knit, statuses=statuses) if r["plan"].get("planId") != UPLOAD_PLAN_ID]
        return rng.choice(found)["runId"] if found else None

    def stop(self, knit: Knit, rng: random.Random, name: str) -> bool:
        run_id = self._pick_run(knit, rng, ["waiting", "ready", "starting", "running"])
        if run_id is None:
            return False
        runs.stop(knit, run_id, fail=rng.random() < 0.5)
        return True

    def retry(self, knit: Knit, rng: random.Random, name: str) -> bool:
        run_id = self._pick_run(knit, rng, ["done", "failed"])
        if run_id is None:
            return False
        runs.retry(knit, run_id)
        self.count(self.retries, run_id)
        return True


def in_flight(knit: Knit) -> int:
    with knit.engine.connect() as conn:
        return conn.execute(select(func.count()).where(runs_t.c.status.not_in(ENDED))).scalar_one()


def wait_quiet(cluster: AirflowCluster, timeout: float) -> float:
    """Seconds until no Run is in flight and Airflow closed every Run's DagRun (or ``timeout``)."""
    catalog = create_engine(cluster.catalog_url)
    metadata = create_engine(cluster.metadata_url)
    open_dagruns = text("SELECT count(*) FROM dag_run WHERE run_id LIKE 'knit%' AND state IN ('queued', 'running')")
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            cluster.check_alive()
            with catalog.connect() as conn, metadata.connect() as meta:
                live = conn.execute(select(func.count()).where(runs_t.c.status.not_in(ENDED))).scalar_one()
                live += meta.execute(open_dagruns).scalar_one()
            if not live:
                return time.monotonic() - started
            time.sleep(2)
        return time.monotonic() - started
    finally:
        catalog.dispose()
        metadata.dispose()


def soak(minutes: float, writers: int, seed: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="knit-soak-"))
    context = work / "images" / "sh"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    (work / "images" / "images.yaml").write_text(f"{IMAGE!r}: sh\n")
    with TemporaryPostgres() as postgres:
        suffix = f"{os.getpid()}"
        cluster = AirflowCluster(
            knit_home=work / "home",
            port=free_port(),
            image_maps=[work / "images" / "images.yaml"],
            metadata_url=postgres.create_database(f"airflow_soak_{suffix}"),
            catalog_url=postgres.create_database(f"knit_soak_{suffix}"),
            schedulers=2,
        )
        try:
            started = time.monotonic()
            cluster.start()
            log(f"cluster up in {time.monotonic() - started:.0f}s (2 schedulers); {writers} writers, {minutes} min")
            with Knit.open(url=cluster.catalog_url, home=cluster.knit_home) as knit:
                for plan in BASE_PLANS:
                    plans.apply(knit, plan)
            soaking = Writers(cluster, work, seed)
            soaking.run(writers, minutes * 60)
            log(f"writers stopped: {dict(soaking.done)} (refused {dict(soaking.refused)}); waiting for quiet")
            quiet_s = wait_quiet(cluster, timeout=300 + minutes * 30)
            return report(cluster, soaking, minutes, writers, quiet_s)
        finally:
            cluster.stop()


def report(cluster: AirflowCluster, soaking: Writers, minutes: float, writers: int, quiet_s: float) -> dict:
    catalog = create_engine(cluster.catalog_url)
    metadata = create_engine(cluster.metadata_url)
    try:
        with catalog.connect() as conn, metadata.connect() as meta:
            checks = invariants.check_all(conn, cluster.knit_home / "data", meta, retries=dict(soaking.retries))
            statuses = Counter(
                dict(
                    conn.execute(
                        select(runs_t.c.status, func.count())
                        .where(runs_t.c.plan_id != UPLOAD_PLAN_ID)
                        .group_by(runs_t.c.status)
                    ).all()
                )
            )
            logs = invariants.done_logs(conn, cluster.knit_home / "data")
            retried = invariants.retried_by_nobody(conn)
    finally:
        catalog.dispose()
        metadata.dispose()
    checks["executed_twice"] = invariants.executed_more_than_once(logs)
    checks["retried_by_nobody"] = retried
    checks["unexpected_errors"] = soaking.unexpected
    counts = {name: len(lines) for name, lines in checks.items()}
    return {
        "bench": "soak",
        "minutes": minutes,
        "writers": writers,
        "schedulers": cluster.schedulers,
        "operations": {
            "done": dict(soaking.done),
            "refused": dict(soaking.refused),
            "total": sum(soaking.done.values()) + sum(soaking.refused.values()),
        },
        "runs": dict(statuses),
        "violations": sum(counts.values()),
        "invariants": counts,
        "examples": {name: lines[:3] for name, lines in checks.items() if lines},
        "quiet_after_s": round(quiet_s, 1),
        "throttled_s": round(soaking.throttled_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the writers write (default 10)")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.writers < 1:
        parser.error("--minutes must be above 0 and --writers at least 1")
    result = soak(args.minutes, args.writers, args.seed)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
