"""Projection benchmark: register + project latency and backfill throughput on SQLite and PostgreSQL.

Prints one JSON line ``{"sqlite": {...}, "postgresql": {...}}``. Each backend runs in its own process
(so ``peak_rss_mb`` is its own) against a catalog of 1,000 Plans (1-3 inputs) and 100,000 Data (3-6
tags each). The seeded Data are inserted in bulk and then nominated and projected by the real
projection code, so the catalog holds the nominations and Runs such Data would have caused.

- ``register_project_p50_ms`` / ``_p99_ms``: one write transaction registering one Data whose tags
  satisfy at least one Plan input (so it creates Runs), including the projection and the commit.
- ``register_nomatch_p50_ms``: the same for Data that satisfies no input: the plain write, which projection
  adds nothing to (its nomination finds no input).
- ``projection_overhead_ratio``: ``register_project_p50_ms / register_nomatch_p50_ms``, the cost of projecting
  relative to the plain write (issue 17, item 5). The two kinds of write alternate, one of each in turn, on the
  same catalog in the same process, so a noisy machine slows both alike and the ratio holds where the absolute
  figures drift.
- ``backfill_runs_per_s``: applying one Plan whose input matches 10,000 Data (10,000 Runs created).

Targets (issue 2): p50 < 5 ms and >= 5,000 Runs/s on both backends. PostgreSQL is started here
(initdb into a temporary directory), like the tests do. Usage: ``python bench/projection.py``.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from knit_provider.catalog.data import register_upload, upload_output_id
from knit_provider.catalog.engine import make_engine, write_tx
from knit_provider.catalog.models import UPLOAD_PLAN_ID, data_t, data_tags_t, runs_t
from knit_provider.catalog.plans import insert_plan
from knit_provider.catalog.projection import reproject_data
from knit_provider.catalog.schema import upgrade
from knit_provider.catalog.tagstore import intern_tags
from knit_provider.core.plan_spec import InputSpec, LogSpec, OutputSpec, PlanSpec
from knit_provider.core.tags import Tag

N_PLANS, N_DATA, N_BACKFILL = 1_000, 100_000, 10_000
PROJECTS, TYPES = 1_000, 20
EXTRA_KEYS = {"mode": 3, "owner": 50, "batch": 1_000, "format": 10}
SAMPLES = 300


def data_tags(rng: random.Random, project: int | None = None, type_: int | None = None) -> list[Tag]:
    """3-6 tags: always a project and a type, then 1-4 of the other keys."""
    tags = [
        Tag("project", f"p{rng.randrange(PROJECTS) if project is None else project}"),
        Tag("type", f"t{rng.randrange(TYPES) if type_ is None else type_}"),
    ]
    for key in rng.sample(sorted(EXTRA_KEYS), rng.randint(1, 4)):
        tags.append(Tag(key, f"{key[0]}{rng.randrange(EXTRA_KEYS[key])}"))
    return tags


def plan_spec(index: int, rng: random.Random) -> tuple[PlanSpec, list[tuple[int, int]]]:
    """A plan of 1-3 inputs, each wanting one (project, type) cell; outputs tagged so they feed nothing."""
    cells = [(rng.randrange(PROJECTS), rng.randrange(TYPES)) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
    inputs = tuple(
        InputSpec(path=f"/in/{n}", tags=(Tag("project", f"p{p}"), Tag("type", f"t{t}")))
        for n, (p, t) in enumerate(cells)
    )
    spec = PlanSpec(
        image=f"bench/plan{index}:v1",
        inputs=inputs,
        outputs=(OutputSpec(path="/out", tags=(Tag("type", f"out{index}"),)),),
        log=LogSpec(tags=(Tag("type", "log"), Tag("plan", f"n{index}"))),
    )
    return spec, cells


def seed(engine, rng: random.Random) -> list[tuple[int, int]]:
    """1,000 Plans, then 100,000 Data in bulk (10,000 of them tagged for the backfill), projected."""
    cells: list[tuple[int, int]] = []
    for index in range(N_PLANS):
        spec, plan_cells = plan_spec(index, rng)
        with write_tx(engine) as conn:
            insert_plan(conn, spec)
        cells += plan_cells
    batch = 2_000
    for start in range(0, N_DATA, batch):
        rows = []
        for n in range(start, min(start + batch, N_DATA)):
            tags = data_tags(rng)
            if n % (N_DATA // N_BACKFILL) == 0:
                tags[-1] = Tag("bench", "backfill")
            rows.append((str(uuid.uuid4()), str(uuid.uuid4()), tags))
        with write_tx(engine) as conn:
            now = int(time.time() * 1000)
            ids = intern_tags(conn, {t for _, _, tags in rows for t in tags})
            output_id = upload_output_id(conn)
            conn.execute(insert(runs_t), [
                {"run_id": r, "plan_id": UPLOAD_PLAN_ID, "status": "done", "combo_key": r, "created_at": now,
                 "updated_at": now, "finished_at": now} for _, r, _ in rows
            ])  # fmt: skip
            conn.execute(insert(data_t), [
                {"knit_id": k, "run_id": r, "output_id": output_id, "created_at": now} for k, r, _ in rows
            ])  # fmt: skip
            conn.execute(insert(data_tags_t), [
                {"knit_id": k, "tag_id": ids[t]} for k, _, tags in rows for t in set(tags)
            ])  # fmt: skip
            reproject_data(conn, [k for k, _, _ in rows])
    return cells


def analyze(engine) -> None:
    """Refresh planner statistics after the bulk seed, as autovacuum (PostgreSQL) or
    ``PRAGMA optimize`` (SQLite) would have for a catalog that grew to this size over time."""
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def measure_registrations(engine, rng: random.Random, cells: list[tuple[int, int]]) -> tuple[list, list]:
    """Registration times (ms) of Data that matches a Plan input and of Data that matches none, alternating."""
    matching, plain = [], []
    for _ in range(SAMPLES):
        project, type_ = rng.choice(cells)
        for tags, timings in (
            (data_tags(rng, project, type_), matching),
            ([Tag("project", "nowhere"), Tag("type", "none"), Tag("owner", f"o{rng.randrange(50)}")], plain),
        ):
            started = time.perf_counter()
            with write_tx(engine) as conn:
                register_upload(conn, str(uuid.uuid4()), tags, checksum=None, size=None)
            timings.append((time.perf_counter() - started) * 1000)
    return matching, plain


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_backend(url: str, queue: multiprocessing.Queue) -> None:
    rng = random.Random(42)
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    cells = seed(engine, rng)
    analyze(engine)
    seed_s = time.perf_counter() - started
    matching, nomatch = measure_registrations(engine, rng, cells)
    spec = PlanSpec(
        image="bench/backfill:v1",
        inputs=(InputSpec(path="/in", tags=(Tag("bench", "backfill"),)),),
        outputs=(OutputSpec(path="/out", tags=(Tag("bench", "backfilled"),)),),
        log=LogSpec(tags=(Tag("type", "log"),)),
    )
    started = time.perf_counter()
    with write_tx(engine) as conn:
        _, created = insert_plan(conn, spec)
    backfill_s = time.perf_counter() - started
    engine.dispose()
    queue.put({
        "register_project_p50_ms": round(statistics.median(matching), 3),
        "register_project_p99_ms": round(percentile(matching, 99), 3),
        "register_nomatch_p50_ms": round(statistics.median(nomatch), 3),
        "projection_overhead_ratio": round(statistics.median(matching) / statistics.median(nomatch), 2),
        "backfill_runs": len(created),
        "backfill_s": round(backfill_s, 3),
        "backfill_runs_per_s": round(len(created) / backfill_s),
        "seed_s": round(seed_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })  # fmt: skip


def in_child(url: str) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=run_backend, args=(url, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    from knit_dev.postgres import TemporaryPostgres

    results = {}
    with tempfile.TemporaryDirectory(prefix="knit-bench-") as tmp:
        results["sqlite"] = in_child(f"sqlite:///{Path(tmp) / 'catalog.db'}")
        with TemporaryPostgres() as server:
            results["postgresql"] = in_child(server.create_database("bench"))
    ok = all(r["register_project_p50_ms"] < 5 and r["backfill_runs_per_s"] >= 5_000 for r in results.values())
    results["targets"] = {"register_project_p50_ms": "< 5", "backfill_runs_per_s": ">= 5000"}
    results["targets_met"] = ok
    print(json.dumps(results), flush=True)
    print("targets met" if ok else "targets NOT met", file=sys.stderr)


if __name__ == "__main__":
    main()
