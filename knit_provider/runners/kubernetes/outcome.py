"""What a pod says about its Run: the program's exit, or why the program never started.

Pure functions over ``kubernetes.client`` models (the pod as last read, the events about it), so each failure
shape is tested without a cluster. Codes follow the other runners: the program's own exit code when it ran,
125 when it could not be started (image, scheduling, mounts), 255 when the pod was lost mid-run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from knit_provider.runners.base import exit_message

EXIT_NOT_STARTED = 125
EXIT_POD_LOST = 255
#: Waiting reasons that only mean "still on its way", not a failure to report.
_ROUTINE_WAITING = {"ContainerCreating", "PodInitializing"}


def container_status(pod: k8s.V1Pod | None, container: str) -> k8s.V1ContainerStatus | None:
    statuses = (pod.status.container_statuses if pod is not None and pod.status is not None else None) or []
    return next((s for s in statuses if s.name == container), None)


def program_exit(pod: k8s.V1Pod | None, container: str) -> tuple[int, str] | None:
    """The program's exit code and message once its container terminated; None if it never did."""
    status = container_status(pod, container)
    terminated = status.state.terminated if status is not None and status.state is not None else None
    if terminated is None or terminated.exit_code is None:
        return None
    code = int(terminated.exit_code)
    if code == 0:
        return 0, ""
    message = exit_message(code, f"the program in container {container!r}")
    pod_status = pod.status if pod is not None else None
    details = [
        d
        for d in (
            terminated.reason,
            (terminated.message or "").strip(),  # the container's termination message (terminationMessagePath)
            pod_status.reason if pod_status is not None else None,  # e.g. Evicted, DeadlineExceeded
        )
        if d and d != "Error"
    ]
    return code, f"{message}: {'; '.join(details)}" if details else message


def stager_failure(pod: k8s.V1Pod | None, container: str) -> str | None:
    """Why a stager container of the pod (``knit-fetch``, ``knit-upload``) failed, or None: it did not (or did not
    run). Its termination message holds the tail of its log: the last line says what went wrong."""
    statuses = (pod.status.init_container_statuses if pod is not None and pod.status is not None else None) or []
    status = next((s for s in statuses if s.name == container), None)
    terminated = status.state.terminated if status is not None and status.state is not None else None
    if terminated is None or not terminated.exit_code:
        return None
    lines = [line for line in (terminated.message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else exit_message(int(terminated.exit_code), f"container {container!r}")


def staged_outcome(pod: k8s.V1Pod | None, program: tuple[int, str] | None) -> tuple[int, str] | None:
    """With Data on an object store: the Run's end when staging failed (inputs never fetched; outputs of a program
    that succeeded not uploaded), else None (the program's own end stands)."""
    from knit_provider.runners.kubernetes.staging import FETCH, UPLOAD

    fetch = stager_failure(pod, FETCH)
    if fetch is not None:
        return EXIT_NOT_STARTED, f"the inputs could not be fetched from the Data store: {fetch}"
    upload = stager_failure(pod, UPLOAD)
    if upload is not None and (program is None or program[0] == 0):
        return EXIT_NOT_STARTED, f"the outputs could not be uploaded to the Data store: {upload}"
    return None


def launch_failure(pod: k8s.V1Pod | None, events: Iterable[k8s.CoreV1Event], container: str, fallback: str) -> str:
    """Why a pod did not start, in the cluster's own words: the container's waiting reason (image pull,
    config errors), else the scheduler's verdict, else the latest warning event (mounts), else ``fallback``."""
    name = pod.metadata.name if pod is not None and pod.metadata is not None else None
    subject = f"pod {name}" if name else "the pod"
    status = container_status(pod, container)
    waiting = status.state.waiting if status is not None and status.state is not None else None
    if waiting is not None and waiting.reason and (waiting.reason not in _ROUTINE_WAITING or waiting.message):
        return f"{subject} did not start: {_reason(waiting.reason, waiting.message)}"
    conditions = (pod.status.conditions if pod is not None and pod.status is not None else None) or []
    for condition in conditions:
        if condition.type == "PodScheduled" and condition.status == "False":
            return f"{subject} was not scheduled: {_reason(condition.reason or 'Unschedulable', condition.message)}"
    warnings = [e for e in events if e.type == "Warning"]
    if warnings:
        latest = max(enumerate(warnings), key=lambda pair: (_event_time(pair[1]), pair[0]))[1]
        return f"{subject} did not start: {_reason(latest.reason or 'Warning', latest.message)}"
    if pod is not None and pod.status is not None and (pod.status.reason or pod.status.message):
        return f"{subject} did not start: {_reason(pod.status.reason or 'Failed', pod.status.message)}"
    return f"{subject} did not start: {fallback}"


def error_text(error: BaseException) -> str:
    """One line for an exception: the API server's own message for an API error (``(422) Reason: ...`` plus
    headers and body otherwise), else the first line of the exception's text."""
    if isinstance(error, ApiException):
        try:
            message = json.loads(error.body or "").get("message")
        except (ValueError, AttributeError):
            message = None
        return f"{error.status} {error.reason}: {message}" if message else f"{error.status} {error.reason}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _reason(reason: str, message: str | None) -> str:
    text = " ".join((message or "").split())
    return f"{reason}: {text}" if text else reason


def _event_time(event: k8s.CoreV1Event):
    """Events carry one of several timestamps depending on who wrote them; compare as text (RFC 3339)."""
    for value in (event.last_timestamp, event.event_time, event.first_timestamp):
        if value is not None:
            return str(value)
    return ""
