"""The real ``KubernetesPodOperator`` against the Kubernetes API stand-in: success, a non-zero exit, and the
failures KPO must give up on (an image that cannot be pulled, an unschedulable pod, a claim that cannot be mounted).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import PodLaunchFailedException
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import PodLaunchTimeoutException
from airflow.sdk.exceptions import AirflowException
from knit_dev.kube_standin import KubeStandin
from kubernetes.client import models as k8s

pytestmark = pytest.mark.kubernetes


# ---- the real KubernetesPodOperator -------------------------------------------------------------------------------


def _operator(kubeconfig: Path, sh_image: str, name: str, script: str, **options: Any) -> KubernetesPodOperator:
    options.setdefault("image", sh_image)
    return KubernetesPodOperator(
        task_id="run",
        name=name,
        namespace="default",
        config_file=str(kubeconfig),
        kubernetes_conn_id=None,  # the kubeconfig only: no connection look-up outside a task runner
        arguments=[script],
        get_logs=True,
        schedule_timeout_seconds=2,
        startup_timeout_seconds=2,
        startup_check_interval_seconds=1,
        **options,
    )


def test_kpo_runs_a_pod_to_success_and_a_non_zero_exit_to_failure(
    kube: KubeStandin,
    kubeconfig: Path,
    kube_claim: Path,
    sh_image: str,
    kpo_context: Callable[..., dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    mounts = [k8s.V1VolumeMount(name="data", mount_path="/out", sub_path="out")]
    volumes = [k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource("data"))]
    good = _operator(
        kubeconfig,
        sh_image,
        "good",
        "echo hello from kpo; echo written > /out/file",
        volumes=volumes,
        volume_mounts=mounts,
    )
    good.execute(kpo_context("run-good"))
    assert "hello from kpo" in "".join(capfd.readouterr())  # KPO followed the log and wrote it to its own
    assert (kube_claim / "out" / "file").read_text() == "written\n"
    finished = kube.deleted[-1]
    assert finished["metadata"]["name"].startswith("good-")
    assert finished["status"]["phase"] == "Succeeded"
    assert any(method == "GET" and "/log?" in path and "follow=True" in path for method, path in kube.calls)

    bad = _operator(kubeconfig, sh_image, "bad", "echo going wrong; exit 3")
    with pytest.raises(AirflowException, match="returned a failure"):
        bad.execute(kpo_context("run-bad"))
    failed = kube.deleted[-1]
    assert failed["metadata"]["name"].startswith("bad-")
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert failed["metadata"]["labels"]["already_checked"] == "True"  # KPO's patch landed before its delete
    assert kube.pods() == []


def test_kpo_fails_fast_on_an_image_that_cannot_be_pulled(
    kube: KubeStandin, kubeconfig: Path, kpo_context: Callable[..., dict[str, Any]]
) -> None:
    operator = _operator(kubeconfig, "", "noimage", "true", image="knit-test/absent:1.0")
    with pytest.raises(AirflowException) as caught:
        operator.execute(kpo_context("run-noimage"))
    launch = caught.value.__context__
    assert isinstance(launch, PodLaunchFailedException)
    assert re.match(r"Image cannot be pulled, unable to start: (ErrImagePull|ImagePullBackOff)\n", str(launch))
    assert "knit-test/absent:1.0" in str(launch)
    messages = [e["message"] for e in kube.events(kube.deleted[-1]["metadata"]["name"])]
    assert 'Failed to pull image "knit-test/absent:1.0": failed to pull and unpack image' in "\n".join(messages)


@pytest.mark.parametrize(
    ("options", "event"),
    [
        ({"node_selector": {"disktype": "ssd"}}, "didn't match Pod's node affinity/selector"),
        (
            {
                "volumes": [
                    k8s.V1Volume(name="d", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource("nope"))
                ],
                "volume_mounts": [k8s.V1VolumeMount(name="d", mount_path="/in")],
            },
            'persistentvolumeclaim "nope" not found',
        ),
    ],
    ids=["node-selector", "unknown-claim"],
)
def test_kpo_gives_up_on_an_unschedulable_pod_and_logs_why(
    kube_standin: Callable[..., KubeStandin],
    tmp_path: Path,
    sh_image: str,
    kpo_context: Callable[..., dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
    options: dict[str, Any],
    event: str,
) -> None:
    kube = kube_standin()
    operator = _operator(kube.write_kubeconfig(tmp_path / "kubeconfig"), sh_image, "stuck", "true", **options)
    with pytest.raises(AirflowException) as caught:
        operator.execute(kpo_context("run-stuck"))
    assert isinstance(caught.value.__context__, PodLaunchTimeoutException)
    assert "too long to be scheduled" in str(caught.value.__context__)
    name = kube.deleted[-1]["metadata"]["name"]
    assert event in kube.events(name)[0]["message"]
    logged = [line for line in "".join(capfd.readouterr()).splitlines() if "The Pod has an Event:" in line]
    assert any(event in line for line in logged)  # KPO's startup event watch showed the scheduler's reason


def test_kpo_gives_up_on_a_claim_that_cannot_be_mounted(
    kube_standin: Callable[..., KubeStandin], tmp_path: Path, sh_image: str, kpo_context: Callable[..., dict[str, Any]]
) -> None:
    kube = kube_standin({"data": tmp_path / "never-made"})
    volumes = [k8s.V1Volume(name="d", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource("data"))]
    operator = _operator(
        kube.write_kubeconfig(tmp_path / "kubeconfig"),
        sh_image,
        "nomount",
        "true",
        volumes=volumes,
        volume_mounts=[k8s.V1VolumeMount(name="d", mount_path="/in")],
    )
    with pytest.raises(AirflowException) as caught:
        operator.execute(kpo_context("run-nomount"))
    assert isinstance(caught.value.__context__, PodLaunchTimeoutException)
    assert "too long to start" in str(caught.value.__context__)
    pod = kube.deleted[-1]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
    assert "FailedMount" in kube.event_reasons(pod["metadata"]["name"])
