"""A Run's pod with Data on an object store: no volume holds Data, the pod stages them itself.

- ``knit-inputs`` and ``knit-outputs`` are ``emptyDir`` volumes; the program mounts each input read-only and each
  output writable from them (``subPath`` = the knit id), at its declared path, as with a shared claim;
- the init container ``knit-fetch`` (the stager image: ``python3 -m knit_provider.stager fetch``) writes the
  inputs into ``knit-inputs`` before the program starts, every byte checked against its manifest;
- the native sidecar ``knit-upload`` (an init container with ``restartPolicy: Always``, Kubernetes 1.29+) starts
  before the program and waits; kubelet stops it once the program has ended (done or failed alike), and it then
  commits each output directory as its Data. The pod ends only after it (``terminationGracePeriodSeconds`` bounds
  the upload), so when KubernetesPodOperator returns, the outputs are in the store.

The program needs nothing of Knit: any image, any entrypoint. The stager containers get the store's URL and
options as ``KNIT_DATA_STORE*`` and the credentials from ``[knit] kubernetes_store_secret`` (``envFrom``) or the
pod's service account.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kubernetes.client import models as k8s

from knit_provider.runners.kubernetes.config import PodSettings

INPUTS, OUTPUTS = "knit-inputs", "knit-outputs"
FETCH, UPLOAD = "knit-fetch", "knit-upload"
IN_ROOT, OUT_ROOT = "/knit/in", "/knit/out"
STAGER = ["python3", "-m", "knit_provider.stager"]
READY = ".knit-stager-ready"  # the stager's own name for it (``knit_provider.stager``)


class _Port(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def knit_id(self) -> str: ...


class _Ports(Protocol):
    @property
    def inputs(self) -> Sequence[_Port]: ...
    @property
    def outputs(self) -> Sequence[_Port]: ...


def staged_volumes(assignment: _Ports) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """The two scratch volumes and the program's mounts from them."""
    mounts = [k8s.V1VolumeMount(name=INPUTS, mount_path=p.path, sub_path=p.knit_id, read_only=True)
              for p in assignment.inputs]  # fmt: skip
    mounts += [k8s.V1VolumeMount(name=OUTPUTS, mount_path=p.path, sub_path=p.knit_id) for p in assignment.outputs]
    volumes = []
    if assignment.inputs:
        volumes.append(k8s.V1Volume(name=INPUTS, empty_dir=k8s.V1EmptyDirVolumeSource()))
    if assignment.outputs:
        volumes.append(k8s.V1Volume(name=OUTPUTS, empty_dir=k8s.V1EmptyDirVolumeSource()))
    return volumes, mounts


def stagers(assignment: _Ports, settings: PodSettings) -> list[k8s.V1Container] | None:
    """The fetching init container (when there are inputs) and the uploading sidecar (when there are outputs)."""
    found = []
    inputs = list(dict.fromkeys(p.knit_id for p in assignment.inputs))
    if inputs:
        found.append(_stager(FETCH, ["fetch", *(f"{k}={IN_ROOT}/{k}" for k in inputs)], INPUTS, IN_ROOT, settings))
    outputs = [p.knit_id for p in assignment.outputs]
    if outputs:
        upload = _stager(UPLOAD, ["upload", "--on-term", *(f"{k}={OUT_ROOT}/{k}" for k in outputs)], OUTPUTS,
                         OUT_ROOT, settings)  # fmt: skip
        upload.restart_policy = "Always"  # a native sidecar: runs beside the program, stopped after it
        upload.startup_probe = k8s.V1Probe(  # the program starts once the sidecar listens for its stop
            _exec=k8s.V1ExecAction(command=["test", "-e", f"{OUT_ROOT}/{READY}"]), period_seconds=1,
            failure_threshold=120,
        )  # fmt: skip
        found.append(upload)
    return found or None


def _stager(name: str, args: list[str], volume: str, root: str, settings: PodSettings) -> k8s.V1Container:
    env = [k8s.V1EnvVar(name="KNIT_DATA_STORE", value=settings.data_store)]
    if settings.store_options:
        env.append(k8s.V1EnvVar(name="KNIT_DATA_STORE_OPTIONS", value=settings.store_options))
    secret = [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.store_secret))]
    return k8s.V1Container(
        name=name,
        image=settings.stager_image,
        command=[*STAGER, *args],
        env=env,
        env_from=secret if settings.store_secret else None,
        volume_mounts=[k8s.V1VolumeMount(name=volume, mount_path=root)],
        termination_message_policy="FallbackToLogsOnError",  # why it failed, in the pod's status
    )
