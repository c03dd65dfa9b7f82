"""The pure parts of ``bench/fanout.py`` and ``bench/many_plans.py`` (issue 17): where a fan-out round's time goes,
read from Airflow's DagRuns and task instances, the round order, and the DAG processor's statistics table as the
dag-processor logs it. The benchmarks themselves print the timings; no timing is asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fanout import plan_rounds  # noqa: E402
from fanout_stats import breakdown, requests_by_kind, spread  # noqa: E402
from many_plans import intervals, parses_of, stats_rows  # noqa: E402

pytestmark = pytest.mark.scale
T0 = 1_700_000_000.0


def at(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(T0 + seconds, UTC).isoformat()


def test_the_breakdown_of_a_round() -> None:
    """Two DagRuns created at 1 s and 2 s; their tasks queued 0.5 s later, running 0.25 s after that, for 2 s."""
    dagruns = [{"dag_run_id": "a", "queued_at": at(1)}, {"dag_run_id": "b", "queued_at": at(2)}]
    tis = [
        {"dag_run_id": "a", "queued_when": at(1.5), "start_date": at(1.75), "end_date": at(3.75)},
        {"dag_run_id": "b", "queued_when": at(2.5), "start_date": at(2.75), "end_date": at(4.75)},
    ]
    found = breakdown(dagruns, tis, t0=T0, parallelism=2)
    assert found["dagrun_created_s"] == {"first": 1.0, "last": 2.0}
    assert found["dagrun_to_task_queued_s"] == {"median": 0.5, "p90": 0.5}
    assert found["task_queued_to_start_s"] == {"median": 0.25, "p90": 0.25}
    assert found["task_duration_s"] == {"median": 2.0, "p90": 2.0} and found["task_duration_sum_s"] == 4.0
    assert (found["first_task_start_s"], found["last_task_end_s"]) == (1.75, 4.75)
    assert found["slot_busy_fraction"] == round(4.0 / (2 * 3.0), 3)


def test_a_task_not_run_yet_counts_nowhere() -> None:
    dagruns = [{"dag_run_id": "a", "queued_at": at(1)}]
    tis = [{"dag_run_id": "a", "queued_when": None, "start_date": None, "end_date": None}]
    found = breakdown(dagruns, tis, t0=T0, parallelism=8)
    assert found["task_duration_s"] == {"median": None, "p90": None} and found["slot_busy_fraction"] is None


def test_spread_takes_the_90th_percentile_of_what_is_there() -> None:
    assert spread([None, *range(1, 11)]) == {"median": 5.5, "p90": 9}


def test_rounds_alternate_which_side_goes_first_after_a_warm_up_of_each() -> None:
    assert plan_rounds(2) == [
        ("knit", "warm-knit"), ("mapped", "warm-mapped"),
        ("knit", "r1-knit"), ("mapped", "r1-mapped"),
        ("mapped", "r2-mapped"), ("knit", "r2-knit"),
    ]  # fmt: skip


STATS_LOG = """\
dag-processor | DAG File Processing Stats
dag-processor | Bundle       File Path       PID  Current Duration      # DAGs    # Errors  Last Duration    Last Run At
dag-processor | -----------  ------------  -----  ------------------  --------  ----------  ---------------  -----------
dag-processor | dags-folder  knit_dags.py  30857  12.17s                     0           0
dag-processor | ================================================================================ [airflow...]
dag-processor | dags-folder  knit_dags.py                52           0  1.50s  2026-12-05T01:12:40
dag-processor | dags-folder  knit_dags.py  30908  3.21s                     52           0  1.50s  2026-12-05T01:12:40
dag-processor | dags-folder  knit_dags.py                53           0  3.08s  2026-12-05T01:12:47
dag-processor | dags-folder  knit_dags.py                2           1  0.40s  2026-12-05T01:12:52
"""


def test_the_processor_statistics_give_one_duration_per_parse() -> None:
    rows = stats_rows(STATS_LOG)
    assert [(r["dags"], r["last_s"]) for r in rows] == [(52, 1.5), (52, 1.5), (53, 3.08), (2, 0.4)]
    assert parses_of(rows, dags_at_least=52) == [1.5, 3.08], "a parse listed twice counts once; a failed one never"


def test_intervals_between_distinct_parse_times() -> None:
    assert intervals([3.0, 1.0, 1.0, 6.5]) == [2.0, 3.5]


def test_the_api_servers_requests_by_kind() -> None:
    access = "\n".join([
        "api-server | ... method=PUT path=/execution/task-instances/01a243b5-1650-7be9-9f2b-db548c10c86f/heartbeat",
        "api-server | ... method=PUT path=/execution/task-instances/01a243b5-1657-7b9f-8cf2-03b9a6ced417/heartbeat",
        "api-server | ... method=GET path=/execution/dag-runs/knit_plan__a-1-0-0b9816ec/knit__05c9b834-d07c/state",
        "scheduler | a line without a request",
    ])  # fmt: skip
    assert requests_by_kind(access) == {
        "PUT /execution/task-instances/<id>/heartbeat": 2,
        "GET /execution/dag-runs/<plan dag>/<knit dagrun>/state": 1,
    }
