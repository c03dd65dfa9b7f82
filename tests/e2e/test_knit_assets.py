"""Knit inside Airflow's data world, on a real ``airflow standalone`` (issue 13): a classic DAG scheduled on a
KnitAsset gets each matching Data once, across a triggerer crash; classic tasks push Data that start a Plan's Run
with the task as lineage root; a deferrable sensor waits for Data and a pull fetches it; OpenLineage events whose
datasets are the Run's Data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from knit_dev.standalone import Standalone
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.service import Knit, assets, data, graphs, runs
from knit_provider.service.assets import AssetSpec

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.assets]

DAG_FILE = Path(__file__).parent / "asset_dags" / "knit_e2e_assets.py"
BURST = AssetSpec.of(["e2e:asset-burst", "project:assets"])


@pytest.fixture(scope="module")
def asset_dags(airflow: Standalone, e2e_dags: Path) -> None:
    shutil.copy(DAG_FILE, e2e_dags / DAG_FILE.name)
    airflow.wait_for_dags(
        ["knit_e2e_asset_consumer", "knit_e2e_run_output_consumer", "knit_e2e_push", "knit_e2e_sensor"], timeout=120
    )


def push(knit: Knit, where: Path, *tags: str) -> str:
    where.mkdir(parents=True)
    (where / "value.txt").write_text(where.name)
    return data.push_dir(knit, where, list(tags))["knitId"]


def trigger(airflow: Standalone, dag_id: str) -> str:
    return airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]


def dagrun_state(airflow: Standalone, dag_id: str, run_id: str) -> str:
    return airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]


def task_state(airflow: Standalone, dag_id: str, run_id: str, task_id: str) -> str | None:
    return airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")["state"]


def wait_success(airflow: Standalone, dag_id: str, run_id: str, timeout: float = 120) -> None:
    def finished() -> bool:
        state = dagrun_state(airflow, dag_id, run_id)
        assert state != "failed", f"{dag_id} {run_id} failed; see {airflow.airflow_home / 'logs'}"
        return state == "success"

    wait_until(finished, timeout, f"{dag_id} {run_id} succeeded")


def xcom(airflow: Standalone, dag_id: str, run_id: str, task_id: str):
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    return airflow.api("GET", path)["value"]


def consumed(airflow: Standalone, log_name: str = "consumed.log") -> list[tuple[str, str]]:
    log = airflow.knit_home / log_name
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_dag_on_a_knit_asset_gets_each_matching_data_once_across_a_triggerer_crash(
    airflow: Standalone, knit: Knit, asset_dags, tmp_path
) -> None:
    wait_until(lambda: BURST.key in {w["asset_key"] for w in assets.watches(knit)}, 120, "the KnitAsset's watcher up")
    pushed = [push(knit, tmp_path / f"a{i}", "e2e:asset-burst", "project:assets", f"n:{i}") for i in range(10)]
    push(knit, tmp_path / "other", "e2e:asset-burst")  # lacks project:assets
    airflow.restart_component("triggerer")  # SIGKILL in the middle of the deliveries, then a new triggerer
    pushed += [push(knit, tmp_path / f"b{i}", "e2e:asset-burst", "project:assets", f"n:{10 + i}") for i in range(10)]

    wait_until(lambda: {k for k, _ in consumed(airflow)} >= set(pushed), 180, "every pushed Data consumed")
    wait_until(
        lambda: all(d["state"] == "delivered" for d in assets.deliveries_to(knit, BURST)), 30, "deliveries confirmed"
    )
    got = [knit_id for knit_id, _ in consumed(airflow)]
    assert sorted(got) == sorted(pushed), "each matching Data once, nothing else, nothing twice"
    (asset,) = airflow.api("GET", "/api/v2/assets?uri_pattern=e2e%253Aasset-burst")["assets"]
    assert (asset["name"], asset["uri"]) == (BURST.name, BURST.uri)
    events = airflow.api("GET", f"/api/v2/assets/events?asset_id={asset['id']}&limit=100")["asset_events"]
    carried = [e["extra"]["payload"]["knit_id"] for e in events]
    assert sorted(carried) == sorted(pushed), "one asset event per Data, none repeated after the crash"
    first = next(e for e in events if e["extra"]["payload"]["knit_id"] == pushed[0])
    payload = first["extra"]["payload"]
    assert {"e2e:asset-burst", "project:assets", "n:0"} <= set(payload["tags"])
    assert payload["plan"] == "knit#uploaded" and payload["data_url"].endswith(f"/knit/data/{pushed[0]}")
    by_id = {d["knit_id"]: d for d in assets.deliveries_to(knit, BURST)}
    assert by_id[pushed[0]]["airflow_event_id"] == first["id"] and by_id[pushed[0]]["airflow_asset_id"] == asset["id"]


RUN_OUT = AssetSpec.of(["e2e:asset-run-out"])


def test_a_runs_outputs_reach_a_dag_on_their_knit_asset_as_the_runs_task_outlet_events_once_each(
    airflow: Standalone, knit: Knit, asset_dags, apply_plan, tmp_path
) -> None:
    """The Run's task sends the events of its outputs itself (as any producer task does), confirmed in the catalog;
    the KnitAsset's watcher sends none of them again."""
    wait_until(lambda: RUN_OUT.key in {w["asset_key"] for w in assets.watches(knit)}, 120, "the watcher up")
    plan_id = apply_plan(sh_plan("e2e:asset-run-in", "e2e:asset-run-out", "cp -r /in/x/. /out/y/"))
    sources = [push(knit, tmp_path / f"r{i}", "e2e:asset-run-in") for i in range(3)]

    def outputs() -> list[str] | None:
        found = [r for r in runs_of(knit, plan_id) if r["status"] == "done"]
        return [r["outputs"][0]["knitId"] for r in found] if len(found) == len(sources) else None

    made = wait_until(outputs, 180, "the three Runs done")
    log = "consumed-run-outputs.log"
    wait_until(lambda: {k for k, _ in consumed(airflow, log)} >= set(made), 120, "every output consumed")
    wait_until(
        lambda: all(d["state"] == "delivered" for d in assets.deliveries_to(knit, RUN_OUT)),
        60,  # at once on 3.2+ (the listener); by the triggerer's settlement on 3.1 (no asset event listener)
        "confirmed",
    )
    assert sorted(k for k, _ in consumed(airflow, log)) == sorted(made), "each output once"
    (asset,) = airflow.api("GET", "/api/v2/assets?uri_pattern=e2e%253Aasset-run-out")["assets"]
    events = airflow.api("GET", f"/api/v2/assets/events?asset_id={asset['id']}&limit=100")["asset_events"]
    assert sorted(e["extra"]["payload"]["knit_id"] for e in events) == sorted(made), "one event per output"
    dag_id = plan_dag_id("knit-e2e/sh:1.0", plan_id)
    assert {(e["source_dag_id"], e["source_task_id"]) for e in events} == {(dag_id, "run")}, "sent by the Runs' task"
    by_id = {d["knit_id"]: d for d in assets.deliveries_to(knit, RUN_OUT)}
    assert {by_id[e["extra"]["payload"]["knit_id"]]["airflow_event_id"] for e in events} == {e["id"] for e in events}
    assert all(
        e["extra"]["payload"]["data_url"].endswith("/knit/data/" + e["extra"]["payload"]["knit_id"]) for e in events
    )


