"""The pod of a Run whose Data live on an object store (pure): scratch volumes instead of claims, the fetching
init container and the uploading native sidecar, their settings, and how their ends become the Run's."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s
from test_pod_spec import DATASET, LOG, MODEL, assignment

from knit_provider.core.errors import InvalidInput
from knit_provider.core.options import OPTIONS
from knit_provider.runners.kubernetes.config import KubernetesSettings, PodSettings
from knit_provider.runners.kubernetes.outcome import EXIT_NOT_STARTED, staged_outcome
from knit_provider.runners.kubernetes.pod_spec import PodPlan, build_pod
from knit_provider.service.execution import Port
from knit_provider.service.settings import KnitSettings

pytestmark = [pytest.mark.kubernetes, pytest.mark.object_store]

S3 = PodSettings(
    data_store="s3://bucket/knit",
    store_options='{"endpoint_url": "http://minio:9000"}',
    stager_image="apache/airflow:3.3.2",
    store_secret="knit-s3",
    upload_timeout_s=900,
)


def wire(pod) -> dict:
    return ApiClient().sanitize_for_serialization(pod)


def test_inputs_and_outputs_come_from_scratch_volumes_the_pod_fills_and_empties_itself() -> None:
    pod = wire(build_pod(assignment(), PodPlan(), S3))
    spec = pod["spec"]
    assert spec["volumes"] == [{"name": "knit-inputs", "emptyDir": {}}, {"name": "knit-outputs", "emptyDir": {}}]
    (container,) = spec["containers"]
    assert container["volumeMounts"] == [
        {"name": "knit-inputs", "mountPath": "/in/dataset", "subPath": DATASET, "readOnly": True},
        {"name": "knit-outputs", "mountPath": "/out/model", "subPath": MODEL},
    ]
    fetch, upload = spec["initContainers"]
    assert fetch["name"] == "knit-fetch" and "restartPolicy" not in fetch
    assert fetch["command"] == ["python3", "-m", "knit_provider.stager", "fetch", f"{DATASET}=/knit/in/{DATASET}"]
    assert upload["name"] == "knit-upload" and upload["restartPolicy"] == "Always", "a native sidecar"
    assert upload["command"][3:] == ["upload", "--on-term", f"{MODEL}=/knit/out/{MODEL}"]
    for stager in (fetch, upload):
        assert stager["image"] == "apache/airflow:3.3.2"
        assert stager["env"] == [
            {"name": "KNIT_DATA_STORE", "value": "s3://bucket/knit"},
            {"name": "KNIT_DATA_STORE_OPTIONS", "value": '{"endpoint_url": "http://minio:9000"}'},
        ]
        assert stager["envFrom"] == [{"secretRef": {"name": "knit-s3"}}]
        assert stager["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert spec["terminationGracePeriodSeconds"] == 900, "the time the sidecar has to upload"
    assert LOG not in str(spec["initContainers"]), "the log is the task's to keep, not the pod's"


def test_one_data_at_two_inputs_is_fetched_once_and_a_pod_without_inputs_has_no_fetcher() -> None:
    twice = assignment(inputs=[Port("/in/a", DATASET, None), Port("/in/b", DATASET, None)])  # type: ignore[arg-type]
    fetch = wire(build_pod(twice, PodPlan(), S3))["spec"]["initContainers"][0]
    assert fetch["command"][4:] == [f"{DATASET}=/knit/in/{DATASET}"]
    spec = wire(build_pod(assignment(inputs=[]), PodPlan(), S3))["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["knit-upload"]
    assert [v["name"] for v in spec["volumes"]] == ["knit-outputs"]


def test_a_file_store_keeps_its_claims_and_an_object_store_needs_the_stager_image() -> None:
    spec = wire(build_pod(assignment(), PodPlan(), PodSettings()))["spec"]
    assert "initContainers" not in spec and spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "knit-data"
    options = {"kubernetes_stager_image": "", "kubernetes_upload_timeout": "600"}
    get = lambda key: options.get(key, OPTIONS[key][0])  # noqa: E731
    with pytest.raises(InvalidInput, match=r"kubernetes_stager_image.*s3://bucket/knit"):
        KubernetesSettings.parse(get, data_store="s3://bucket/knit").pod.check_staging()
    assert not KubernetesSettings.parse(get, data_store="file:///srv/knit").pod.object_store
    options["runner"], options["data_store"] = "kubernetes", "s3://bucket/knit"
    with pytest.raises(InvalidInput, match="kubernetes_stager_image"):
        KnitSettings.resolve(lambda key: options.get(key))
    options["runner"] = "process"
    assert KnitSettings.resolve(lambda key: options.get(key)).store.url == "s3://bucket/knit", "only pods need it"


def _pod(fetch: tuple[int, str] | None, upload: tuple[int, str] | None) -> k8s.V1Pod:
    def status(name: str, end: tuple[int, str] | None) -> k8s.V1ContainerStatus:
        state = k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(exit_code=end[0], message=end[1]) if end else None,
            waiting=None if end else k8s.V1ContainerStateWaiting(reason="PodInitializing"),
        )
        return k8s.V1ContainerStatus(name=name, image="i", image_id="", ready=False, restart_count=0, state=state)

    statuses = [status("knit-fetch", fetch), status("knit-upload", upload)]
    return k8s.V1Pod(status=k8s.V1PodStatus(init_container_statuses=statuses))


def test_a_stager_that_failed_decides_the_runs_end() -> None:
    lost = _pod((1, "knit stager: fetch\nknit stager: fetch failed: Data 'x' has no content in the store\n"), None)
    assert staged_outcome(lost, None) == (
        EXIT_NOT_STARTED,
        "the inputs could not be fetched from the Data store: knit stager: fetch failed: Data 'x' has no content in "
        "the store",
    )
    unsent = _pod((0, ""), (1, "knit stager: upload failed: Data store s3://b: PermissionError: denied"))
    code, message = staged_outcome(unsent, (0, ""))  # type: ignore[misc]
    assert code == EXIT_NOT_STARTED and message.startswith("the outputs could not be uploaded to the Data store")
    assert staged_outcome(unsent, (3, "exit 3")) is None, "a failed program's own exit stays the Run's"
    assert staged_outcome(_pod((0, ""), (0, "")), (0, "")) is None
