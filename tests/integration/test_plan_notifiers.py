"""Airflow notifiers named by a Plan's annotations (beyond Knitfab): the Plan's DAG gets them as its callbacks;
``[knit] on_failure_notifier`` applies to every Plan; ``slack://`` needs the Slack provider (not installed here: a
clear error naming it); a misspelt annotation or a target that is not a notifier is refused or reported, and never
hides another Plan's DAG."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.dags.factory import plan_dag
from knit_provider.service import plans
from knit_provider.service.plan_dags import plan_dags

pytestmark = pytest.mark.run_control
NOTIFIERS = Path(__file__).resolve().parents[1] / "e2e" / "notifiers"
PLAN = "image: r/nt:v1\ninputs: [{path: /in, tags: ['nt:in']}]\noutputs: [{path: /out, tags: ['nt:o']}]\n"


@pytest.fixture(autouse=True)
def importable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.syspath_prepend(str(NOTIFIERS))
    out = tmp_path / "notified.jsonl"
    monkeypatch.setenv("KNIT_TEST_NOTIFY_FILE", str(out))
    yield out
    sys.modules.pop("knit_test_notifiers", None)


def dag_of(knit, plan_id: str, **options):
    (plan,) = [p for p in plan_dags(knit) if p.plan_id == plan_id]
    return plan_dag(plan, **options)


def test_annotations_name_the_dags_callbacks_and_they_notify(knit, importable: Path) -> None:
    annotations = (
        "annotations: ['knit.notify.on_failure=knit_test_notifiers.RecordingNotifier',"
        " 'knit.notify.on_success=knit_test_notifiers.recording']\n"
    )
    plan_id = plans.apply(knit, PLAN + annotations)["planId"]
    dag = dag_of(knit, plan_id)
    (on_failure,) = dag.on_failure_callback
    (on_success,) = dag.on_success_callback
    assert (
        type(on_failure).__name__ == "RecordingNotifier" and on_success is sys.modules["knit_test_notifiers"].recording
    )
    dag_run = SimpleNamespace(dag_id=dag.dag_id, run_id="knit__r1", state="failed", conf={"knit_run_id": "r1"})
    on_failure({"dag_run": dag_run, "dag": dag})
    (line,) = [json.loads(t) for t in importable.read_text().splitlines()]
    assert line["run_id"] == "knit__r1" and line["conf"] == {"knit_run_id": "r1"}


def test_the_setting_applies_to_every_plan(knit) -> None:
    plan_id = plans.apply(knit, PLAN)["planId"]
    dag = dag_of(knit, plan_id, on_failure_notifier="knit_test_notifiers.SuccessNotifier")
    assert [type(n).__name__ for n in dag.on_failure_callback] == ["SuccessNotifier"]
    assert not dag.on_success_callback


def test_slack_needs_its_provider_and_says_so(knit) -> None:
    with pytest.raises(InvalidInput) as refused:
        plans.apply(knit, PLAN + "annotations: ['knit.notify.on_failure=slack://alerts']\n")
    assert str(refused.value) == (
        "annotations: notifier slack://alerts: slack:// needs the Slack provider (apache-airflow-providers-slack), "
        "which is not installed"
    )
    plan_id = plans.apply(knit, PLAN)["planId"]
    with pytest.raises(InvalidInput, match="apache-airflow-providers-slack"):
        plans.annotate(knit, plan_id, add=["knit.notify.on_failure=slack://alerts"])
    dag = dag_of(knit, plan_id, on_failure_notifier="slack://alerts")  # the setting: the DAG still comes
    assert not dag.on_failure_callback and "apache-airflow-providers-slack" in dag.doc_md


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("knit.notify.on_fail=knit_test_notifiers.recording", "did you mean knit.notify.on_failure?"),
        ("knit.notify.on_failure=nope://x", "unknown notifier scheme 'nope'"),
        ("knit.notify.on_failure=not a path", "neither scheme://CONN_ID nor an import path"),
    ],
)
def test_a_misspelt_notification_is_refused_in_one_line(knit, annotation: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        plans.apply(knit, PLAN + f"annotations: [{annotation!r}]\n")
    assert "\n" not in str(refused.value)


def test_a_target_that_is_no_notifier_is_reported_on_the_dag_and_others_keep_theirs(knit) -> None:
    bad = plans.apply(knit, PLAN + "annotations: ['knit.notify.on_failure=knit_test_notifiers.not_a_notifier']\n")
    missing = plans.apply(
        knit, PLAN.replace("nt:in", "nt:other") + "annotations: ['knit.notify.on_failure=knit_no_such_module.X']\n"
    )
    assert "is not a BaseNotifier" in dag_of(knit, bad["planId"]).doc_md
    assert "cannot be imported here" in dag_of(knit, missing["planId"]).doc_md
    fine = dag_of(knit, bad["planId"], on_failure_notifier="knit_test_notifiers.RecordingNotifier")
    assert [type(n).__name__ for n in fine.on_failure_callback] == ["RecordingNotifier"]
