"""Reading a Run's end from its pod: the exit code, or why the pod never started (pure: models only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from knit_provider.runners.kubernetes.outcome import EXIT_NOT_STARTED, error_text, launch_failure, program_exit

pytestmark = pytest.mark.kubernetes


def pod(
    *,
    phase: str = "Pending",
    state: k8s.V1ContainerState | None = None,
    conditions: list[k8s.V1PodCondition] | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> k8s.V1Pod:
    statuses = None
    if state is not None:
        statuses = [
            k8s.V1ContainerStatus(name="base", image="i:1", image_id="", ready=False, restart_count=0, state=state)
        ]
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="knit-train-0b6f2c1e-abcdefgh", namespace="default"),
        status=k8s.V1PodStatus(
            phase=phase, container_statuses=statuses, conditions=conditions, reason=reason, message=message
        ),
    )


def terminated(code: int, reason: str = "Error", message: str | None = None) -> k8s.V1ContainerState:
    return k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(exit_code=code, reason=reason, message=message)
    )


def waiting(reason: str, message: str | None = None) -> k8s.V1ContainerState:
    return k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message))


def event(reason: str, message: str, at: int, kind: str = "Warning") -> k8s.CoreV1Event:
    when = datetime(2025, 1, 1, 0, 0, at, tzinfo=UTC)
    return k8s.CoreV1Event(
        metadata=k8s.V1ObjectMeta(name=f"e{at}"),
        involved_object=k8s.V1ObjectReference(name="p"),
        type=kind,
        reason=reason,
        message=message,
        last_timestamp=when,
    )


def test_exit_zero_is_success_without_a_message() -> None:
    assert program_exit(pod(phase="Succeeded", state=terminated(0, "Completed")), "base") == (0, "")


def test_a_non_zero_exit_is_the_runs_exit_code() -> None:
    assert program_exit(pod(phase="Failed", state=terminated(3)), "base") == (
        3,
        "the program in container 'base' failed with exit code 3",
    )


def test_a_kill_names_the_signal_and_the_clusters_reason() -> None:
    code, message = program_exit(pod(phase="Failed", state=terminated(137, "OOMKilled")), "base")
    assert code == 137
    assert message == "the program in container 'base' was killed by signal SIGKILL (exit code 137): OOMKilled"
    evicted = pod(phase="Failed", state=terminated(137, "Error", "bye"), reason="Evicted")
    assert program_exit(evicted, "base")[1].endswith(": bye; Evicted")


def test_no_terminated_container_means_no_exit_yet() -> None:
    assert program_exit(pod(state=waiting("ContainerCreating")), "base") is None
    assert program_exit(pod(), "base") is None
    assert program_exit(None, "base") is None
    assert program_exit(pod(phase="Failed", state=terminated(1)), "other") is None


def test_an_image_that_cannot_be_pulled_is_named() -> None:
    stuck = pod(state=waiting("ErrImagePull", 'failed to pull image "nowhere/x:1": not found'))
    assert launch_failure(stuck, [], "base", "fallback") == (
        'pod knit-train-0b6f2c1e-abcdefgh did not start: ErrImagePull: failed to pull image "nowhere/x:1": not found'
    )
    assert EXIT_NOT_STARTED == 125


def test_an_unschedulable_pod_says_why_the_scheduler_refused() -> None:
    refused = pod(
        conditions=[
            k8s.V1PodCondition(
                type="PodScheduled",
                status="False",
                reason="Unschedulable",
                message="0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
            )
        ]
    )
    assert launch_failure(refused, [event("FailedScheduling", "same", 1)], "base", "x") == (
        "pod knit-train-0b6f2c1e-abcdefgh was not scheduled: Unschedulable: "
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    )


def test_a_mount_failure_is_the_latest_warning_event() -> None:
    creating = pod(
        state=waiting("ContainerCreating"),
        conditions=[k8s.V1PodCondition(type="PodScheduled", status="True")],
    )
    events = [
        event("Scheduled", "assigned default/p to node-1", 0, kind="Normal"),
        event("FailedMount", 'persistentvolumeclaim "knit-data" not found', 2),
        event("FailedMount", 'MountVolume.SetUp failed for volume "knit-data"\n  subPath missing', 3),
        event("Pulled", "image present", 4, kind="Normal"),
    ]
    assert launch_failure(creating, events, "base", "x") == (
        "pod knit-train-0b6f2c1e-abcdefgh did not start: FailedMount: MountVolume.SetUp failed for volume "
        '"knit-data" subPath missing'
    )


def test_a_config_error_outranks_events() -> None:
    broken = pod(state=waiting("CreateContainerConfigError", 'secret "x" not found'))
    assert 'CreateContainerConfigError: secret "x" not found' in launch_failure(
        broken, [event("FailedMount", "other", 1)], "base", "x"
    )


def test_without_any_clue_the_operators_own_words_remain() -> None:
    assert launch_failure(pod(state=waiting("ContainerCreating")), [], "base", "Pod took too long") == (
        "pod knit-train-0b6f2c1e-abcdefgh did not start: Pod took too long"
    )
    assert launch_failure(pod(phase="Failed", reason="OutOfcpu", message="no cpu"), [], "base", "x") == (
        "pod knit-train-0b6f2c1e-abcdefgh did not start: OutOfcpu: no cpu"
    )
    assert launch_failure(None, [], "base", "gone") == "the pod did not start: gone"


def test_api_errors_are_one_line_in_the_servers_words() -> None:
    refused = ApiException(status=422, reason="Unprocessable Entity")
    refused.body = json.dumps({"kind": "Status", "message": 'Pod "x" is invalid: metadata.name: Invalid value'})
    assert error_text(refused) == '422 Unprocessable Entity: Pod "x" is invalid: metadata.name: Invalid value'
    assert error_text(ApiException(status=404, reason="Not Found")) == "404 Not Found"
    assert error_text(RuntimeError("first line\nsecond line")) == "first line"
    assert error_text(RuntimeError()) == "RuntimeError"
