"""Knit's DAG file in a task's process: Airflow parses it again for the one DAG the task belongs to (its parsing
context names that DAG), and Knit builds only that DAG and imports only what it needs. Building every Plan's DAG
and importing the generator's sensor (which reaches the Kubernetes client) made most of a trivial Run's task time
(``bench/fanout.py``, issue 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.service import Knit, plans

pytestmark = pytest.mark.scale
REPO = Path(__file__).resolve().parents[2]
CONTEXT_DAG_ID = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"  # what Airflow's task runner sets while it parses for a task


def plan_yaml(n: int) -> str:
    ports = f"inputs: [{{path: /in, tags: ['fan:{n}']}}]\noutputs: [{{path: /out, tags: ['o:{n}']}}]\n"
    return f"image: r/fan{n}:v1\n{ports}"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("AIRFLOW__KNIT__KNIT_HOME", str(home))
    monkeypatch.delenv("AIRFLOW_CONN_KNIT_DEFAULT", raising=False)
    monkeypatch.delenv(CONTEXT_DAG_ID, raising=False)
    return home


@pytest.fixture
def plan_dag_ids(home: Path) -> list[str]:
    with Knit.open(home=home) as knit:
        applied = [plans.apply(knit, plan_yaml(n)) for n in range(3)]
    return [plan_dag_id(p["image"], p["planId"]) for p in applied]


def test_a_task_of_a_plan_builds_only_its_plans_dag(plan_dag_ids: list[str], monkeypatch) -> None:
    from knit_provider.dags.factory import knit_dags

    assert set(plan_dag_ids) <= set(knit_dags()), "without a parsing context: every DAG (the DAG processor)"
    monkeypatch.setenv(CONTEXT_DAG_ID, plan_dag_ids[1])
    dags = knit_dags()
    assert list(dags) == [plan_dag_ids[1]] and dags[plan_dag_ids[1]].get_task("run") is not None


def test_a_task_builds_its_plans_dag_without_knit_assets(plan_dag_ids: list[str], monkeypatch) -> None:
    """They draw Airflow's asset graph, from the DAG processor's parse; the task emits no asset event."""
    from knit_provider.dags.factory import knit_dags

    processor = knit_dags()[plan_dag_ids[0]].get_task("run")
    assert ([a.name for a in processor.inlets], [a.name for a in processor.outlets]) == (["knit: fan:0"], ["knit: o:0"])
    monkeypatch.setenv(CONTEXT_DAG_ID, plan_dag_ids[0])
    task = knit_dags()[plan_dag_ids[0]].get_task("run")
    assert (task.inlets, task.outlets) == ([], [])


def test_the_generators_task_builds_only_the_generator(plan_dag_ids: list[str], monkeypatch) -> None:
    from knit_provider.dags.factory import GENERATOR_DAG_ID, knit_dags

    monkeypatch.setenv(CONTEXT_DAG_ID, GENERATOR_DAG_ID)
    assert list(knit_dags()) == [GENERATOR_DAG_ID]


def test_a_dag_id_knit_does_not_know_builds_everything(plan_dag_ids: list[str], monkeypatch) -> None:
    """E.g. a Plan deleted since its task was queued: Airflow then reports the DAG missing, as before."""
    from knit_provider.dags.factory import GENERATOR_DAG_ID, knit_dags

    monkeypatch.setenv(CONTEXT_DAG_ID, "knit_plan__gone-00000000")
    assert {GENERATOR_DAG_ID, *plan_dag_ids} <= set(knit_dags())


def test_a_plans_task_does_not_import_the_generators_sensor(plan_dag_ids: list[str], home: Path) -> None:
    """In a fresh interpreter, as a task's process parses the DAG file for a Plan's DAG: neither the generator's
    sensor nor the providers' asset handlers (an Asset built makes Airflow import them all)."""
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('knit_dags', {str(REPO / 'dags' / 'knit_dags.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "names = ['knit_provider.sensors.catalog', 'kubernetes.client', 'airflow.providers.amazon.aws.assets.s3']\n"
        "print(json.dumps({'dags': [k for k in vars(module) if k.startswith('knit_') and k != 'knit_dags'],"
        " 'imported': [n for n in names if n in sys.modules]}))\n"
    )
    env = {**os.environ, CONTEXT_DAG_ID: plan_dag_ids[0]}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"dags": [plan_dag_ids[0]], "imported": []}


def test_a_plans_task_keeps_the_settings_its_parse_read(plan_dag_ids: list[str], home: Path, monkeypatch) -> None:
    """The task reads its connection once (each read is a round trip to the api-server): what the parse read is
    what the task runs with, even if the connection changed in between."""
    from knit_provider.dags.factory import knit_dags
    from knit_provider.hooks.knit import KnitHook

    def connection(knit_home: str) -> str:
        return json.dumps({"conn_type": "knit", "extra": {"knit_home": knit_home}})

    monkeypatch.setenv("AIRFLOW_CONN_KNIT_DEFAULT", connection(str(home)))
    monkeypatch.setenv(CONTEXT_DAG_ID, plan_dag_ids[2])
    task = knit_dags()[plan_dag_ids[2]].get_task("run")
    assert task.parsed_settings is not None and task.parsed_settings.knit_home == home
    monkeypatch.setenv("AIRFLOW_CONN_KNIT_DEFAULT", connection("/gone"))
    assert KnitHook(task.knit_conn_id).settings.knit_home == Path("/gone"), "a new hook reads the connection again"
    assert KnitHook.resolved(task.knit_conn_id, task.parsed_settings).settings.knit_home == home, "the task's does not"
