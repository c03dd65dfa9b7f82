"""The checks the fault tests and the soak rely on (``knit_dev.invariants``) find what they promise
to find: each is shown a catalog and store broken in its own way, and a healthy one where it finds nothing."""

from __future__ import annotations

import pytest
from knit_dev import invariants, lifecycle
from sqlalchemy import delete, update

from knit_provider.catalog.models import data_t, runs_t
from knit_provider.service import data, plans, runs

pytestmark = [pytest.mark.reliability]

PLAN = "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"
PLAN_LOG = PLAN.replace("t:mid", "t:other") + "log: {tags: ['t:log']}\n"


def run_to_done(knit, run_id: str) -> None:
    lifecycle.finish(knit, run_id, exit_code=0)


@pytest.fixture
def healthy(knit, make_dir):
    """A Plan, two uploads, both Runs done: every check finds nothing."""
    plan_id = plans.apply(knit, PLAN)["planId"]
    for name in ("one", "two"):
        data.push_dir(knit, make_dir(name), ["t:raw"])
    for run in runs.find(knit, plan_ids=[plan_id]):
        run_to_done(knit, run["runId"])
    with knit.engine.connect() as conn:
        assert invariants.check_all(conn, knit.store.root) == {
            "stuck": [],
            "unexplained_failures": [],
            "half_data": [],
            "missing_or_doubled_runs": [],
            "stops_not_kept": [],
        }
    return plan_id


def checks(knit) -> dict[str, list[str]]:
    with knit.engine.connect() as conn:
        return {name: lines for name, lines in invariants.check_all(conn, knit.store.root).items() if lines}


def test_a_run_in_flight_is_stuck_on_a_quiet_deployment(knit, healthy, make_dir) -> None:
    data.push_dir(knit, make_dir("three"), ["t:raw"])
    (waiting,) = runs.find(knit, plan_ids=[healthy], statuses=["waiting"])
    assert checks(knit) == {"stuck": [f"run {waiting['runId']} is still waiting"]}


def test_a_failed_run_without_a_message_is_unexplained(knit, healthy) -> None:
    run_id = runs.find(knit, plan_ids=[healthy])[0]["runId"]
    with knit.engine.begin() as conn:
        conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(status="failed", exit_message=""))
    assert list(checks(knit)) == ["unexplained_failures"]


def test_changed_or_missing_content_of_a_done_run_is_half_data(knit, healthy, make_dir) -> None:
    first, second = (r["outputs"][0]["knitId"] for r in runs.find(knit, plan_ids=[healthy]))
    (knit.store.path(first) / "half.bin").write_bytes(b"written after the Run ended")
    assert checks(knit) == {"half_data": [f"data {first} of a done run differs from its registered checksum"]}
    (knit.store.path(first) / "half.bin").unlink()
    stray = knit.store.root / "0b3e7a36-0000-4000-8000-000000000000"
    stray.mkdir()
    assert checks(knit) == {"half_data": [f"store directory {stray.name} is no registered Data"]}
    stray.rmdir()
    knit.store.delete(second)
    assert checks(knit) == {"half_data": [f"data {second} of a done run is missing from the store"]}


def test_a_satisfied_combination_without_a_run_is_found(knit, healthy) -> None:
    run = runs.find(knit, plan_ids=[healthy])[0]
    with knit.engine.begin() as conn:
        conn.execute(delete(data_t).where(data_t.c.run_id == run["runId"]))
        conn.execute(delete(runs_t).where(runs_t.c.run_id == run["runId"]))
    (line,) = checks(knit)["missing_or_doubled_runs"]
    assert line == f"plan {healthy} has no run of satisfied combination {run['inputs'][0]['knitId']}"


def test_a_program_saying_it_ran_twice_in_one_attempt_is_found() -> None:
    assert invariants.executed_more_than_once([("r1", "ran r1\nstep\n"), ("r2", "ran r2\nran r2\n")]) == [
        "run r2 executed 2 times in one attempt"
    ]


def test_done_logs_are_read_from_the_store(knit, make_dir) -> None:
    plan_id = plans.apply(knit, PLAN_LOG)["planId"]
    data.push_dir(knit, make_dir("one"), ["t:raw"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    log_id = run["log"]["knitId"]
    log_dir = knit.store.path(log_id) if knit.store.exists(log_id) else knit.store.create_empty(log_id)
    (log_dir / "log").write_text(f"ran {run['runId']}\n")
    run_to_done(knit, run["runId"])
    with knit.engine.connect() as conn:
        assert invariants.done_logs(conn, knit.store.root) == [(run["runId"], f"ran {run['runId']}\n")]


def airflow_tables(dagruns: dict[str, str]):
    """Airflow's two tables the DagRun check reads, holding ``run id -> DagRun state`` (each task tried once)."""
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE dag_run (run_id TEXT, state TEXT, clear_number INTEGER)"))
        conn.execute(text("CREATE TABLE task_instance (run_id TEXT, try_number INTEGER)"))
        for run_id, state in dagruns.items():
            conn.execute(text("INSERT INTO dag_run VALUES (:r, :s, 0)"), {"r": f"knit__{run_id}", "s": state})
            conn.execute(text("INSERT INTO task_instance VALUES (:r, 1)"), {"r": f"knit__{run_id}"})
    return engine


def test_a_dagrun_that_ended_unlike_its_run_disagrees_unless_a_stop_ended_the_run_before_it_began(
    knit, healthy, make_dir
) -> None:
    first, second = (r["runId"] for r in runs.find(knit, plan_ids=[healthy]))
    data.push_dir(knit, make_dir("three"), ["t:raw"])
    (never_dispatched,) = runs.find(knit, plan_ids=[healthy], statuses=["waiting"])
    runs.stop(knit, never_dispatched["runId"], fail=True)  # failed by a stop while waiting: no DagRun
    runs.retry(knit, second)  # its done DagRun is not cleared yet when a stop fails the retried Run
    runs.stop(knit, second, fail=True)
    metadata = airflow_tables({first: "failed", second: "success"})
    with knit.engine.connect() as conn, metadata.connect() as airflow:
        assert invariants.dagrun_disagreements(conn, airflow, retries={second: 1}) == [
            f"run {first} is done but its DagRun is failed"
        ]
    metadata = airflow_tables({second: "success"})
    with knit.engine.connect() as conn, metadata.connect() as airflow:
        assert invariants.dagrun_disagreements(conn, airflow, retries={second: 1}) == [
            f"run {first} is done but its DagRun is missing"
        ]


def test_a_stop_undone_by_a_task_is_found_and_so_is_its_retry_by_nobody(knit, healthy) -> None:
    first, second = (r["runId"] for r in runs.find(knit, plan_ids=[healthy]))
    knit.actor = "a user"
    runs.retry(knit, first)
    runs.stop(knit, first, fail=True)
    runs.retry(knit, second)
    with knit.engine.connect() as conn:
        assert invariants.stops_not_kept(conn) == [] and invariants.retried_by_nobody(conn) == []
    with knit.engine.begin() as conn:  # as if its task had ignored the stop and run the Run to the end
        conn.execute(update(runs_t).where(runs_t.c.run_id == first).values(status="done"))
    assert checks(knit)["stops_not_kept"] == [f"run {first} was stopped with --fail but is done"]
    knit.actor = None  # a task's retry names no user
    runs.retry(knit, first)
    with knit.engine.connect() as conn:
        assert invariants.retried_by_nobody(conn) == [f"run {first} was retried by no user"]
