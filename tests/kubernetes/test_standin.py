"""The Kubernetes API stand-in, driven by the real ``kubernetes`` client and the real ``KubernetesPodOperator``.

Each pod's container really runs (bubblewrap, and docker with the session's daemon), so these show that what the
stand-in reports (phases, container states, events, logs) follows what the container did.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from knit_dev.kube_standin import KubeStandin
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.kubernetes

_STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*)")


def _pod(name: str, image: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "base", "image": image, "args": [script], **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": spec.pop("labels", {})},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def _claim_volume(name: str = "data", claim: str = "data") -> dict[str, Any]:
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


def _log(core_v1: client.CoreV1Api, name: str, **query: Any) -> str:
    """The log as text: client 36 turns a preloaded log into ``"b'...'"`` (kubernetes-client/python#2596)."""
    return core_v1.read_namespaced_pod_log(name, "default", _preload_content=False, **query).data.decode()


def _running(pid_marker: str) -> bool:
    """Whether any process on the host has ``pid_marker`` in its command line."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if pid_marker.encode() in Path(entry.path, "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


# ---- the API, through the kubernetes client -------------------------------------------------------------------


def test_pod_mounts_subpaths_read_only_and_writable_and_its_log_follows_with_timestamps(
    kube: KubeStandin, core_v1: client.CoreV1Api, kube_claim: Path, sh_image: str
) -> None:
    (kube_claim / "inputs" / "train").mkdir(parents=True)
    (kube_claim / "inputs" / "train" / "data.txt").write_text("input line\n")
    script = (
        'cat /in/train/data.txt; pwd; echo "$GREETING" "$POD"; '
        "touch /in/train/nope 2>/dev/null || echo input is read-only; "
        "echo result > /out/model/result.txt; echo ready; "
        "while [ ! -e /out/model/go ]; do sleep 0.05; done; echo done"
    )
    env = [
        {"name": "WHO", "value": "stand-in"},
        {"name": "GREETING", "value": "hello $(WHO)"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    mounts = [
        {"name": "data", "mountPath": "/in/train", "subPath": "inputs/train", "readOnly": True},
        {"name": "data", "mountPath": "/out/model", "subPath": "outputs/model"},
    ]
    container = {"env": env, "volumeMounts": mounts, "workingDir": "/work/here"}
    core_v1.create_namespaced_pod(
        "default", _pod("mounts", sh_image, script, container=container, volumes=[_claim_volume()])
    )

    kube.wait_for_phase("mounts", "Running", "Succeeded", "Failed", timeout=120)
    stream = core_v1.read_namespaced_pod_log(
        "mounts", "default", follow=True, timestamps=True, _preload_content=False, _request_timeout=120
    )
    lines: list[str] = []
    pending = b""
    for chunk in stream.stream(amt=None):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            lines.append(line.decode())
            if line.endswith(b" ready"):  # the container waits for us now: the log is followed while it runs
                running = core_v1.read_namespaced_pod("mounts", "default")
                assert running.status.phase == "Running"
                assert running.status.container_statuses[0].state.running is not None
                (kube_claim / "outputs" / "model" / "go").write_text("")
    stamped = [_STAMPED.fullmatch(line) for line in lines]
    assert all(stamped), lines
    texts = [m.group(2) for m in stamped if m]
    assert texts == ["input line", "/work/here", "hello stand-in mounts", "input is read-only", "ready", "done"]
    stamps = [m.group(1) for m in stamped if m]
    assert stamps == sorted(stamps)

    done = kube.wait_for_phase("mounts", "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert (kube_claim / "outputs" / "model" / "result.txt").read_text() == "result\n"
    assert sorted(p.name for p in (kube_claim / "inputs" / "train").iterdir()) == ["data.txt"]
    assert _log(core_v1, "mounts").splitlines() == texts
    assert _log(core_v1, "mounts", tail_lines=1) == "done\n"
    assert _log(core_v1, "mounts", since_seconds=3600).splitlines() == texts
    assert kube.event_reasons("mounts")[-2:] == ["Created", "Started"]


def test_pods_are_listed_by_label_and_field_selectors_and_patched_labels_count(
    kube_standin: Callable[..., KubeStandin], core_v1_for: Callable[[KubeStandin], client.CoreV1Api], sh_image: str
) -> None:
    kube = kube_standin()
    core_v1 = core_v1_for(kube)
    core_v1.create_namespaced_pod("default", _pod("one", sh_image, "true", labels={"app": "knit", "run": "1"}))
    core_v1.create_namespaced_pod("default", _pod("two", sh_image, "exit 1", labels={"app": "knit", "run": "2"}))
    core_v1.create_namespaced_pod("other", _pod("three", sh_image, "true", labels={"app": "else"}))
    for name in ("one", "two"):
        kube.wait_for_phase(name)
    kube.wait_for_phase("three", namespace="other")

    def names(namespace: str | None = "default", **selectors: str) -> list[str]:
        if namespace is None:
            found = core_v1.list_pod_for_all_namespaces(**selectors)
        else:
            found = core_v1.list_namespaced_pod(namespace, **selectors)
        return sorted(p.metadata.name for p in found.items)

    assert names() == ["one", "two"]
    assert names(None) == ["one", "three", "two"]
    assert names(label_selector="app=knit,run!=2,!airflow-worker") == ["one"]
    assert names(None, label_selector="app in (knit, else),run notin (1)") == ["three", "two"]
    assert names(field_selector="status.phase=Failed") == ["two"]
    assert names(field_selector="metadata.name=one,status.phase!=Failed") == ["one"]

    patched = core_v1.patch_namespaced_pod("one", "default", {"metadata": {"labels": {"already_checked": "True"}}})
    assert patched.metadata.labels == {"app": "knit", "run": "1", "already_checked": "True"}
    assert names(label_selector="app=knit,already_checked!=True") == ["two"]
    core_v1.patch_namespaced_pod(
        "two", "default", [{"op": "add", "path": "/metadata/annotations", "value": {"knit/run": "abc"}}]
    )
    assert core_v1.read_namespaced_pod("two", "default").metadata.annotations == {"knit/run": "abc"}
    with pytest.raises(ApiException) as spec_change:
        core_v1.patch_namespaced_pod("two", "default", {"spec": {"restartPolicy": "Always"}})
    assert spec_change.value.status == 422
    with pytest.raises(ApiException) as bad_selector:
        core_v1.list_namespaced_pod("default", field_selector="spec.image=x")
    assert bad_selector.value.status == 400


def test_invalid_pods_are_refused_as_the_api_server_does(
    kube_standin: Callable[..., KubeStandin], core_v1_for: Callable[[KubeStandin], client.CoreV1Api], sh_image: str
) -> None:
    kube = kube_standin()
    core_v1 = core_v1_for(kube)

    def refused(body: dict[str, Any]) -> ApiException:
        with pytest.raises(ApiException) as caught:
            core_v1.create_namespaced_pod("default", body)
        return caught.value

    unknown_volume = _pod("a", sh_image, "true", container={"volumeMounts": [{"name": "nope", "mountPath": "/in"}]})
    escape = _pod(
        "b",
        sh_image,
        "true",
        container={"volumeMounts": [{"name": "data", "mountPath": "/in", "subPath": "../etc"}]},
        volumes=[_claim_volume()],
    )
    bad_label = _pod("c", sh_image, "true", labels={"knit/run": "not a label value!"})
    for body, words in [
        (unknown_volume, 'volumeMounts[0].name: Not found: "nope"'),
        (escape, "must not contain '..'"),
        (bad_label, "metadata.labels: Invalid value"),
        (_pod("Upper_Case", sh_image, "true"), "metadata.name: Invalid value"),
    ]:
        error = refused(body)
        status = json.loads(error.body)
        assert (error.status, status["reason"]) == (422, "Invalid"), error.body
        assert words in status["message"]
    core_v1.create_namespaced_pod("default", _pod("d", sh_image, "true"))
    assert refused(_pod("d", sh_image, "true")).status == 409
    assert kube.event_reasons("a") == [] and [p["metadata"]["name"] for p in kube.pods()] == ["d"]
    with pytest.raises(ApiException) as missing:
        core_v1.read_namespaced_pod("nope", "default")
    assert missing.value.status == 404


def test_delete_kills_the_running_container_and_events_outlive_the_pod(
    kube: KubeStandin, core_v1: client.CoreV1Api, sh_image: str
) -> None:
    marker = f"36{uuid.uuid4().int % 10**6:06d}"  # a sleep length no other process uses
    core_v1.create_namespaced_pod("default", _pod("sleeper", sh_image, f"echo started; sleep {marker}"))
    assert kube.wait(lambda: "started" in kube.logs("sleeper"), 120), kube.event_reasons("sleeper")
    assert _running(marker)

    gone = core_v1.delete_namespaced_pod("sleeper", "default")
    assert gone.metadata.deletion_timestamp is not None
    assert not _running(marker)
    with pytest.raises(ApiException) as read:
        core_v1.read_namespaced_pod("sleeper", "default")
    assert read.value.status == 404
    assert [p["metadata"]["name"] for p in kube.deleted] == ["sleeper"]
    events = core_v1.list_namespaced_event("default", field_selector="involvedObject.name=sleeper").items
    assert [e.reason for e in events][-1] == "Killing"
    assert events[-1].involved_object.field_path == "spec.containers{base}"


def test_scheduling_follows_node_labels_affinity_and_taints(
    kube_standin: Callable[..., KubeStandin], core_v1_for: Callable[[KubeStandin], client.CoreV1Api], sh_image: str
) -> None:
    kube = kube_standin(node_labels={"knit/role": "worker"}, node_taints=["knit/gpu=yes:NoSchedule"])
    core_v1 = core_v1_for(kube)
    term = {"matchExpressions": [{"key": "knit/role", "operator": "In", "values": ["worker"]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    toleration = [{"key": "knit/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    core_v1.create_namespaced_pod("default", _pod("fits", sh_image, "true", affinity=affinity, tolerations=toleration))
    core_v1.create_namespaced_pod("default", _pod("intolerant", sh_image, "true", affinity=affinity))
    core_v1.create_namespaced_pod("default", _pod("elsewhere", sh_image, "true", nodeSelector={"knit/role": "db"}))

    assert kube.wait_for_phase("fits")["status"]["phase"] == "Succeeded"
    assert kube.pod("fits")["spec"]["nodeName"] == "knit-standin"
    for name, words in [("intolerant", "had untolerated taint {knit/gpu: yes}"), ("elsewhere", "didn't match")]:
        assert kube.wait(lambda n=name: "FailedScheduling" in kube.event_reasons(n), 60)
        pod = core_v1.read_namespaced_pod(name, "default")
        assert pod.status.phase == "Pending"
        scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
        assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
        assert words in scheduled.message
    kube.set_node(taints=[])
    assert kube.wait_for_phase("intolerant")["status"]["phase"] == "Succeeded"
    assert kube.pod("elsewhere")["status"]["phase"] == "Pending"
    kube.set_node(labels={"knit/role": "db"})
    assert kube.wait_for_phase("elsewhere")["status"]["phase"] == "Succeeded"


def test_container_states_follow_what_the_kubelet_would_report(
    kube_standin: Callable[..., KubeStandin], tmp_path: Path, sh_image: str
) -> None:
    claim = tmp_path / "claim"
    (claim / "inside").mkdir(parents=True)
    (claim / "link").symlink_to(tmp_path)  # a subPath through it would leave the volume
    kube = kube_standin({"data": claim})
    scratch = {"name": "scratch", "emptyDir": {}}
    shared = {"volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}
    init = [{"name": "prepare", "image": sh_image, "args": ["echo prepared > /scratch/note"], **shared}]
    kube.create_pod(
        _pod("init", sh_image, "cat /scratch/note", initContainers=init, volumes=[scratch], container=shared)
    )
    kube.create_pod(_pod("noprogram", sh_image, "", container={"command": ["/no/such/program"]}))
    kube.create_pod(_pod("deadline", sh_image, "sleep 3600", activeDeadlineSeconds=1))
    escape = {"volumeMounts": [{"name": "data", "mountPath": "/in", "subPath": "link"}]}
    kube.create_pod(_pod("escape", sh_image, "true", container=escape, volumes=[_claim_volume()]))
    never = {"image": "knit-test/absent:1.0", "imagePullPolicy": "Never"}
    kube.create_pod(_pod("never", sh_image, "true", container=never))

    done = kube.wait_for_phase("init", "Succeeded")
    assert done["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert kube.logs("init") == "prepared\n"
    failed = kube.wait_for_phase("noprogram", "Failed")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (failed["exitCode"], failed["reason"]) == (128, "StartError")
    assert "/no/such/program" in failed["message"] and kube.logs("noprogram") == ""
    deadline = kube.wait_for_phase("deadline", "Failed")["status"]
    assert deadline["reason"] == "DeadlineExceeded"

    def waiting(name: str, reason: str) -> dict[str, Any]:
        def state() -> dict[str, Any]:
            statuses = kube.pod(name)["status"].get("containerStatuses") or [{"state": {}}]
            return statuses[0]["state"].get("waiting") or {}

        assert kube.wait(lambda: state().get("reason") == reason, 60), kube.pod(name)["status"]
        return state()

    assert 'volumeMount "data"' in waiting("escape", "CreateContainerConfigError")["message"]
    assert "is not present with pull policy of Never" in waiting("never", "ErrImageNeverPull")["message"]


def test_service_accounts_must_exist_and_their_token_is_mounted_unless_turned_off(
    kube_standin: Callable[..., KubeStandin], core_v1_for: Callable[[KubeStandin], client.CoreV1Api], sh_image: str
) -> None:
    kube = kube_standin(service_accounts=["trainer"])
    core_v1 = core_v1_for(kube)
    with pytest.raises(ApiException) as forbidden:
        core_v1.create_namespaced_pod("default", _pod("ghost", sh_image, "true", serviceAccountName="ghost"))
    assert forbidden.value.status == 403
    assert 'serviceaccount "ghost" not found' in json.loads(forbidden.value.body)["message"]
    show = "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace || echo no token"
    core_v1.create_namespaced_pod("default", _pod("with", sh_image, show, serviceAccountName="trainer"))
    core_v1.create_namespaced_pod("default", _pod("without", sh_image, show, automountServiceAccountToken=False))
    assert kube.wait_for_phase("with")["status"]["phase"] == "Succeeded"
    assert kube.wait_for_phase("without")["status"]["phase"] == "Succeeded"
    assert kube.logs("with") == "default\n"  # the file has no newline: each line of output gets one
    assert kube.logs("without").endswith("no token\n")


def test_a_separate_process_reaches_it_through_kubeconfig_and_an_airflow_connection(
    kube_standin: Callable[..., KubeStandin], tmp_path: Path, sh_image: str
) -> None:
    kube = kube_standin()
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    kube.create_pod(_pod("seen", sh_image, "true"))
    program = (
        "from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook\n"
        "for conn_id in ('kubernetes_default', 'standin'):\n"  # no such connection: the default kubeconfig
        "    hook = KubernetesHook(conn_id=conn_id)\n"
        "    pods = hook.core_v1_client.list_namespaced_pod('default').items\n"
        "    print(conn_id, hook.get_namespace(), [p.metadata.name for p in pods])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AIRFLOW_CONN_"))}
    env.update(KUBECONFIG=str(kubeconfig), AIRFLOW_CONN_STANDIN=kube.airflow_connection(kubeconfig, namespace="knit"))
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line for line in done.stdout.splitlines() if line.startswith(("kubernetes_default ", "standin "))]
    assert printed == ["kubernetes_default None ['seen']", "standin knit ['seen']"]
