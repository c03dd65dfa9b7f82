"""Runs as pods through the real KubernetesPodOperator, on a real ``airflow standalone`` (runner = kubernetes),
against the Kubernetes API stand-in (its pods run locally in bubblewrap, the Data store is the shared claim).

The first-knitfab chain completes; each way a pod can fail ends its Run failed with the reason, bounded in time,
and the pod deleted; a pod that vanishes, a stop, and a killed task each end as specified.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from knit_dev.kube_standin import KubeStandin
from knit_dev.standalone import REPO, Standalone, free_port
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.runners.image_map import ImageMap
from knit_provider.runners.kubernetes.pod_spec import ANNOTATION, LABEL
from knit_provider.service import Knit, data, plans, runs

pytestmark = [pytest.mark.kubernetes, pytest.mark.e2e, pytest.mark.slow]

SH = "knit-e2e/sh:1.0"
FIRST = REPO / "examples" / "first-knitfab"
LAUNCH_TIMEOUT_S = 8  # [knit] kubernetes_startup_timeout and kubernetes_schedule_timeout below
BROKEN_CLAIM = "broken-claim"  # a claim the stand-in knows whose directory does not exist: mounts fail


def sh_plan(tag: str, script: str, extra: str = "", image: str = SH) -> str:
    return (
        f"image: {image}\nargs: [{script!r}]\n"
        f"inputs: [{{path: /in/x, tags: ['{tag}']}}]\n"
        f"outputs: [{{path: /out/y, tags: ['{tag}-out']}}]\n"
        "log: {tags: ['kpo:log']}\n" + extra
    )


#: Every Plan the tests use, applied together so that one DAG-processor pass makes all their DAGs.
PLAN_TEXTS = {
    "train": (FIRST / "plans" / "train.yaml").read_text(),
    "validation": (FIRST / "plans" / "validation.yaml").read_text(),
    "exit": sh_plan("kpo:exit", "echo about to fail; exit 3"),
    "pull": sh_plan("kpo:pull", "true", image="knit-e2e/not-built:1.0"),
    "sched": sh_plan("kpo:sched", "true", extra="on_node: {must: ['accelerator=tpu']}\n"),
    "mount": sh_plan("kpo:mount", "true"),
    "vanish": sh_plan("kpo:vanish", "echo started; sleep 60"),
    "stop": sh_plan("kpo:stop", "echo started; sleep 60"),
    "kill": sh_plan("kpo:kill", "sleep 15; cp /in/x/a.txt /out/y/a.txt"),
}


class Deployment:
    """The stand-in cluster, the standalone and the catalog, as one test sees them."""

    def __init__(self, kube: KubeStandin, airflow: Standalone, knit: Knit) -> None:
        self.kube, self.airflow, self.knit = kube, airflow, knit
        self.plans = {name: plans.apply(knit, text) for name, text in PLAN_TEXTS.items()}
        wanted = {plan_dag_id(p["image"], p["planId"]) for p in self.plans.values()}
        wait_until(lambda: wanted <= self._dag_ids(), 240, "every Plan's DAG is parsed", interval=2)

    def _dag_ids(self) -> set[str]:
        try:
            return set(self.airflow.dag_ids())
        except OSError:  # a busy api-server answering late: ask again
            return set()

    def push(self, root: Path, files: dict[str, str], tags: list[str]) -> str:
        root.mkdir(parents=True)
        for name, text in files.items():
            (root / name).write_text(text)
        return data.push_dir(self.knit, root, tags)["knitId"]

    def the_run(self, plan: dict, timeout: float = 60) -> dict:
        (run,) = wait_until(lambda: runs.find(self.knit, plan_ids=[plan["planId"]]), timeout, "the Run exists")
        return run

    def ended(self, run_id: str, timeout: float) -> dict:
        done = wait_until(
            lambda: runs.show(self.knit, run_id)["status"] in ("done", "failed"), timeout, f"Run {run_id} ends"
        )
        assert done
        return runs.show(self.knit, run_id)

    def pods_of(self, run_id: str, *, deleted: bool) -> list[dict]:
        found = self.kube.deleted if deleted else self.kube.pods()
        return [p for p in found if p["metadata"]["labels"].get(LABEL.RUN) == run_id]

    def task_log(self, plan: dict, run_id: str) -> str:
        dag = plan_dag_id(plan["image"], plan["planId"])
        reply = self.airflow.api(
            "GET", f"/api/v2/dags/{dag}/dagRuns/{dagrun_id(run_id)}/taskInstances/run/logs/1?full_content=true"
        )
        return json.dumps(reply)

    def log_data(self, run: dict) -> str:
        return (self.knit.store.path(run["log"]["knitId"]) / "log").read_text()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("kpo-home")
    (home / "data").mkdir()
    images = tmp_path_factory.mktemp("kpo-images")
    (images / "sh").mkdir()
    (images / "sh" / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    (images / "images.yaml").write_text(f"{SH!r}: sh\n")
    image_maps = [images / "images.yaml", FIRST / "images.yaml"]
    claims = {"knit-data": home / "data", BROKEN_CLAIM: home / "no-such-directory"}
    with KubeStandin(claims, runtime="bwrap", image_map=ImageMap.load(image_maps)) as kube:
        kubeconfig = kube.write_kubeconfig(home / "kubeconfig")
        airflow = Standalone(
            knit_home=home,
            port=free_port(),
            runner="kubernetes",
            image_maps=image_maps,
            knit_options={
                "kubernetes_config_file": str(kubeconfig),
                "kubernetes_labels": "team=e2e",
                "kubernetes_startup_timeout": str(LAUNCH_TIMEOUT_S),
                "kubernetes_schedule_timeout": str(LAUNCH_TIMEOUT_S),
            },
        )
        try:
            airflow.start()  # a start that fails stops what it started, below
            with Knit.open(home=home) as knit:
                yield Deployment(kube, airflow, knit)
        finally:
            airflow.stop()


def _datasets():
    spec = importlib.util.spec_from_file_location("knit_kpo_datasets", REPO / "examples" / "datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_first_knitfab_chain_completes_through_kpo(deployment: Deployment, tmp_path: Path) -> None:
    train, validation = deployment.plans["train"], deployment.plans["validation"]
    datasets = _datasets()
    for split in ("training", "validation"):
        datasets.write_qmnist(tmp_path / split, split)
        data.push_dir(deployment.knit, tmp_path / split, ["type:dataset", "project:first-knitfab", f"mode:{split}"])

    trained = deployment.ended(deployment.the_run(train)["runId"], timeout=300)
    assert trained["status"] == "done", trained
    validated = deployment.ended(deployment.the_run(validation, timeout=90)["runId"], timeout=300)
    assert validated["status"] == "done", validated
    metrics = json.loads((deployment.knit.store.path(validated["outputs"][0]["knitId"]) / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8 and metrics["samples"] == 400

    # the programs' output: streamed into the Airflow task log and kept as each Run's log Data
    assert "epoch 15/15" in deployment.log_data(trained)
    assert "epoch 15/15" in deployment.task_log(train, trained["runId"])
    assert f"accuracy: {metrics['accuracy']:.4f}" in deployment.log_data(validated)

    # each Run was one pod, built as specified, and deleted when the Run finished
    (pod,) = deployment.pods_of(trained["runId"], deleted=True)
    assert deployment.pods_of(trained["runId"], deleted=False) == []
    labels, notes = pod["metadata"]["labels"], pod["metadata"]["annotations"]
    assert labels[LABEL.PLAN] == train["planId"] and labels["team"] == "e2e"
    dataset_id = trained["inputs"][0]["knitId"]
    assert labels[LABEL.DATA + dataset_id] == "in" and notes[ANNOTATION.RUN] == trained["runId"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "localhost:30503/knitfab-first-train:v1.0"
    assert container["command"] == ["python", "-u", "train.py"]
    assert {m["mountPath"]: (m["subPath"], m["readOnly"]) for m in container["volumeMounts"]} == {
        "/in/dataset": (dataset_id, True),
        "/out/model": (trained["outputs"][0]["knitId"], False),
    }
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert len(deployment.pods_of(validated["runId"], deleted=True)) == 1


def test_a_non_zero_exit_fails_the_run_with_the_exit_code(deployment: Deployment, tmp_path: Path) -> None:
    plan = deployment.plans["exit"]
    deployment.push(tmp_path / "in", {"a.txt": "a"}, ["kpo:exit"])
    run = deployment.ended(deployment.the_run(plan)["runId"], timeout=120)
    assert (run["status"], run["exit"]["code"]) == ("failed", 3)
    assert "exit code 3" in run["exit"]["message"]
    assert "about to fail" in deployment.log_data(run)
    assert deployment.pods_of(run["runId"], deleted=False) == [] and deployment.pods_of(run["runId"], deleted=True)
    dag = plan_dag_id(plan["image"], plan["planId"])
    wait_until(
        lambda: any(r["state"] == "failed" for r in deployment.airflow.dag_runs(dag)),
        60,
        "the failed Run's DagRun fails",
    )


def _fails_to_start(deployment: Deployment, plan: dict, expected: str) -> dict:
    run_id = deployment.the_run(plan)["runId"]
    wait_until(  # a pod that fails fast may already be gone when first looked for
        lambda: deployment.pods_of(run_id, deleted=False) or deployment.pods_of(run_id, deleted=True),
        120,
        "the pod is created",
        interval=0.2,
    )
    created = time.monotonic()
    run = deployment.ended(run_id, timeout=LAUNCH_TIMEOUT_S + 60)
    took = time.monotonic() - created
    assert (run["status"], run["exit"]["code"]) == ("failed", 125), run
    assert expected in run["exit"]["message"], run["exit"]["message"]
    assert took < LAUNCH_TIMEOUT_S + 45, f"bounded by the configured timeout, not hanging ({took:.0f}s)"
    assert expected in deployment.log_data(run), "the reason is in the Run's log too"
    wait_until(lambda: not deployment.pods_of(run_id, deleted=False), 30, "the pod is deleted")
    return run


def test_an_image_that_cannot_be_pulled_fails_the_run_with_the_reason(deployment: Deployment, tmp_path: Path) -> None:
    plan = deployment.plans["pull"]
    deployment.push(tmp_path / "in", {"a.txt": "a"}, ["kpo:pull"])
    run = _fails_to_start(deployment, plan, "ErrImagePull")
    assert "knit-e2e/not-built:1.0" in run["exit"]["message"]


def test_an_unschedulable_pod_fails_the_run_with_the_schedulers_reason(deployment: Deployment, tmp_path: Path) -> None:
    plan = deployment.plans["sched"]
    deployment.push(tmp_path / "in", {"a.txt": "a"}, ["kpo:sched"])
    run = _fails_to_start(deployment, plan, "Unschedulable")
    assert "node affinity" in run["exit"]["message"] and "kubernetes_schedule_timeout" in run["exit"]["message"]


def test_a_mount_failure_fails_the_run_with_the_reason(deployment: Deployment, tmp_path: Path) -> None:
    """The ``knit_default`` connection's extras override ``[knit]`` for every task: point at a broken claim."""
    connection = {"connection_id": "knit_default", "conn_type": "knit"}
    connection["extra"] = json.dumps({"kubernetes_data_claim": BROKEN_CLAIM})
    deployment.airflow.api("POST", "/api/v2/connections", connection)
    try:
        plan = deployment.plans["mount"]
        deployment.push(tmp_path / "in", {"a.txt": "a"}, ["kpo:mount"])
        run = _fails_to_start(deployment, plan, "FailedMount")
        assert BROKEN_CLAIM in run["exit"]["message"] and "kubernetes_startup_timeout" in run["exit"]["message"]
    finally:
        deployment.airflow.api("DELETE", "/api/v2/connections/knit_default")