def test_a_classic_task_pushes_data_that_start_a_plans_run_with_the_task_as_lineage_root(
    airflow: Standalone, knit: Knit, asset_dags, apply_plan, openlineage_dir: Path
) -> None:
    plan_id = apply_plan(sh_plan("e2e:pushed", "e2e:pushed-out", "cp -r /in/x/. /out/y/"))
    run_id = trigger(airflow, "knit_e2e_push")
    wait_success(airflow, "knit_e2e_push", run_id)
    knit_id = xcom(airflow, "knit_e2e_push", run_id, "push_op")
    detail = data.show(knit, knit_id)
    assert {"e2e:pushed", "name:batch"} <= set(detail["tags"])
    root = detail["upstream"]["run"]
    assert root["plan"]["name"] == "airflow#task:knit_e2e_push.push_op"
    origin = root["origin"]["airflow"]
    assert (origin["dagId"], origin["taskId"], origin["runId"]) == ("knit_e2e_push", "push_op", run_id)
    assert "/dags/knit_e2e_push/runs/" in origin["url"] and origin["url"].endswith("/tasks/push_op")

    def run_done() -> dict | None:
        found = [r for r in runs_of(knit, plan_id) if r["inputs"][0]["knitId"] == knit_id]
        return found[0] if found and found[0]["status"] == "done" else None

    run = wait_until(run_done, 120, "the Plan's Run on the pushed Data done")
    output = run["outputs"][0]["knitId"]
    assert "id,label" in (knit.store.path(output) / "rows.csv").read_text()
    dot = graphs.lineage(knit, output, upstream=True, depth=None).to_dot()
    assert "airflow#task:knit_e2e_push.push_op" in dot and "knit#uploaded" not in dot

    hook_id = xcom(airflow, "knit_e2e_push", run_id, "hook_push")
    hooked = data.show(knit, hook_id)
    assert hooked["upstream"]["run"]["plan"]["name"] == "airflow#task:knit_e2e_push.hook_push"
    assert (knit.store.path(hook_id) / "nested" / "a.txt").read_text() == "from object storage\n"

    # clearing the task runs it again: it returns the same Data instead of pushing another
    airflow.api(
        "POST", "/api/v2/dags/knit_e2e_push/clearTaskInstances",
        {"dry_run": False, "task_ids": ["push_op"], "dag_run_id": run_id, "only_failed": False},
    )  # fmt: skip
    wait_until(lambda: task_state(airflow, "knit_e2e_push", run_id, "push_op") != "success", 30, "cleared")
    wait_success(airflow, "knit_e2e_push", run_id)
    assert xcom(airflow, "knit_e2e_push", run_id, "push_op") == knit_id
    assert [d["knitId"] for d in data.find(knit, ["e2e:pushed"])] == [knit_id]

    check_openlineage_events(openlineage_dir, run, plan_id)


