"""Data pushed by an Airflow task (``service.task_data``), on a real catalog: the task instance is the lineage root
in the JSON and the graph, and a retry of the task never pushes twice."""

from __future__ import annotations

import pytest

from knit_provider.service import data, graphs, plans, runs
from knit_provider.service.task_data import TaskOrigin, push_from_task

pytestmark = pytest.mark.assets

ORIGIN = TaskOrigin(dag_id="ingest", task_id="push", dagrun_id="manual__1", try_number=1, push_key="push",
                    url="http://airflow.example/dags/ingest/runs/manual__1/tasks/push")  # fmt: skip


def test_the_pushing_task_is_the_lineage_root_in_the_json_and_the_graph(knit, make_dir) -> None:
    detail, made = push_from_task(knit, make_dir("batch"), ["type:dataset"], origin=ORIGIN, name="batch")
    assert made
    assert {"type:dataset", "name:batch"} <= set(detail["tags"])
    run = detail["upstream"]["run"]
    assert run["plan"]["name"] == "airflow#task:ingest.push", "instead of knit#uploaded"
    assert run["origin"] == {"airflow": {"dagId": "ingest", "taskId": "push", "runId": "manual__1", "mapIndex": -1,
                                         "tryNumber": 1, "url": ORIGIN.url}}  # fmt: skip
    assert runs.show(knit, run["runId"])["origin"]["airflow"]["taskId"] == "push"
    dot = graphs.lineage(knit, detail["knitId"]).to_dot()
    assert "airflow#task:ingest.push" in dot and "knit#uploaded" not in dot
    cli_pushed = data.push_dir(knit, make_dir("cli"), ["type:dataset"])
    assert cli_pushed["upstream"]["run"]["plan"]["name"] == "knit#uploaded"
    assert "origin" not in cli_pushed["upstream"]["run"]


def test_a_retried_task_gets_the_data_its_first_try_pushed_and_nothing_is_pushed_twice(knit, make_dir) -> None:
    first, made = push_from_task(knit, make_dir("a"), ["type:dataset"], origin=ORIGIN)
    retry = TaskOrigin(**{**ORIGIN.__dict__, "try_number": 2})
    again, made_again = push_from_task(knit, make_dir("b"), ["type:dataset"], origin=retry)
    assert made and not made_again and again["knitId"] == first["knitId"]
    other_key = TaskOrigin(**{**ORIGIN.__dict__, "push_key": "second"})
    assert push_from_task(knit, make_dir("c"), ["type:dataset"], origin=other_key)[1]
    assert len(data.find(knit, ["type:dataset"])) == 2
    assert len([p for p in (knit.home / "data").iterdir() if not p.name.startswith(".")]) == 2


def test_a_task_push_starts_the_runs_it_causes_like_any_push(knit, make_dir) -> None:
    plans.apply(knit, "image: r/a:1\ninputs: [{path: /in, tags: ['type:dataset']}]\noutputs: []\n")
    started: list[str] = []

    class Recorder:
        def runs_waiting(self, _knit, run_ids):
            started.extend(run_ids)

    knit.dispatcher = Recorder()
    push_from_task(knit, make_dir(), ["type:dataset"], origin=ORIGIN)
    assert started == [r["runId"] for r in runs.find(knit, statuses=["waiting"])] and len(started) == 1
