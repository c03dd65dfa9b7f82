"""The ``knit_retention`` DAG: built with Knit's DAGs, its operator applies the declared policies (from the
``knit`` connection's ``retention`` extra, else the knit home's file), logs every purged id and the bytes freed,
and keeps the report. (A real scheduled run is in ``tests/browser/test_explain_panels.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knit_provider.service import Knit, data, retention

pytestmark = pytest.mark.explain


@pytest.fixture
def knit_conf(monkeypatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("AIRFLOW__KNIT__KNIT_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__KNIT__RETENTION_SCHEDULE", "@hourly")
    monkeypatch.delenv("AIRFLOW_CONN_KNIT_DEFAULT", raising=False)
    Knit.open(home=home).close()
    return home


def test_the_dag_is_built_with_knit_s_dags(knit_conf: Path) -> None:
    from knit_provider.dags.factory import knit_dags
    from knit_provider.dags.retention import RETENTION_DAG_ID
    from knit_provider.operators.retention import KnitRetentionOperator

    dag = knit_dags()[RETENTION_DAG_ID]
    (task,) = dag.tasks
    assert isinstance(task, KnitRetentionOperator) and task.task_id == "apply_policies"
    assert dag.max_active_runs == 1 and "knit" in dag.tags


def test_the_task_applies_the_policies_and_logs_each_purged_id(knit_conf: Path, tmp_path: Path, capsys) -> None:
    from knit_provider.operators.retention import KnitRetentionOperator

    (knit_conf / "retention.yaml").write_text("- name: models\n  tags: [type:model]\n  keep_last: 1\n")
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("12345")
    with Knit.open(home=knit_conf) as knit:
        old = data.push_dir(knit, source, ["type:model"])["knitId"]
        data.push_dir(knit, source, ["type:model"])
    outcome = KnitRetentionOperator(task_id="apply_policies").execute({})
    assert outcome == {"policies": 1, "purged": 1, "bytes": 5}
    logged = capsys.readouterr().out  # the task's logger (structlog) writes here outside a worker
    assert f"purged {old} [policy models] (5 bytes)" in logged
    assert "policy models: purged 1 Data, 5 bytes freed; 0 protected" in logged
    with Knit.open(home=knit_conf) as knit:
        assert retention.overview(knit)["reports"]["models"]["count"] == 1


def test_policies_in_the_connection_win_and_none_means_nothing(knit_conf: Path, monkeypatch, capsys) -> None:
    from knit_provider.operators.retention import KnitRetentionOperator

    assert KnitRetentionOperator(task_id="t").execute({}) == {"policies": 0, "purged": 0, "bytes": 0}
    assert "no retention policy declared" in capsys.readouterr().out
    conn = {"conn_type": "knit", "extra": {"retention": "- name: failed\n  transient: failed\n"}}
    monkeypatch.setenv("AIRFLOW_CONN_KNIT_DEFAULT", json.dumps(conn))
    assert KnitRetentionOperator(task_id="t").execute({})["policies"] == 1