def _running_pod(deployment: Deployment, name: str, tmp_path: Path) -> tuple[dict, str, dict]:
    plan = deployment.plans[name]
    deployment.push(tmp_path / "in", {"a.txt": "a"}, [f"kpo:{name}"])
    run_id = deployment.the_run(plan)["runId"]
    wait_until(lambda: runs.show(deployment.knit, run_id)["status"] == "running", 120, "the Run is running")
    (pod,) = wait_until(lambda: deployment.pods_of(run_id, deleted=False), 30, "its pod")
    return plan, run_id, pod


def _delete_pod(deployment: Deployment, pod: dict) -> None:
    from kubernetes import config

    api = config.new_client_from_config(str(deployment.airflow.knit_home / "kubeconfig"))
    from kubernetes.client import CoreV1Api

    CoreV1Api(api).delete_namespaced_pod(pod["metadata"]["name"], pod["metadata"]["namespace"])


def test_a_pod_that_vanishes_fails_its_run(deployment: Deployment, tmp_path: Path) -> None:
    _, run_id, pod = _running_pod(deployment, "vanish", tmp_path)
    _delete_pod(deployment, pod)
    run = deployment.ended(run_id, timeout=60)
    assert (run["status"], run["exit"]["code"]) == ("failed", 255), run
    assert "vanished" in run["exit"]["message"]
    assert "knit#transient:failed" in data.show(deployment.knit, run["outputs"][0]["knitId"])["tags"]


