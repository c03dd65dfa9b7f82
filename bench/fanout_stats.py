"""Where a fan-out round's time goes, from Airflow's own records of it (``bench/fanout.py``): pure functions over
the DagRuns and task instances the REST API returns, so they are checked without an Airflow
(``tests/unit/test_bench_stats.py``).

Times are seconds from the round's start ``t0`` (just before the Plan apply / the DagRun's trigger):

- ``dagrun_created_s``: when the first and the last DagRun were created (``queued_at``: Knit creates one per Run;
  the mapped side has one).
- ``dagrun_to_task_queued_s``: from a task instance's DagRun created to the scheduler queueing it (the wait for a
  free slot and the scheduler's loop); ``task_queued_to_start_s``: from queued to running (the executor's pick-up,
  the task process start and its parse of the DAG file); ``task_duration_s``: running to ended.
- ``slot_busy_fraction``: the task instances' summed running time over ``parallelism`` slots between the first
  start and the last end: 1.0 means the slots never idled; what is missing is time between tasks.
- ``api_requests``: the api-server's requests during the round (its access log), by kind.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime


def epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def spread(values: Iterable[float | None]) -> dict[str, float | None]:
    """Median and 90th percentile (None when there is nothing to summarise)."""
    found = sorted(v for v in values if v is not None)
    if not found:
        return {"median": None, "p90": None}
    p90 = found[min(len(found) - 1, round(0.9 * (len(found) - 1)))]
    return {"median": round(statistics.median(found), 3), "p90": round(p90, 3)}


def _rel(value: float | None, t0: float) -> float | None:
    return round(value - t0, 3) if value is not None else None


def breakdown(dagruns: Sequence[dict], tis: Sequence[dict], *, t0: float, parallelism: int) -> dict:
    """The round's timeline (see the module docstring) from the REST API's DagRuns and task instances."""
    created = {run["dag_run_id"]: epoch(run.get("queued_at")) for run in dagruns}
    created_times = sorted(t for t in created.values() if t is not None)
    starts = [epoch(ti.get("start_date")) for ti in tis]
    ends = [epoch(ti.get("end_date")) for ti in tis]
    durations = [e - s for s, e in zip(starts, ends, strict=True) if s is not None and e is not None]
    first_start = min((s for s in starts if s is not None), default=None)
    last_end = max((e for e in ends if e is not None), default=None)
    busy = None
    if first_start is not None and last_end is not None and last_end > first_start:
        busy = round(sum(durations) / (parallelism * (last_end - first_start)), 3)

    def gap(ti: dict, since: float | None, until_key: str) -> float | None:
        until = epoch(ti.get(until_key))
        return until - since if until is not None and since is not None else None

    return {
        "dagruns": len(dagruns),
        "task_instances": len(tis),
        "dagrun_created_s": {
            "first": _rel(created_times[0], t0) if created_times else None,
            "last": _rel(created_times[-1], t0) if created_times else None,
        },
        "dagrun_to_task_queued_s": spread(gap(ti, created.get(ti["dag_run_id"]), "queued_when") for ti in tis),
        "task_queued_to_start_s": spread(gap(ti, epoch(ti.get("queued_when")), "start_date") for ti in tis),
        "task_duration_s": spread(durations),
        "task_duration_sum_s": round(sum(durations), 3),
        "first_task_start_s": _rel(first_start, t0),
        "last_task_end_s": _rel(last_end, t0),
        "slot_busy_fraction": busy,
    }


_REQUEST = re.compile(r"method=(?P<method>[A-Z]+) path=(?P<path>\S+)")
_IDS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"knit_plan__[^/\s]+"), "<plan dag>"),
    (re.compile(r"knit__[^/\s]+"), "<knit dagrun>"),
    (re.compile(r"scheduled__[^/\s]+"), "<scheduled dagrun>"),
    (re.compile(r"bench_[^/\s]+"), "<bench>"),
]


def requests_by_kind(log_text: str, *, top: int = 12) -> dict[str, int]:
    """The api-server's requests in a stretch of its access log, counted by method and path with the ids blanked
    (``PUT /execution/task-instances/<id>/heartbeat``: 500), the most frequent first."""
    counts: Counter[str] = Counter()
    for match in _REQUEST.finditer(log_text):
        path = match["path"]
        for pattern, blank in _IDS:
            path = pattern.sub(blank, path)
        counts[f"{match['method']} {path}"] += 1
    return dict(counts.most_common(top))
