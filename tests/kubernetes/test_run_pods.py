"""The Runs' pods through the cncf.kubernetes provider's hook (``hooks.pods.KnitRunPods``), against the Kubernetes
API stand-in: listed by their Run label (the exact id from the annotation), deleted; the doctor's leftover pods
and the reconciliation's vanished pods seen on a real API."""

from __future__ import annotations

import pytest

from knit_provider.hooks.pods import KnitRunPods
from knit_provider.runners.kubernetes.config import KubernetesSettings
from knit_provider.service import data, doctor, execution, plans, reconciliation, runs
from knit_provider.service.run_pods import RUN_ANNOTATION, RUN_LABEL

pytestmark = [pytest.mark.kubernetes, pytest.mark.run_control]
PLAN = "image: r/kp:v1\ninputs: [{path: /in, tags: ['kp:in']}]\noutputs: [{path: /out, tags: ['kp:out']}]\n"


def run_pod(name: str, run_id: str, image: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {RUN_LABEL: run_id}, "annotations": {RUN_ANNOTATION: run_id}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "base", "image": image, "args": ["sleep 30"]}]},
    }


@pytest.fixture
def cluster(kube_standin, tmp_path, sh_image):
    kube = kube_standin()
    pods = KnitRunPods(KubernetesSettings(conn_id="", config_file=str(kube.write_kubeconfig(tmp_path / "kubeconfig"))))
    return kube, pods


def test_pods_of_finished_runs_are_found_and_deleted_by_the_doctor(knit, make_dir, cluster, sh_image) -> None:
    kube, pods = cluster
    plan_id = plans.apply(knit, PLAN)["planId"]
    for name in ("a", "b"):
        data.push_dir(knit, make_dir(name, files={"f": name}), ["kp:in"])
    finished, live = (r["runId"] for r in runs.find(knit, plan_ids=[plan_id]))
    for run_id in (finished, live):
        execution.start_attempt(knit, run_id)
        execution.started(knit, run_id)
    execution.conclude(knit, finished, exit_code=0, message="")
    kube.create_pod(run_pod("left-behind", finished, sh_image))
    kube.create_pod(run_pod("running", live, sh_image))
    kube.create_pod(run_pod("unknown", "no-such-run", sh_image))

    assert sorted((p.name, p.run_id) for p in pods.run_pods()) == sorted(
        [("left-behind", finished), ("running", live), ("unknown", "no-such-run")]
    )
    report = doctor.doctor(knit, fix=True, older_than="0s", pods=pods)
    assert sorted((f["kind"], f["pod"], f["fixed"]) for f in report["findings"]) == [
        ("leftover-pod", "default/left-behind", True),
        ("leftover-pod", "default/unknown", True),
    ]
    assert sorted(p["metadata"]["name"] for p in kube.pods()) == ["running"]


def test_a_running_runs_pod_deleted_is_seen_by_reconciliation(knit, make_dir, cluster, sh_image, monkeypatch) -> None:
    monkeypatch.setattr(reconciliation, "POD_RECHECK_S", 0.2)
    kube, pods = cluster
    plan_id = plans.apply(knit, PLAN)["planId"]
    data.push_dir(knit, make_dir(files={"f": "x"}), ["kp:in"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    execution.start_attempt(knit, run["runId"])
    execution.started(knit, run["runId"])
    kube.create_pod(run_pod("its-pod", run["runId"], sh_image))
    pods_now = lambda: {p.run_id for p in pods.run_pods()}  # noqa: E731
    assert reconciliation.reconcile(knit, None, heartbeat_timeout_s=60, pods_now=pods_now) == []
    pods.delete(next(p for p in pods.run_pods() if p.name == "its-pod"))
    (ended,) = reconciliation.reconcile(knit, None, heartbeat_timeout_s=60, pods_now=pods_now)
    assert ended[0] == run["runId"] and "its pod vanished" in runs.show(knit, run["runId"])["exit"]["message"]