def test_knit_run_stop_deletes_the_pod(deployment: Deployment, tmp_path: Path) -> None:
    _, run_id, _ = _running_pod(deployment, "stop", tmp_path)
    runs.stop(deployment.knit, run_id)
    run = deployment.ended(run_id, timeout=60)
    assert (run["status"], run["exit"]) == ("done", {"code": 0, "message": "stopped by user"})
    wait_until(lambda: not deployment.pods_of(run_id, deleted=False), 30, "the pod is deleted")


def test_a_killed_task_is_reconciled_and_its_retry_replaces_the_leftover_pod(
    deployment: Deployment, tmp_path: Path
) -> None:
    plan, run_id, pod = _running_pod(deployment, "kill", tmp_path)
    dag = plan_dag_id(plan["image"], plan["planId"])
    path = f"/api/v2/dags/{dag}/dagRuns/{dagrun_id(run_id)}/taskInstances/run"
    pid = wait_until(lambda: deployment.airflow.api("GET", path).get("pid"), 30, "the task's pid")
    os.kill(pid, signal.SIGKILL)

    failed = deployment.ended(run_id, timeout=90)
    assert failed["status"] == "failed" and "reconciliation" in failed["exit"]["message"], failed
    runs.retry(deployment.knit, run_id)
    done = deployment.ended(run_id, timeout=180)
    assert done["status"] == "done", done
    assert (deployment.knit.store.path(done["outputs"][0]["knitId"]) / "a.txt").read_text() == "a"
    assert pod["metadata"]["name"] in {p["metadata"]["name"] for p in deployment.pods_of(run_id, deleted=True)}
    assert deployment.pods_of(run_id, deleted=False) == [], "the earlier attempt's pod does not outlive the Run"
