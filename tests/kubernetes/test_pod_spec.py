"""The pod a Run becomes, field by field (pure: no cluster, no Airflow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from knit_provider.core.k8s_names import check_dns_subdomain, check_label_value, check_qualified_name
from knit_provider.core.plan_spec import Annotation, NodeLabel, OnNode
from knit_provider.runners.kubernetes.config import PodSettings
from knit_provider.runners.kubernetes.names import claim_name, label_safe, pod_name
from knit_provider.runners.kubernetes.pod_spec import ANNOTATION, LABEL, PodPlan, build_pod, placement
from knit_provider.service.execution import Assignment, Port

pytestmark = pytest.mark.kubernetes

RUN = "0b6f2c1e-5d9a-4c3b-8e7f-1a2b3c4d5e6f"
PLAN = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
DATASET = "11111111-2222-4333-8444-555555555555"
MODEL = "66666666-7777-4888-9999-000000000000"
LOG = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def assignment(**changes) -> Assignment:
    fields = {
        "run_id": RUN,
        "plan_id": PLAN,
        "image": "registry.example.com:5000/team/train:v1.0",
        "entrypoint": ["python", "main.py"],
        "args": ["--epochs", "3"],
        "inputs": [Port("/in/dataset", DATASET, Path("/store") / DATASET)],
        "outputs": [Port("/out/model", MODEL, Path("/store") / MODEL)],
        "log_path": Path("/store") / LOG / "log",
        "env": {"KNIT_RUN_ID": RUN, "KNIT_PLAN_ID": PLAN},
    }
    fields.update(changes)
    return Assignment(**fields)


def wire(pod) -> dict:
    """The pod as the API server receives it (camelCase JSON)."""
    return ApiClient().sanitize_for_serialization(pod)


def on_node(**modes: list[str]) -> OnNode:
    return OnNode(**{mode: tuple(NodeLabel(*text.split("=", 1)) for text in texts) for mode, texts in modes.items()})


def test_the_container_runs_the_plans_image_command_args_and_environment() -> None:
    pod = wire(build_pod(assignment(), PodPlan(), PodSettings()))
    [container] = pod["spec"]["containers"]
    assert container["name"] == "base"
    assert container["image"] == "registry.example.com:5000/team/train:v1.0"
    assert container["command"] == ["python", "main.py"]
    assert container["args"] == ["--epochs", "3"]
    assert container["env"] == [{"name": "KNIT_PLAN_ID", "value": PLAN}, {"name": "KNIT_RUN_ID", "value": RUN}]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"


def test_no_entrypoint_or_args_leaves_the_images_own() -> None:
    pod = wire(build_pod(assignment(entrypoint=None, args=None), PodPlan(), PodSettings()))
    assert "command" not in pod["spec"]["containers"][0] and "args" not in pod["spec"]["containers"][0]
    only_args = wire(build_pod(assignment(entrypoint=None, args=["x"]), PodPlan(), PodSettings()))
    assert "command" not in only_args["spec"]["containers"][0]
    assert only_args["spec"]["containers"][0]["args"] == ["x"]


def test_resources_are_both_requests_and_limits() -> None:
    resources = {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"}
    pod = wire(build_pod(assignment(), PodPlan(resources=resources), PodSettings()))
    assert pod["spec"]["containers"][0]["resources"] == {"requests": resources, "limits": resources}


def test_shared_claim_mounts_each_data_by_its_directory_inputs_read_only() -> None:
    settings = PodSettings(data_claim="team-data")
    pod = wire(build_pod(assignment(), PodPlan(), settings))
    assert pod["spec"]["volumes"] == [{"name": "knit-data", "persistentVolumeClaim": {"claimName": "team-data"}}]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "knit-data", "mountPath": "/in/dataset", "subPath": DATASET, "readOnly": True},
        {"name": "knit-data", "mountPath": "/out/model", "subPath": MODEL, "readOnly": False},
    ]


def test_the_same_data_at_two_inputs_is_mounted_twice() -> None:
    both = [Port("/in/a", DATASET, Path("/s") / DATASET), Port("/in/b", DATASET, Path("/s") / DATASET)]
    shared = wire(build_pod(assignment(inputs=both, outputs=[]), PodPlan(), PodSettings()))
    assert [(m["mountPath"], m["subPath"]) for m in shared["spec"]["containers"][0]["volumeMounts"]] == [
        ("/in/a", DATASET),
        ("/in/b", DATASET),
    ]
    per_data = wire(build_pod(assignment(inputs=both, outputs=[]), PodPlan(), PodSettings(volume_mode="per-data")))
    assert len(per_data["spec"]["volumes"]) == 1, "one claim, mounted at both paths"
    assert {m["name"] for m in per_data["spec"]["containers"][0]["volumeMounts"]} == {"data-0"}


def test_per_data_claims_are_named_from_the_knit_id() -> None:
    pod = wire(build_pod(assignment(), PodPlan(), PodSettings(volume_mode="per-data", claim_prefix="kd-")))
    assert pod["spec"]["volumes"] == [
        {"name": "data-0", "persistentVolumeClaim": {"claimName": f"kd-{DATASET}", "readOnly": True}},
        {"name": "data-1", "persistentVolumeClaim": {"claimName": f"kd-{MODEL}"}},
    ]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "data-0", "mountPath": "/in/dataset", "readOnly": True},
        {"name": "data-1", "mountPath": "/out/model", "readOnly": False},
    ]


def test_a_run_without_ports_has_no_volumes() -> None:
    pod = wire(build_pod(assignment(inputs=[], outputs=[], log_path=None), PodPlan(), PodSettings()))
    assert "volumes" not in pod["spec"] and "volumeMounts" not in pod["spec"]["containers"][0]


def test_no_on_node_means_no_tolerations_and_no_affinity() -> None:
    pod = wire(build_pod(assignment(), PodPlan(), PodSettings()))
    assert "tolerations" not in pod["spec"] and "affinity" not in pod["spec"]


def tolerations_of(node: OnNode) -> list[tuple[str, str, str, str]]:
    return [(t.key, t.operator, t.value, t.effect) for t in placement(node)[0]]


def test_may_tolerates_the_noschedule_taint_only() -> None:
    node = on_node(may=["gpu=a100"])
    assert tolerations_of(node) == [("gpu", "Equal", "a100", "NoSchedule")]
    assert placement(node)[1] is None, "may never attracts the pod"


def test_prefer_tolerates_both_taints_and_prefers_the_nodes() -> None:
    node = on_node(prefer=["disk=ssd", "zone=b"])
    assert tolerations_of(node) == [
        ("disk", "Equal", "ssd", "NoSchedule"),
        ("disk", "Equal", "ssd", "PreferNoSchedule"),
        ("zone", "Equal", "b", "NoSchedule"),
        ("zone", "Equal", "b", "PreferNoSchedule"),
    ]
    affinity = wire(placement(node)[1])["nodeAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity
    assert affinity["preferredDuringSchedulingIgnoredDuringExecution"] == [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}},
    ]


def test_must_requires_the_nodes_and_tolerates_their_taints() -> None:
    node = on_node(must=["accelerator=tpu", "accelerator=gpu", "pool=ml"])
    assert tolerations_of(node) == [
        ("accelerator", "Equal", "gpu", "NoSchedule"),
        ("accelerator", "Equal", "gpu", "PreferNoSchedule"),
        ("accelerator", "Equal", "tpu", "NoSchedule"),
        ("accelerator", "Equal", "tpu", "PreferNoSchedule"),
        ("pool", "Equal", "ml", "NoSchedule"),
        ("pool", "Equal", "ml", "PreferNoSchedule"),
    ]
    affinity = wire(placement(node)[1])["nodeAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in affinity
    # one term: values of a key OR'ed (In), keys AND'ed
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "accelerator", "operator": "In", "values": ["gpu", "tpu"]},
                    {"key": "pool", "operator": "In", "values": ["ml"]},
                ]
            }
        ]
    }


def test_all_three_modes_together_each_toleration_once() -> None:
    node = on_node(may=["gpu=a100"], prefer=["gpu=a100", "disk=ssd"], must=["disk=ssd"])
    assert tolerations_of(node) == [
        ("gpu", "Equal", "a100", "NoSchedule"),
        ("disk", "Equal", "ssd", "NoSchedule"),
        ("disk", "Equal", "ssd", "PreferNoSchedule"),
        ("gpu", "Equal", "a100", "PreferNoSchedule"),
    ]
    affinity = wire(placement(node)[1])["nodeAffinity"]
    assert [
        t["preference"]["matchExpressions"][0]["key"]
        for t in affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    ] == ["disk", "gpu"]
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "disk", "operator": "In", "values": ["ssd"]}
    ]
    pod = wire(build_pod(assignment(), PodPlan(on_node=node), PodSettings()))
    assert len(pod["spec"]["tolerations"]) == 4 and "nodeAffinity" in pod["spec"]["affinity"]


def test_an_empty_label_value_is_tolerated_and_matched_as_empty() -> None:
    node = on_node(must=["dedicated="])
    assert tolerations_of(node)[0] == ("dedicated", "Equal", "", "NoSchedule")
    term = wire(placement(node)[1])["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"] == [{"key": "dedicated", "operator": "In", "values": [""]}]


def test_service_account_gets_a_token_without_one_the_program_gets_none() -> None:
    with_sa = wire(build_pod(assignment(), PodPlan(service_account="trainer"), PodSettings()))
    assert with_sa["spec"]["serviceAccountName"] == "trainer"
    assert with_sa["spec"]["automountServiceAccountToken"] is True
    without = wire(build_pod(assignment(), PodPlan(), PodSettings()))
    assert "serviceAccountName" not in without["spec"]
    assert without["spec"]["automountServiceAccountToken"] is False
    assert without["spec"]["enableServiceLinks"] is False


def test_namespace_pull_secrets_and_extra_labels_come_from_the_settings() -> None:
    settings = PodSettings(
        namespace="ml-runs",
        image_pull_secrets=("regcred", "mirror"),
        extra_labels={"team": "vision", LABEL.RUN: "overridden?"},
    )
    pod = wire(build_pod(assignment(), PodPlan(), settings))
    assert pod["metadata"]["namespace"] == "ml-runs"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    assert pod["metadata"]["labels"]["team"] == "vision"
    assert pod["metadata"]["labels"][LABEL.RUN] == RUN, "Knit's own labels win over extra ones"


def test_ids_are_labels_and_exact_annotations() -> None:
    pod = wire(build_pod(assignment(), PodPlan(), PodSettings()))
    labels, notes = pod["metadata"]["labels"], pod["metadata"]["annotations"]
    assert labels[LABEL.PLAN] == PLAN and labels[LABEL.RUN] == RUN
    assert labels[LABEL.DATA + DATASET] == "in"
    assert labels[LABEL.DATA + MODEL] == "out"
    assert labels[LABEL.DATA + LOG] == "log"
    assert labels[LABEL.MANAGED_BY] == "airflow-provider-knit"
    for key, value in labels.items():
        check_qualified_name(key, field="label")
        check_label_value(value, field="label")
    assert notes[ANNOTATION.PLAN] == PLAN and notes[ANNOTATION.RUN] == RUN and notes[ANNOTATION.LOG] == LOG
    assert json.loads(notes[ANNOTATION.INPUTS]) == [{"path": "/in/dataset", "knitId": DATASET}]
    assert json.loads(notes[ANNOTATION.OUTPUTS]) == [{"path": "/out/model", "knitId": MODEL}]
    assert notes[ANNOTATION.IMAGE] == "registry.example.com:5000/team/train:v1.0"


def test_ids_that_are_not_label_safe_become_safe_and_stay_distinct() -> None:
    odd = "Data_" + "x" * 80 + ".v2"
    other = "Data_" + "x" * 80 + ".v3"
    ports = [Port("/in/a", odd, Path("/s/a")), Port("/in/b", other, Path("/s/b"))]
    pod = wire(build_pod(assignment(run_id="run:" + "y" * 70, inputs=ports), PodPlan(), PodSettings()))
    labels = pod["metadata"]["labels"]
    for key, value in labels.items():
        check_qualified_name(key, field="label")
        check_label_value(value, field="label")
    assert label_safe(odd) != label_safe(other)
    assert labels[LABEL.DATA + label_safe(odd)] == "in" and labels[LABEL.DATA + label_safe(other)] == "in"
    assert pod["metadata"]["annotations"][ANNOTATION.RUN] == "run:" + "y" * 70, "annotations keep the exact id"
    assert label_safe(RUN) == RUN, "valid ids stay as they are"


def test_plan_annotations_are_on_the_pod_and_knits_own_win() -> None:
    plan = PodPlan(annotations=(Annotation("example.com/owner", "ml-team"), Annotation(ANNOTATION.RUN, "fake")))
    notes = wire(build_pod(assignment(), plan, PodSettings()))["metadata"]["annotations"]
    assert notes["example.com/owner"] == "ml-team"
    assert notes[ANNOTATION.RUN] == RUN


def test_the_pod_name_is_readable_and_valid() -> None:
    pod = wire(build_pod(assignment(), PodPlan(), PodSettings()))
    assert pod["metadata"]["name"] == "knit-train-0b6f2c1e"
    long_name = pod_name("example.com/" + "Very_Long.Image-Name" * 5 + ":v1", RUN)
    assert long_name.startswith("knit-very-long-image-name") and long_name.endswith("-0b6f2c1e")
    assert len(long_name) <= 54, "room for KubernetesPodOperator's random suffix within 63"
    for name in (long_name, pod_name("___:v1", RUN), pod_name("a/b@sha256:" + "0" * 64, "RUN")):
        check_dns_subdomain(name, field="name")
        assert len(name) <= 54


def test_claim_names_are_dns_labels() -> None:
    assert claim_name("knit-data-", DATASET) == f"knit-data-{DATASET}"
    odd = claim_name("knit-data-", "Some_ID." + "z" * 80)
    check_dns_subdomain(odd, field="claim")
    assert len(odd) <= 63


def test_the_plan_fields_come_from_the_plan_json() -> None:
    plan = PodPlan.from_plan_json(
        {
            "resources": {"cpu": "2", "memory": "4Gi"},
            "on_node": {"may": ["a=b"], "must": ["c=d"]},
            "service_account": "sa",
            "annotations": ["k=v"],
        }
    )
    assert plan.resources == {"cpu": "2", "memory": "4Gi"}
    assert plan.on_node == OnNode(may=(NodeLabel("a", "b"),), must=(NodeLabel("c", "d"),))
    assert plan.service_account == "sa" and plan.annotations == (Annotation("k", "v"),)
    assert PodPlan.from_plan_json({}) == PodPlan()
