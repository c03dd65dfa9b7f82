"""Two schedulers at once on one PostgreSQL (Airflow's metadata and the Knit catalog): every Run exactly once.

A real deployment runs several schedulers (HA). Each takes DagRuns and task instances from the same metadata
database, and every task reports to the same catalog. 200 Data pushed into a 2-Plan chain must give exactly
400 Runs, each done once, each its own DagRun, each DagRun's task run once, each Run's outputs registered once.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from knit_dev.cluster import AirflowCluster
from knit_dev.standalone import free_port
from knit_dev.waiting import wait_until
from sqlalchemy import create_engine, func, select, text

from knit_provider.catalog.models import data_t, runs_t
from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.service import Knit, data, plans, runs

from .conftest import TRIVIAL_CONTEXT, sh_plan, write_image_map

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql, pytest.mark.slow]

N_DATA = 200
IMAGE = "knit-e2e/sh:1.0"
#: Copies the number through and says once, in the log, which Run ran: a second execution would show.
COPY = 'cp /in/x/n.txt /out/y/n.txt && echo "ran $KNIT_RUN_ID"'


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowCluster]:
    """api-server, dag-processor, triggerer and two schedulers (LocalExecutor each), all on one PostgreSQL."""
    images = write_image_map(tmp_path_factory.mktemp("ha-images"), {IMAGE: TRIVIAL_CONTEXT})
    suffix = f"{os.getpid()}_{time.monotonic_ns()}"
    server = AirflowCluster(
        knit_home=tmp_path_factory.mktemp("ha-home"),
        port=free_port(),
        image_maps=[images],
        metadata_url=postgres_server.create_database(f"airflow_{suffix}"),
        catalog_url=postgres_server.create_database(f"knit_ha_{suffix}"),
        schedulers=2,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ha_knit(cluster: AirflowCluster) -> Iterator[Knit]:
    with Knit.open(url=cluster.catalog_url, home=cluster.knit_home) as instance:
        yield instance


def status_counts(knit: Knit, plan_ids: list[str]) -> Counter:
    query = select(runs_t.c.status, func.count()).where(runs_t.c.plan_id.in_(plan_ids)).group_by(runs_t.c.status)
    with knit.engine.connect() as conn:
        return Counter(dict(conn.execute(query).all()))


def airflow_rows(cluster: AirflowCluster, sql: str, **params) -> list:
    """Rows of Airflow's own metadata tables (read-only): what the REST API does not show (clears, tries)."""
    engine = create_engine(cluster.metadata_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def test_two_schedulers_run_every_run_of_a_200_data_chain_exactly_once(
    cluster: AirflowCluster, ha_knit: Knit, tmp_path: Path
) -> None:
    knit = ha_knit
    started = time.monotonic()
    first = plans.apply(knit, sh_plan("ha:seed", "ha:mid", COPY))["planId"]
    second = plans.apply(knit, sh_plan("ha:mid", "ha:end", COPY))["planId"]
    dag_ids = {first: plan_dag_id(IMAGE, first), second: plan_dag_id(IMAGE, second)}
    cluster.wait_for_dags(list(dag_ids.values()), timeout=120)
    assert cluster.live_schedulers() == 2, "both schedulers must be alive before the push"

    sources = []
    for n in range(N_DATA):
        folder = tmp_path / f"n{n:03d}"
        folder.mkdir()
        (folder / "n.txt").write_text(str(n))
        sources.append(folder)
    parsed = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:  # pushes race each other and the dispatchers, as users do
        pushed = list(pool.map(lambda folder: data.push_dir(knit, folder, ["ha:seed"])["knitId"], sources))
    push_s = time.monotonic() - parsed

    def chain_finished() -> bool:
        cluster.check_alive()  # a component that died fails the test at once, naming its log
        counts = status_counts(knit, [first, second])
        return sum(counts.values()) == 2 * N_DATA and counts["done"] + counts["failed"] == 2 * N_DATA

    wait_until(chain_finished, timeout=900, what=f"{2 * N_DATA} Runs finished", interval=2)
    print(  # figures for the report (pytest -s), never asserted
        f"\nDAGs parsed after {parsed - started:.1f}s, {N_DATA} pushes in {push_s:.1f}s, "
        f"{2 * N_DATA} Runs finished {time.monotonic() - parsed - push_s:.1f}s after the last push"
    )
    assert status_counts(knit, [first, second]) == Counter({"done": 2 * N_DATA}), "every Run done"

    # -- Knit: each combination once, each Run's outputs registered once, each program executed once --------
    firsts, seconds = runs.find(knit, plan_ids=[first]), runs.find(knit, plan_ids=[second])
    assert sorted(r["inputs"][0]["knitId"] for r in firsts) == sorted(pushed), "one first-stage Run per pushed Data"
    mid_outputs = sorted(r["outputs"][0]["knitId"] for r in firsts)
    assert sorted(r["inputs"][0]["knitId"] for r in seconds) == mid_outputs, "one second-stage Run per output"
    with knit.engine.connect() as conn:
        per_run = Counter(dict(conn.execute(select(data_t.c.run_id, func.count()).group_by(data_t.c.run_id)).all()))
    assert {per_run[r["runId"]] for r in firsts + seconds} == {2}, "each Run registers one output and one log"
    assert sum(per_run.values()) == N_DATA + 4 * N_DATA, "no Data beyond the uploads, outputs and logs"
    by_knit_id = {r["outputs"][0]["knitId"]: r for r in firsts}
    for run in seconds:
        upstream = by_knit_id[run["inputs"][0]["knitId"]]
        number = (knit.store.path(upstream["inputs"][0]["knitId"]) / "n.txt").read_text()
        assert (knit.store.path(run["outputs"][0]["knitId"]) / "n.txt").read_text() == number
    for run in firsts + seconds:
        log = (knit.store.path(run["log"]["knitId"]) / "log").read_text()
        assert log.count("ran ") == 1 and f"ran {run['runId']}" in log, f"Run {run['runId']} executed once: {log!r}"

    # -- Airflow: one DagRun per Run, never cleared, its task tried once, both schedulers at work ------------
    expected = {(dag_ids[r["plan"]["planId"]], dagrun_id(r["runId"])) for r in firsts + seconds}
    plan_dags = list(dag_ids.values())

    def dagruns_closed() -> bool:  # Airflow closes a DagRun a few scheduler loops after its task ends
        rows = airflow_rows(cluster, "SELECT state FROM dag_run WHERE dag_id = ANY(:d)", d=plan_dags)
        return len(rows) >= len(expected) and all(row.state in ("success", "failed") for row in rows)

    wait_until(dagruns_closed, timeout=120, what="every DagRun closed", interval=2)
    dagruns = airflow_rows(
        cluster, "SELECT dag_id, run_id, state, clear_number FROM dag_run WHERE dag_id = ANY(:d)", d=plan_dags
    )
    assert {(d.dag_id, d.run_id) for d in dagruns} == expected, "exactly one DagRun per Run, and no other"
    assert Counter(d.state for d in dagruns) == Counter({"success": 2 * N_DATA})
    cleared = [(d.dag_id, d.run_id, d.clear_number) for d in dagruns if d.clear_number]
    assert not cleared, f"DagRuns cleared (run again) by a dispatcher: {cleared}"
    tasks = airflow_rows(
        cluster,
        "SELECT run_id, state, try_number, queued_by_job_id FROM task_instance WHERE dag_id = ANY(:d)",
        d=plan_dags,
    )
    assert len(tasks) == 2 * N_DATA and {t.state for t in tasks} == {"success"}
    retried = [(t.run_id, t.try_number) for t in tasks if t.try_number != 1]
    assert not retried, f"task instances tried more than once: {retried}"
    history = airflow_rows(cluster, "SELECT count(*) FROM task_instance_history WHERE dag_id = ANY(:d)", d=plan_dags)
    assert history[0][0] == 0, "no earlier attempt of any Run's task exists"
    by_scheduler = Counter(t.queued_by_job_id for t in tasks)
    print(f"tasks queued per scheduler job: {dict(by_scheduler)}")
    assert len(by_scheduler) == 2, f"both schedulers queued Runs' tasks (scheduler job id -> tasks): {by_scheduler}"
