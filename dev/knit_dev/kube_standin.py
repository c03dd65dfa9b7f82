"""A Kubernetes API stand-in for tests: the core/v1 calls KubernetesPodOperator makes, served over real HTTP, with
each pod's containers run locally (docker, or bubblewrap through knit's process runner).

No API server can be installed here; this serves what the ``kubernetes`` client needs on KPO's synchronous path
(``deferrable=False``) and keeps the API's shapes, codes and messages, so the real operator and client run
unchanged against it.

Use::

    with KubeStandin({"knit-data": data_root}, runtime="bwrap", image_map=ImageMap.load([map_file])) as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig")   # http server, namespace "default", no TLS
        KubernetesPodOperator(..., config_file=str(config), namespace="default").execute(context)
        kube.pods(); kube.deleted; kube.events("pod-name"); kube.logs("pod-name"); kube.calls

From another process (``airflow standalone``): set ``KUBECONFIG`` to the written file before that process starts
(the client reads it at import), or ``AIRFLOW_CONN_KUBERNETES_DEFAULT=kube.airflow_connection(config)``.
The server listens on ``127.0.0.1`` (``host=`` to change) on a free port; ``kube.url`` is ``http://host:port``.

Constructor: ``KubeStandin(claims, *, runtime=None|"docker"|"bwrap", docker_host=None, image_map=None,
node_labels=None, node_taints=None, node_name="knit-standin", service_accounts=("default",), host="127.0.0.1",
port=0, state_dir=None, secrets=None)``.

- ``claims``: PersistentVolumeClaim name -> host directory. ``runtime``: None picks docker when the daemon at
  ``docker_host`` (or the default one) answers ``docker info``, else bwrap.
- Images: with docker, the daemon's images are the registry (an absent image mapped in ``image_map`` is built
  first, as a pull); with bwrap, the image map is the registry (``Dockerfile`` WORKDIR/ENTRYPOINT/CMD/ENV, run with
  the host's interpreters). Anything else cannot be pulled: ``ErrImagePull`` then ``ImagePullBackOff`` (KPO fails
  fast: "Image cannot be pulled, unable to start"), or ``ErrImageNeverPull`` with ``imagePullPolicy: Never``.
- One node, ``node_name``, labelled ``kubernetes.io/hostname``, ``kubernetes.io/os=linux``,
  ``kubernetes.io/arch=amd64`` plus ``node_labels``; ``node_taints`` as dicts ``{"key","value","effect"}`` or
  ``"key=value:Effect"``. A pod whose ``nodeSelector`` / required node affinity does not match, that does not
  tolerate a NoSchedule/NoExecute taint, or that names a claim not in ``claims`` stays Pending with PodScheduled
  False ``Unschedulable`` and a ``FailedScheduling`` event (kube-scheduler's message; a missing PVC is a scheduling
  failure on a real cluster too). KPO then fails after ``schedule_timeout_seconds`` and logs the event.
  ``set_node(labels=, taints=)`` / ``add_claim()`` re-run scheduling for pending pods.
- Volumes: ``persistentVolumeClaim`` (its directory must exist, else ``FailedMount`` and the container stays
  ``ContainerCreating``; KPO fails after ``startup_timeout_seconds``), ``emptyDir``, ``hostPath``; ``configMap``
  and ``secret`` volumes fail as missing; env from a Secret (``envFrom.secretRef``, ``secretKeyRef``) reads
  ``secrets`` (name -> data), and fails as missing for any other. ``subPath`` (and ``subPathExpr``) picks a
  directory inside the volume, made if missing (as kubelet does); one that resolves outside it is
  ``CreateContainerConfigError``; a file subPath is refused (directories only). ``readOnly`` on the mount or the
  claim is honoured.
- Service accounts: a pod naming one not in ``service_accounts`` (every namespace has ``default``) is refused
  with 403 ``Forbidden``, as the ServiceAccount admission does; unless ``automountServiceAccountToken: false`` the
  pod gets the ``kube-api-access-*`` projected volume at ``/var/run/secrets/kubernetes.io/serviceaccount``
  (files ``token`` — a dummy —, ``ca.crt``, ``namespace``), as on a cluster.
- Containers: ``command``/``args`` (``$(VAR)`` expanded), ``env`` (values, fieldRef), ``workingDir``, with the
  host's network (as a pod has one). They run once (restartPolicy Never); init containers first; a native sidecar
  (an init container with ``restartPolicy: Always``) runs beside the regular containers and is stopped with SIGTERM
  once they ended (killed after ``terminationGracePeriodSeconds``), the pod ending after it.
  Logs are kept with the time each line arrived; ``/log`` honours
  ``follow``, ``timestamps`` (RFC3339Nano prefix), ``sinceSeconds``, ``sinceTime``, ``tailLines``, ``limitBytes``,
  ``container``. Exit 0 -> ``Succeeded``; else ``Failed`` with ``terminated{exitCode, reason: Error}``; a program
  that cannot start -> ``terminated{exitCode: 128, reason: StartError, message}``. ``FallbackToLogsOnError`` puts
  the log tail in the termination message. ``activeDeadlineSeconds`` -> Failed ``DeadlineExceeded``.
- API: ``/version``, ``/api``, ``/api/v1``, namespaces and nodes (read), pods: create (validated and defaulted as
  the API server does: 422 ``Invalid`` for bad names, labels, mounts), get, list (``labelSelector``,
  ``fieldSelector``, all namespaces too), patch (strategic/merge/json patch; metadata only, spec changes are 422),
  delete (kills the containers, waits for them, removes the pod at once: a zero-grace delete), ``/status``,
  ``/log``; events (``fieldSelector`` e.g. ``involvedObject.name=``). ``watch`` is answered 405 (KPO's
  synchronous path does not watch). No auth: any token is accepted.

Accepted and not enforced: resources, securityContext (containers run as the runtime's user), imagePullSecrets,
probes, restartPolicy other than Never (no restarts), termination grace periods (a delete kills at once).

Introspection: ``pods()``, ``pod(name)``, ``phase(name)``, ``deleted`` (final snapshots), ``events(name)``,
``event_reasons(name)``, ``logs(name)``, ``calls`` (method, path) in order, ``wait_for_phase(name, *phases)``,
``wait(predicate)`` (re-checked at every change), ``create_pod(body)``.

Note for clients: ``kubernetes`` 36's ``read_namespaced_pod_log`` returns ``"b'...'"`` when it preloads the body
(kubernetes-client/python#2596, the same against a real cluster); read with ``_preload_content=False``.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from knit_dev.kube.kubelet import PodWorker
from knit_dev.kube.runtime import choose_runtime
from knit_dev.kube.scheduling import Node
from knit_dev.kube.server import ApiServer
from knit_dev.kube.store import Cluster
from knit_provider.runners.image_map import ImageMap

__all__ = ["KubeStandin"]

JSON = dict[str, Any]


def _taint(value: Mapping[str, str] | str) -> dict[str, str]:
    """``{"key", "value", "effect"}`` or kubectl's ``key=value:Effect`` / ``key:Effect``."""
    if isinstance(value, str):
        head, _, effect = value.rpartition(":")
        key, _, val = head.partition("=")
        value = {"key": key, "value": val, "effect": effect}
    taint = {k: str(v) for k, v in value.items() if v not in (None, "")}
    if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not taint.get("key"):
        raise ValueError(f"node taint {value!r}: needs a key and an effect NoSchedule, PreferNoSchedule or NoExecute")
    return taint


