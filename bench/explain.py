"""Explanation, dry-run and retention benchmark on the projection benchmark's catalog (1,000 Plans, 100,000 Data).

Prints one JSON line: ``explain_p50_ms``, ``dry_run_apply_s`` and ``retention_dry_run_s`` (SQLite, at the top), the
same figures for PostgreSQL under ``"postgresql"`` (skipped with ``--sqlite-only``), and what each measured.

- ``explain_p50_ms`` / ``_p99_ms``: ``knit explain KNIT_ID`` (``service.explain.data``, every input of every Plan,
  one read transaction) for random seeded Data. Target: p50 < 20 ms.
- ``dry_run_apply_s``: ``knit plan apply --dry-run`` (``service.previews.apply``) of a Plan whose input matches
  10,000 Data: checks, nomination and the 10,000 combinations, rolled back. Target: < 1 s.
- ``retention_dry_run_s``: ``knit data purge --where --keep-last 3 --per project --dry-run`` over the 100,000 Data.
  Target: < 2 s.

The catalog is built by ``bench/projection.py``'s ``seed`` (imported), each backend in its own process.
Usage: ``python bench/explain.py [--sqlite-only]`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from projection import analyze, percentile, seed  # noqa: E402  (the projection benchmark's catalog builder)
from sqlalchemy import select, update  # noqa: E402

from knit_provider.catalog.engine import make_engine, write_tx  # noqa: E402
from knit_provider.catalog.models import data_t  # noqa: E402
from knit_provider.catalog.schema import upgrade  # noqa: E402
from knit_provider.service import Knit, explain, previews, retention  # noqa: E402
from knit_provider.storage import LocalStore  # noqa: E402

SAMPLES = 300
BACKFILL_PLAN = (
    "image: bench/dry-backfill:v1\n"
    "inputs: [{path: /in, tags: ['bench:backfill']}]\n"
    "outputs: [{path: /out, tags: ['bench:dry-backfilled']}]\n"
    "log: {tags: ['type:log']}\n"
)


def run_backend(url: str, home: str, queue: multiprocessing.Queue) -> None:
    rng = random.Random(7)
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    seed(engine, random.Random(42))
    with write_tx(engine) as conn:  # seeded Data have no size: give them one, so bytes freed mean something
        conn.execute(update(data_t).where(data_t.c.size.is_(None)).values(size=4096))
    analyze(engine)
    seed_s = time.perf_counter() - started
    knit = Knit(engine=engine, store=LocalStore(Path(home) / "data"), home=Path(home))
    with engine.connect() as conn:
        knit_ids = list(conn.execute(select(data_t.c.knit_id)).scalars())
    for knit_id in rng.sample(knit_ids, 20):  # warm-up: the Plan inputs' cache, the statement cache
        explain.data(knit, knit_id)
    timings, sizes = [], []
    for knit_id in rng.sample(knit_ids, SAMPLES):
        began = time.perf_counter()
        explained = explain.data(knit, knit_id)
        timings.append((time.perf_counter() - began) * 1000)
        sizes.append(explained["summary"]["inputs"])
    began = time.perf_counter()
    report = previews.apply(knit, BACKFILL_PLAN, backfill_confirm=0)
    dry_run_apply_s = time.perf_counter() - began
    selection = retention.selection(keep_last=3, per=["project"])
    began = time.perf_counter()
    kept = retention.purge_where(knit, selection, dry_run=True)
    retention_dry_run_s = time.perf_counter() - began
    engine.dispose()
    queue.put({
        "explain_p50_ms": round(statistics.median(timings), 2),
        "explain_p99_ms": round(percentile(timings, 99), 2),
        "explain_inputs": max(sizes),
        "dry_run_apply_s": round(dry_run_apply_s, 3),
        "dry_run_runs": report["runs"]["count"],
        "retention_dry_run_s": round(retention_dry_run_s, 3),
        "retention_population": kept["population"],
        "retention_selected": kept["count"],
        "retention_bytes": kept["bytes"],
        "seed_s": round(seed_s, 1),
    })  # fmt: skip


def in_child(url: str, home: str) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=run_backend, args=(url, home, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="knit-bench-explain-") as tmp:
        results.update(in_child(f"sqlite:///{Path(tmp) / 'catalog.db'}", str(Path(tmp) / "home-sqlite")))
        results["backend"] = "sqlite"
        if "--sqlite-only" not in sys.argv:
            from knit_dev.postgres import TemporaryPostgres

            with TemporaryPostgres() as server:
                results["postgresql"] = in_child(server.create_database("bench"), str(Path(tmp) / "home-pg"))
    print(json.dumps(results), flush=True)
    blocks = [results] + ([results["postgresql"]] if "postgresql" in results else [])
    ok = all(b["explain_p50_ms"] < 20 and b["dry_run_apply_s"] < 1 and b["retention_dry_run_s"] < 2 for b in blocks)
    print("targets met" if ok else "targets NOT met", file=sys.stderr)


if __name__ == "__main__":
    main()
