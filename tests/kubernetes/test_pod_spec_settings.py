"""What shapes a pod besides the Run: the ``[knit] kubernetes_*`` options and the Plan as the catalog stores it."""

from __future__ import annotations

from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.core.options import OPTIONS
from knit_provider.core.plan_spec import Annotation, NodeLabel
from knit_provider.runners.kubernetes.config import KubernetesSettings, PodSettings
from knit_provider.runners.kubernetes.pod_spec import PodPlan
from knit_provider.service import Knit, plans
from knit_provider.service.settings import KnitSettings

pytestmark = pytest.mark.kubernetes


def test_defaults_are_the_published_options() -> None:
    kube = KnitSettings.resolve().kubernetes
    assert kube == KubernetesSettings()
    assert kube.pod == PodSettings(namespace="default", volume_mode="shared", data_claim="knit-data")
    assert kube.startup_timeout_s == kube.schedule_timeout_s == int(OPTIONS["kubernetes_startup_timeout"][0])
    assert kube.conn_id == "kubernetes_default" and kube.in_cluster is None and kube.config_file is None


def test_every_option_reaches_the_settings() -> None:
    options = {
        "kubernetes_namespace": "ml-runs",
        "kubernetes_volume_mode": "Per-Data",
        "kubernetes_data_claim": "unused",
        "kubernetes_claim_prefix": "kd-",
        "kubernetes_image_pull_secrets": "regcred, mirror ,",
        "kubernetes_labels": "team=vision, example.com/cost-center=42",
        "kubernetes_startup_timeout": "30",
        "kubernetes_schedule_timeout": "7.5",
        "kubernetes_conn_id": "k8s_prod",
        "kubernetes_in_cluster": "false",
        "kubernetes_config_file": "/etc/kube/config",
    }
    kube = KnitSettings.resolve(options.get).kubernetes
    assert kube.pod == PodSettings(
        namespace="ml-runs",
        volume_mode="per-data",
        data_claim="unused",
        claim_prefix="kd-",
        image_pull_secrets=("regcred", "mirror"),
        extra_labels={"team": "vision", "example.com/cost-center": "42"},
    )
    assert (kube.startup_timeout_s, kube.schedule_timeout_s) == (30, 8)
    assert (kube.conn_id, kube.in_cluster, kube.config_file) == ("k8s_prod", False, "/etc/kube/config")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("kubernetes_namespace", "ML_Runs", "not a DNS-1123"),
        ("kubernetes_namespace", "a.b", "not a DNS label"),
        ("kubernetes_volume_mode", "hostpath", "unknown volume mode 'hostpath'"),
        ("kubernetes_data_claim", "Data Claim", "not a DNS-1123"),
        ("kubernetes_claim_prefix", "KD_", "claim prefix 'KD_'"),
        ("kubernetes_image_pull_secrets", "ok,Not_OK", "'Not_OK'"),
        ("kubernetes_labels", "team", "has no '='"),
        ("kubernetes_labels", "bad key=v", "'bad key'"),
        ("kubernetes_labels", "team=not ok", "'not ok'"),
        ("kubernetes_startup_timeout", "soon", "not a number of seconds"),
        ("kubernetes_schedule_timeout", "0", "must be positive"),
        ("kubernetes_in_cluster", "maybe", "not a boolean"),
    ],
)
def test_bad_options_are_refused_naming_the_option(option: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        KnitSettings.resolve({option: value}.get)
    assert f"[knit] {option}" in str(caught.value)


def test_in_cluster_and_a_config_file_exclude_each_other() -> None:
    options = {"kubernetes_in_cluster": "true", "kubernetes_config_file": "/k"}
    with pytest.raises(InvalidInput, match=r"\[knit\] kubernetes_in_cluster: .*exclude each other"):
        KnitSettings.resolve(options.get)


def test_the_plans_pod_fields_survive_the_catalog(tmp_path: Path) -> None:
    """apply -> show -> PodPlan: what the operator reads back at run time is what the YAML said."""
    yaml_text = (
        "image: team/train:v1\n"
        "inputs: [{path: /in/x, tags: ['type:x']}]\n"
        "resources: {cpu: 500m, memory: 2Gi, nvidia.com/gpu: 1}\n"
        "on_node: {may: ['gpu=a100'], prefer: ['disk=ssd'], must: ['pool=ml', 'pool=batch']}\n"
        "service_account: trainer\n"
        "annotations: ['example.com/owner=ml', 'note=a=b']\n"
    )
    with Knit.open(home=tmp_path) as knit:
        plan = plans.apply(knit, yaml_text)
        pod_plan = PodPlan.from_plan_json(plans.show(knit, plan["planId"]))
    assert pod_plan.resources == {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert pod_plan.on_node.may == (NodeLabel("gpu", "a100"),)
    assert pod_plan.on_node.prefer == (NodeLabel("disk", "ssd"),)
    assert pod_plan.on_node.must == (NodeLabel("pool", "batch"), NodeLabel("pool", "ml"))
    assert pod_plan.service_account == "trainer"
    assert pod_plan.annotations == (Annotation("example.com/owner", "ml"), Annotation("note", "a=b"))