def openlineage_events(folder: Path, knit_run_id: str) -> dict[str, dict]:
    """The OpenLineage events (by type) of the task that ran Knit Run ``knit_run_id``."""
    found: dict[str, dict] = {}
    for path in folder.iterdir():
        event = json.loads(path.read_text())
        facet = (event.get("job", {}).get("facets") or {}).get("knitPlan") or {}
        if facet.get("runId") == knit_run_id:
            found[event["eventType"]] = event
    return found


def check_openlineage_events(folder: Path, run: dict, plan_id: str) -> None:
    """START and COMPLETE of the Run's task name its Data as the catalog's lineage does."""
    events = wait_until(
        lambda: (e := openlineage_events(folder, run["runId"])) and {"START", "COMPLETE"} <= set(e) and e,
        60, "OpenLineage START and COMPLETE",
    )  # fmt: skip
    expected_in = [(p["knitId"], p["path"]) for p in run["inputs"]]
    expected_out = [(p["knitId"], p["path"]) for p in run["outputs"]] + [(run["log"]["knitId"], None)]
    for kind in ("START", "COMPLETE"):
        event = events[kind]
        assert event["job"]["name"].startswith(plan_dag_id(run["plan"]["image"], plan_id))
        assert {d["namespace"] for d in event["inputs"] + event["outputs"]} == {"knit://knit"}
        assert [(d["name"], d["facets"]["knit"]["mountPath"]) for d in event["inputs"]] == expected_in
        assert [(d["name"], d["facets"]["knit"].get("mountPath")) for d in event["outputs"]] == expected_out
        assert event["job"]["facets"]["knitPlan"]["image"] == "knit-e2e/sh:1.0"
    assert "e2e:pushed" in events["COMPLETE"]["inputs"][0]["facets"]["knit"]["tags"]


def test_a_failed_run_sends_an_openlineage_fail_event_naming_its_data(
    airflow: Standalone, knit: Knit, apply_plan, openlineage_dir: Path, tmp_path
) -> None:
    plan_id = apply_plan(sh_plan("e2e:ol-fail", "e2e:ol-fail-out", "exit 3"))
    source = push(knit, tmp_path / "in", "e2e:ol-fail")
    wait_until(lambda: runs_of(knit, plan_id)[0]["status"] == "failed", 120, "the failing Run failed")
    (run,) = runs_of(knit, plan_id)
    events = wait_until(
        lambda: (e := openlineage_events(openlineage_dir, run["runId"])) and "FAIL" in e and e, 60, "a FAIL event"
    )
    assert [d["name"] for d in events["FAIL"]["inputs"]] == [source]
    assert [d["name"] for d in events["FAIL"]["outputs"]] == [run["outputs"][0]["knitId"], run["log"]["knitId"]]


def test_a_deferrable_sensor_waits_for_knit_data_and_a_pull_fetches_it(
    airflow: Standalone, knit: Knit, asset_dags, tmp_path
) -> None:
    run_id = trigger(airflow, "knit_e2e_sensor")
    wait_until(lambda: task_state(airflow, "knit_e2e_sensor", run_id, "wait") == "deferred", 90, "the sensor deferred")
    knit_id = push(knit, tmp_path / "sensed", "e2e:sensed")
    wait_success(airflow, "knit_e2e_sensor", run_id)
    assert xcom(airflow, "knit_e2e_sensor", run_id, "wait") == [knit_id]
    pulled = Path(xcom(airflow, "knit_e2e_sensor", run_id, "pull"))
    assert pulled == airflow.knit_home / "pulled" / knit_id
    assert (pulled / "value.txt").read_text() == "sensed"
    assert runs.show(knit, data.show(knit, knit_id)["upstream"]["run"]["runId"])["status"] == "done"
