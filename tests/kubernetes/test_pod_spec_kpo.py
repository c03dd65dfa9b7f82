"""The pod survives the real KubernetesPodOperator's own assembly (``build_pod_request_obj``, offline).

KnitPodOperator hands the built pod to KPO as ``full_pod_spec``; KPO merges its parameters over it. Every field
Knit sets must come out as built, with KPO's additions (random name suffix, its tracking labels) on top.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from knit_provider.runners.kubernetes.config import KubernetesSettings, PodSettings
from knit_provider.runners.kubernetes.pod_spec import PodPlan, build_pod
from knit_provider.service.execution import Assignment, Port
from knit_provider.service.settings import KnitSettings

pytestmark = pytest.mark.kubernetes

RUN = "0b6f2c1e-5d9a-4c3b-8e7f-1a2b3c4d5e6f"


@pytest.fixture(scope="module")
def operator_class():
    from knit_provider.operators.pod import KnitPodOperator

    return KnitPodOperator


def test_kpo_keeps_every_field_knit_sets(operator_class) -> None:
    assignment = Assignment(
        run_id=RUN,
        plan_id="plan-1",
        image="team/train:v1",
        entrypoint=["python"],
        args=["main.py"],
        inputs=[Port("/in/x", "data-in", Path("/s/data-in"))],
        outputs=[Port("/out/y", "data-out", Path("/s/data-out"))],
        log_path=Path("/s/data-log/log"),
        env={"KNIT_RUN_ID": RUN},
    )
    plan = PodPlan.from_plan_json(
        {"resources": {"cpu": "1", "memory": "1Gi"}, "on_node": {"must": ["pool=ml"]}, "service_account": "sa"}
    )
    kube = KubernetesSettings(pod=PodSettings(namespace="runs", image_pull_secrets=("regcred",)))
    built = ApiClient().sanitize_for_serialization(build_pod(assignment, plan, kube.pod))

    operator = operator_class(task_id="run", plan_id="plan-1")
    operator._configure(kube)
    operator.full_pod_spec = build_pod(assignment, plan, kube.pod)
    merged = ApiClient().sanitize_for_serialization(operator.build_pod_request_obj(dry_run=True))

    assert re.fullmatch(r"knit-train-0b6f2c1e-[a-z0-9]{8}", merged["metadata"]["name"]), "a fresh suffix per attempt"
    assert merged["metadata"]["namespace"] == "runs"
    assert merged["metadata"]["annotations"] == built["metadata"]["annotations"]
    assert built["metadata"]["labels"].items() <= merged["metadata"]["labels"].items()
    assert "airflow_version" in merged["metadata"]["labels"]
    for key in ("volumes", "tolerations", "affinity", "serviceAccountName", "imagePullSecrets"):
        assert merged["spec"][key] == built["spec"][key], key
    assert merged["spec"]["automountServiceAccountToken"] is True and merged["spec"]["enableServiceLinks"] is False
    assert merged["spec"]["restartPolicy"] == "Never"
    [container] = merged["spec"]["containers"]
    for key in ("name", "image", "command", "args", "env", "resources", "volumeMounts"):
        assert container[key] == built["spec"]["containers"][0][key], key


def test_cluster_options_come_from_knit_unless_given(operator_class) -> None:
    options = {
        "kubernetes_namespace": "runs",
        "kubernetes_conn_id": "k8s_prod",
        "kubernetes_config_file": "/etc/kube/config",
        "kubernetes_startup_timeout": "30",
        "kubernetes_schedule_timeout": "10",
    }
    kube = KnitSettings.resolve(options.get).kubernetes
    from_config = operator_class(task_id="run", plan_id="p")
    from_config._configure(kube)
    assert (from_config.namespace, from_config.kubernetes_conn_id, from_config.config_file) == (
        "runs",
        "k8s_prod",
        "/etc/kube/config",
    )
    assert (from_config.startup_timeout_seconds, from_config.schedule_timeout_seconds) == (30, 10)
    assert from_config.deferrable is False and from_config.reattach_on_restart is False
    given = operator_class(task_id="run", plan_id="p", namespace="mine", startup_timeout_seconds=5, in_cluster=True)
    given._configure(kube)
    assert (given.namespace, given.startup_timeout_seconds, given.in_cluster) == ("mine", 5, True)
    assert given.config_file is None, "in-cluster config excludes the configured file"