class KubeStandin:
    """The API server, scheduler and kubelet of a one-node cluster, in this process (see the module docstring)."""

    def __init__(
        self,
        claims: Mapping[str, Path | str] | None = None,
        *,
        runtime: str | None = None,
        docker_host: str | None = None,
        image_map: ImageMap | None = None,
        node_labels: Mapping[str, str] | None = None,
        node_taints: Iterable[Mapping[str, str] | str] = (),
        node_name: str = "knit-standin",
        service_accounts: Iterable[str] = ("default",),
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        labels = {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        labels.update(node_labels or {})
        self.node = Node(node_name, labels, [_taint(t) for t in node_taints])
        claim_dirs = {name: Path(path) for name, path in (claims or {}).items()}
        self.cluster = Cluster(self.node, claim_dirs, {"default", *service_accounts})
        self.cluster.secrets = {name: dict(data) for name, data in (secrets or {}).items()}
        self._own_state = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="knit-kube-"))
        self.runtime = choose_runtime(
            runtime, image_map=image_map or ImageMap(), docker_host=docker_host, state_dir=self.state_dir / "runs"
        )
        self.namespace = "default"
        self._address = (host, port)
        self._workers: dict[str, PodWorker] = {}
        self._server: ApiServer | None = None
        self._thread: threading.Thread | None = None
        self.cluster.start_pod = self._start_pod
        self.cluster.stop_pod = self._stop_pod

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> KubeStandin:
        self._server = ApiServer(self.cluster, self._address)
        self._thread = threading.Thread(target=self._server.serve_forever, name="kube-standin-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill every pod's containers, close the server; nothing is left running."""
        with self.cluster.lock:
            self.cluster.stopping = True
            self.cluster.changed.notify_all()
            workers = list(self._workers.values())
        stoppers = [threading.Thread(target=w.stop, daemon=True) for w in workers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> KubeStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def runtime_name(self) -> str:
        return self.runtime.name

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the kube stand-in is not started: call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def write_kubeconfig(self, path: Path | str, *, namespace: str = "default") -> Path:
        """A kubeconfig for this server (plain http, no TLS, no credentials), current context selected."""
        name = "knit-standin"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url}}],
            "users": [{"name": name, "user": {}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
            "current-context": name,
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML: every kubeconfig reader takes it
        return path

    def airflow_connection(self, kubeconfig: Path | str, *, namespace: str = "default") -> str:
        """The value for ``AIRFLOW_CONN_KUBERNETES_DEFAULT`` (or any ``AIRFLOW_CONN_<ID>``) using ``kubeconfig``."""
        extra = {"kube_config_path": str(kubeconfig), "namespace": namespace}
        return json.dumps({"conn_type": "kubernetes", "extra": extra})

    # ---- the kubelet's side ----------------------------------------------------------------------------------
    def _start_pod(self, pod: JSON) -> None:
        worker = PodWorker(self.cluster, self.runtime, pod, self.state_dir / "pods")
        with self.cluster.lock:
            if self.cluster.stopping:
                return
            self._workers[worker.uid] = worker
        worker.start()

    def _stop_pod(self, uid: str) -> None:
        with self.cluster.lock:
            worker = self._workers.pop(uid, None)
        if worker is not None:
            worker.stop()

    def set_node(
        self, *, labels: Mapping[str, str] | None = None, taints: Iterable[Mapping[str, str] | str] | None = None
    ) -> None:
        """Change the node's labels (merged) or taints (replaced); pending pods are scheduled again."""
        with self.cluster.lock:
            if labels is not None:
                self.node.labels.update(labels)
            if taints is not None:
                self.node.taints = [_taint(t) for t in taints]
            workers = list(self._workers.values())
        for worker in workers:
            worker.nudge()

    def add_claim(self, name: str, path: Path | str) -> None:
        """A new PersistentVolumeClaim bound to ``path``; pods waiting for it are scheduled again."""
        with self.cluster.lock:
            self.cluster.claims[name] = Path(path)
            workers = list(self._workers.values())
        for worker in workers:
            worker.nudge()

    # ---- introspection ---------------------------------------------------------------------------------------
    def create_pod(self, body: JSON, namespace: str = "default") -> JSON:
        """What ``POST .../pods`` does (checks included), without a client: for setting a scene."""
        return self.cluster.create_pod(namespace, body)

    def phase(self, name: str, namespace: str = "default") -> str | None:
        """The pod's ``status.phase``, None when there is no such pod (any more)."""
        return self.cluster.phase(namespace, name)

    def pods(self, namespace: str | None = None) -> list[JSON]:
        return self.cluster.list_pods(namespace, None, None)["items"]

    def pod(self, name: str, namespace: str = "default") -> JSON:
        return self.cluster.get_pod(namespace, name)

    @property
    def deleted(self) -> list[JSON]:
        with self.cluster.lock:
            return copy.deepcopy(self.cluster.deleted)

    @property
    def calls(self) -> list[tuple[str, str]]:
        with self.cluster.lock:
            return list(self.cluster.calls)

    def events(self, name: str | None = None, namespace: str = "default") -> list[JSON]:
        """Events about pod ``name`` (all when None), oldest first; they outlive the pod, as on a cluster."""
        selector = f"involvedObject.name={name}" if name else None
        return self.cluster.list_events(namespace, None, selector)["items"]

    def event_reasons(self, name: str | None = None, namespace: str = "default") -> list[str]:
        return [e["reason"] for e in self.events(name, namespace)]

    def logs(self, name: str, container: str | None = None, namespace: str = "default") -> str:
        """The container's output so far (also after the pod was deleted)."""
        with self.cluster.lock:
            pods = [*self.cluster.list_pods(namespace, None, None)["items"], *reversed(self.cluster.deleted)]
            pod = next((p for p in pods if p["metadata"]["name"] == name), None)
        if pod is None:
            raise KeyError(f"no pod {namespace}/{name}, live or deleted")
        return self.cluster.logs_text(pod["metadata"]["uid"], container or pod["spec"]["containers"][0]["name"])

    def wait(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Wait until ``predicate()`` holds (checked at every change); False on timeout."""
        return self.cluster.wait(predicate, timeout)

    def wait_for_phase(self, name: str, *phases: str, namespace: str = "default", timeout: float = 60.0) -> JSON:
        """The pod once its phase is one of ``phases``; ``TimeoutError`` naming what it is instead."""
        wanted = phases or ("Succeeded", "Failed")

        if not self.wait(lambda: self.cluster.phase(namespace, name) in wanted, timeout):
            seen = self.cluster.phase(namespace, name) or "no such pod"
            reasons = self.event_reasons(name, namespace)
            raise TimeoutError(f"pod {namespace}/{name} did not reach {wanted} in {timeout}s: it is {seen}; {reasons}")
        return self.pod(name, namespace)
