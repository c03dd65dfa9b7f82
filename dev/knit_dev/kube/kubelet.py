"""One pod's life on the stand-in's node, as kube-scheduler and kubelet would report it.

Pending (unschedulable: ``PodScheduled`` False ``Unschedulable`` + ``FailedScheduling``) -> scheduled -> volumes
(``FailedMount`` while one cannot be set up) -> per container: image (``ErrImagePull`` / ``ImagePullBackOff`` /
``ErrImageNeverPull``), config (``CreateContainerConfigError``: env from a missing secret, a subPath escaping its
volume), run (``running`` -> ``terminated``) -> ``Succeeded`` / ``Failed``. Containers run once (restartPolicy
Never, what KPO sets); init containers run first, one by one; a native sidecar (an init container with
``restartPolicy: Always``) is started in its turn and left running beside the rest, then, once the regular
containers ended, stopped with SIGTERM (killed after ``terminationGracePeriodSeconds``); the pod ends after it.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from knit_dev.kube.objects import rfc3339
from knit_dev.kube.runtime import ContainerRun, Runtime
from knit_dev.kube.scheduling import unschedulable_reason
from knit_dev.kube.store import Cluster
from knit_dev.kube.volumes import ConfigError, container_env, container_mounts, expand, pod_volumes
from knit_provider.runners.base import RunResult

__all__ = ["PodWorker"]

JSON = dict[str, Any]
_RETRY = 1.0  # seconds between retries of a failed mount / config / pull (kubelet backs off longer)
_POD_IPS = iter(range(2, 1 << 16))


def _is_sidecar(container: JSON) -> bool:
    """An init container with ``restartPolicy: Always`` (Kubernetes' native sidecar)."""
    return container.get("restartPolicy") == "Always"


class PodWorker:
    """The scheduler's and kubelet's work for one pod, on a thread; ``stop()`` is what a delete does."""

    def __init__(self, cluster: Cluster, runtime: Runtime, pod: JSON, state_dir: Path) -> None:
        self.cluster, self.runtime = cluster, runtime
        meta = pod["metadata"]
        self.uid, self.namespace, self.name = meta["uid"], meta["namespace"], meta["name"]
        self.pod = pod  # as created; its spec does not change
        self.spec: JSON = pod["spec"]
        self.dir = state_dir / f"{self.namespace}_{self.name}_{self.uid}"
        number = next(_POD_IPS)
        self.pod_ip = f"10.244.{number >> 8}.{number & 255}"
        self._stop = threading.Event()
        self._nudge = threading.Event()
        self._lock = threading.RLock()  # held while a status is built and written: writes keep their order
        self._runs: dict[str, str] = {}  # run id -> container name, for the containers started
        self._scheduled = False
        self._conditions: dict[str, JSON] = {}
        self._status: dict[str, JSON] = {}  # container name -> containerStatus
        self._phase_reason: tuple[str, str] | None = None  # (reason, message) of a pod-level failure
        self._start_time: str | None = None
        self._timer: threading.Timer | None = None  # activeDeadlineSeconds
        self._thread = threading.Thread(target=self._main, name=f"kube-standin-{self.name}", daemon=True)

    # ----------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Something it waits for may have changed (node labels, claims): look again now."""
        self._nudge.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Kill its containers and wait for the thread; ``Killing`` events for the running ones."""
        with self._lock:
            self._stop.set()
            runs = dict(self._runs)
        self._nudge.set()
        if self._timer is not None:
            self._timer.cancel()
        for name in runs.values():
            if "running" in self._status.get(name, {}).get("state", {}):
                self._event("Normal", "Killing", f"Stopping container {name}", name)
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            for run_id in runs:  # again until it ends: a kill can land before the runner knows the process
                self.runtime.kill(run_id)
            self._thread.join(0.5)
            with self._lock:
                runs = dict(self._runs)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ----------------------------------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> bool:
        """Wait (a nudge ends it early); True when the pod is going away."""
        self._nudge.wait(seconds)
        self._nudge.clear()
        return self._stop.is_set()

    def _event(self, kind: str, reason: str, message: str, container: str | None = None, **options: str) -> None:
        path = ""
        if container is not None:
            group = "initContainers" if any(c["name"] == container for c in self._init()) else "containers"
            path = f"spec.{group}{{{container}}}"
        self.cluster.record_event(self.pod, kind, reason, message, field_path=path, **options)

    def _init(self) -> list[JSON]:
        return list(self.spec.get("initContainers") or [])

    def _condition(self, kind: str, status: bool, reason: str = "", message: str = "") -> None:
        old = self._conditions.get(kind)
        value = "True" if status else "False"
        condition: JSON = {"type": kind, "status": value, "lastProbeTime": None}
        condition["lastTransitionTime"] = old["lastTransitionTime"] if old and old["status"] == value else rfc3339()
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        self._conditions[kind] = condition

    def _set_state(self, name: str, state: JSON, **fields: Any) -> None:
        with self._lock:
            status = self._status[name]
            status["state"] = state
            status.update(fields)
            self._publish()

    # ----------------------------------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._life()
            if self._timer is not None:
                self._timer.cancel()
        except Exception as exc:  # a bug of the stand-in: fail the pod visibly instead of hanging a test
            detail = "".join(traceback.format_exception(exc))[-1500:]
            self._phase_reason = ("StandinError", f"the kube stand-in failed: {exc!r}\n{detail}")
            self._event("Warning", "StandinError", f"the kube stand-in failed: {exc!r}")
            self._publish()

    def _life(self) -> None:
        while (why := unschedulable_reason(self.spec, self.cluster.node, self.cluster.claims)) is not None:
            self._condition("PodScheduled", False, "Unschedulable", why)
            self._publish()
            self._event("Warning", "FailedScheduling", why, component="default-scheduler")
            if self._sleep(5.0):
                return
        self._bind()
        while True:
            volumes, problem = pod_volumes(self.pod, self.cluster.claims, self.dir / "volumes")
            if volumes is not None:
                break
            self._event("Warning", "FailedMount", problem or "")
            if self._sleep(_RETRY):
                return
        self._condition("PodReadyToStartContainers", True)
        self._publish()
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline:
            self._timer = threading.Timer(float(deadline), self._deadline_exceeded)
            self._timer.daemon = True
            self._timer.start()
        failures: list[BaseException] = []

        def run(container: JSON, started: threading.Event | None = None) -> None:
            try:
                self._container(container, volumes, started)
            except BaseException as exc:  # handed to _main, which fails the pod with it
                failures.append(exc)
            finally:
                if started is not None:
                    started.set()  # ended (or never started): whoever waits for its start waits no more

        sidecars: list[tuple[JSON, threading.Thread]] = []
        for container in self._init():
            if _is_sidecar(container):  # native sidecar: started in order, runs beside the rest, stopped last
                up = threading.Event()
                thread = threading.Thread(target=run, args=(container, up), daemon=True)
                thread.start()
                up.wait()
                sidecars.append((container, thread))
                if not self._started(container, volumes):  # its startupProbe: the next container waits for it
                    self._phase_reason = ("", "")
                    self._stop_sidecars(sidecars)
                    self._publish()
                    return
                continue
            result = self._container(container, volumes)
            if result is None:
                return self._stop_sidecars(sidecars)
            if result != 0:
                self._phase_reason = ("", "")  # an init container failed: the pod fails (restartPolicy Never)
                self._stop_sidecars(sidecars)
                self._publish()
                return
        self._condition("Initialized", True)
        self._publish()
        threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in self.spec["containers"]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._stop_sidecars(sidecars)
        if failures:
            raise failures[0]

    def _started(self, container: JSON, volumes: dict[str, tuple[Path, bool]]) -> bool:
        """A sidecar's ``startupProbe`` (``exec`` only), run as kubelet runs it: its command in the container's
        image and mounts, every ``periodSeconds``, ``failureThreshold`` times at most. No probe: started."""
        probe = container.get("startupProbe") or {}
        command = (probe.get("exec") or {}).get("command")
        if not command:
            return True
        period = float(probe.get("periodSeconds", 10))
        for attempt in range(int(probe.get("failureThreshold", 3))):
            run = self._configure(container, volumes)
            if run is None:
                return False
            run = dataclasses.replace(run, run_id=f"{run.run_id}-probe{attempt}"[-63:], command=list(command),
                                      args=None, log_path=self.dir / f"{container['name']}.probe.log")  # fmt: skip
            if self.runtime.run(run, lambda: None, lambda _line: None).ok:
                return True
            if self._sleep(period):
                return False
        self._event("Warning", "Unhealthy", "Startup probe failed", container["name"])
        return False

    def _stop_sidecars(self, sidecars: list[tuple[JSON, threading.Thread]]) -> None:
        """What kubelet does once the regular containers ended: SIGTERM each sidecar, last started first, and wait
        for it up to the pod's ``terminationGracePeriodSeconds`` before killing it."""
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        for container, thread in reversed(sidecars):
            with self._lock:
                run_ids = [r for r, name in self._runs.items() if name == container["name"]]
            if run_ids and thread.is_alive():
                self._event("Normal", "Killing", f"Stopping container {container['name']}", container["name"])
            for run_id in run_ids:
                self.runtime.terminate(run_id)
            thread.join(grace)
            for run_id in run_ids if thread.is_alive() else ():
                self.runtime.kill(run_id)
            thread.join()

    def _bind(self) -> None:
        self._scheduled = True
        self._start_time = rfc3339()
        self._condition("PodScheduled", True)
        self._condition("PodReadyToStartContainers", False)
        init = self._init()
        self._condition("Initialized", not init, *(("ContainersNotInitialized",) if init else ()))
        names = " ".join(c["name"] for c in self.spec["containers"])
        self._condition("Ready", False, "ContainersNotReady", f"containers with unready status: [{names}]")
        self._condition("ContainersReady", False, "ContainersNotReady", f"containers with unready status: [{names}]")
        waiting = "PodInitializing" if init else "ContainerCreating"
        for container in [*init, *self.spec["containers"]]:
            self._status[container["name"]] = {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": waiting}},
                "lastState": {},
            }
        self._publish()
        where = f"{self.namespace}/{self.name} to {self.cluster.node.name}"
        self._event("Normal", "Scheduled", f"Successfully assigned {where}", component="default-scheduler")

    def _deadline_exceeded(self) -> None:
        if self._phase() in ("Succeeded", "Failed"):
            return
        self._phase_reason = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
        self._event("Normal", "DeadlineExceeded", self._phase_reason[1])
        with self._lock:
            self._stop.set()
            runs = list(self._runs)
        self._nudge.set()
        for run_id in runs:
            self.runtime.kill(run_id)
        self._publish()

    # ----------------------------------------------------------------------------------------------------------
    def _pull(self, container: JSON) -> bool:
        """Until the image is there; False when the pod goes away first."""
        name, image = container["name"], container["image"]
        policy = container.get("imagePullPolicy", "IfNotPresent")
        backoff = _RETRY
        while True:
            if policy != "Always" and self.runtime.present(image):
                self._event("Normal", "Pulled", f'Container image "{image}" already present on machine', name)
                return True
            if policy == "Never":
                why = f'Container image "{image}" is not present with pull policy of Never'
                self._set_state(name, {"waiting": {"reason": "ErrImageNeverPull", "message": why}})
                self._event("Warning", "ErrImageNeverPull", why, name)
                if self._sleep(backoff):
                    return False
                continue
            self._event("Normal", "Pulling", f'Pulling image "{image}"', name)
            began = time.monotonic()
            why = self.runtime.pull(image)
            if why is None:
                took = f"{(time.monotonic() - began) * 1000:.0f}ms"
                self._event(
                    "Normal",
                    "Pulled",
                    f'Successfully pulled image "{image}" in {took} ({took} including waiting)',
                    name,
                )
                return True
            self._set_state(name, {"waiting": {"reason": "ErrImagePull", "message": why}})
            self._event("Warning", "Failed", f'Failed to pull image "{image}": {why}', name)
            self._event("Warning", "Failed", "Error: ErrImagePull", name)
            if self._sleep(backoff):
                return False
            back_off = f'Back-off pulling image "{image}"'
            self._set_state(
                name, {"waiting": {"reason": "ImagePullBackOff", "message": f"{back_off}: ErrImagePull: {why}"}}
            )
            self._event("Normal", "BackOff", back_off, name)
            self._event("Warning", "Failed", "Error: ImagePullBackOff", name)
            if self._sleep(backoff):
                return False
            backoff = min(backoff * 2, 10.0)

    def _configure(self, container: JSON, volumes: dict[str, tuple[Path, bool]]) -> ContainerRun | None:
        """The run for ``container`` once its env and mounts can be made; None when the pod goes away first."""
        name = container["name"]
        while True:
            try:
                env = container_env(container, self.cluster.pod_by_uid(self.uid) or self.pod, self.cluster.secrets)
                mounts = container_mounts(container, volumes, env)
                break
            except ConfigError as exc:
                self._set_state(name, {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}})
                self._event("Warning", "Failed", f"Error: {exc}", name)
                if self._sleep(_RETRY):
                    return None
        command = [expand(part, env) for part in container.get("command") or []] or None
        args = [expand(part, env) for part in container.get("args") or []] or None
        self.dir.mkdir(parents=True, exist_ok=True)
        return ContainerRun(
            run_id=f"pod-{self.uid.replace('-', '')[:16]}-{name}",  # names are cut at 63: the unique part first
            image=container["image"],
            command=command,
            args=args,
            env=env,
            workdir=container.get("workingDir") or None,
            mounts=tuple(mounts),
            log_path=self.dir / f"{name}.log",
        )

    def _container(
        self, container: JSON, volumes: dict[str, tuple[Path, bool]], up: threading.Event | None = None
    ) -> int | None:
        """Pull, configure, run; the exit code, or None when the pod went away before it ended. ``up`` is set
        once the container runs."""
        name = container["name"]
        if not self._pull(container):
            return None
        run = self._configure(container, volumes)
        if run is None:
            return None
        with self._lock:
            if self._stop.is_set():
                return None
            self._runs[run.run_id] = name
        container_id = f"{self.runtime.name}://{run.run_id}"
        self._set_state(name, self._status[name]["state"], imageID=self.runtime.image_id(run.image))
        self._event("Normal", "Created", f"Created container: {name}", name)
        started: list[str] = []
        early: list[tuple[int, str]] = []  # output before the start: the runtime's own, dropped if it never starts

        def on_start() -> None:
            started.append(rfc3339())
            self._set_state(
                name, {"running": {"startedAt": started[0]}}, started=True, ready=True, containerID=container_id
            )
            self._event("Normal", "Started", f"Started container {name}", name)
            for at, text in early:
                self.cluster.log_line(self.uid, name, text, at=at)
            if up is not None:
                up.set()

        def on_line(text: str) -> None:  # the runners call both callbacks on this thread, in order
            if started:
                self.cluster.log_line(self.uid, name, text)
            else:
                early.append((time.time_ns(), text))

        try:
            result = self.runtime.run(run, on_start, on_line)
        except Exception as exc:  # misconfiguration the runner refuses (e.g. no bubblewrap): the container fails
            result = RunResult(128, f"the runtime refused to run it: {exc}")
        finally:
            with self._lock:
                self._runs.pop(run.run_id, None)
        self._set_state(
            name,
            {"terminated": self._terminated(container, result, started)},
            ready=False,
            started=False,
            containerID=container_id,
        )
        self.cluster.log_done(self.uid, name)
        if not started:
            self._event("Warning", "Failed", f"Error: {result.message}", name)
        return result.exit_code if started else 128

    def _terminated(self, container: JSON, result: RunResult, started: list[str]) -> JSON:
        finished = rfc3339()
        if not started:  # never ran: containerd's StartError
            return {"exitCode": 128, "reason": "StartError", "message": result.message, "finishedAt": finished}
        state: JSON = {"exitCode": result.exit_code, "reason": "Completed" if result.ok else "Error"}
        state.update(startedAt=started[0], finishedAt=finished)
        if not result.ok and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            tail = self.cluster.logs_text(self.uid, container["name"]).splitlines()[-80:]
            state["message"] = "\n".join(tail)[-2048:]
        return state

    # ----------------------------------------------------------------------------------------------------------
    def _phase(self) -> str:
        if self._phase_reason is not None:
            return "Failed"
        if not self._scheduled:
            return "Pending"
        states = [self._status[c["name"]]["state"] for c in self.spec["containers"]]
        sidecars = [self._status[c["name"]]["state"] for c in self._init() if _is_sidecar(c)]
        if all("terminated" in s for s in states):
            if any("running" in s for s in sidecars):
                return "Running"  # the regular containers ended: the pod ends once its sidecars did
            return "Succeeded" if all(s["terminated"]["exitCode"] == 0 for s in states) else "Failed"
        return "Running" if any("running" in s for s in states) else "Pending"

    def _publish(self) -> None:
        with self._lock:
            phase = self._phase()
            containers = [self._status[c["name"]] for c in self.spec["containers"] if c["name"] in self._status]
            if self._scheduled:
                all_ready = bool(containers) and all(s["ready"] for s in containers)
                unready = " ".join(s["name"] for s in containers if not s["ready"])
                if phase in ("Succeeded", "Failed"):
                    reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
                    for kind in ("Ready", "ContainersReady"):
                        self._condition(kind, False, reason)
                else:
                    for kind in ("Ready", "ContainersReady"):
                        self._condition(
                            kind,
                            all_ready,
                            *(
                                ()
                                if all_ready
                                else ("ContainersNotReady", f"containers with unready status: [{unready}]")
                            ),
                        )
            status: JSON = {"phase": phase, "conditions": list(self._conditions.values())}
            if self._scheduled:
                status.update(hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}], startTime=self._start_time)
                status.update(podIP=self.pod_ip, podIPs=[{"ip": self.pod_ip}], containerStatuses=containers)
                if self._init():
                    status["initContainerStatuses"] = [self._status[c["name"]] for c in self._init()]
            if self._phase_reason and self._phase_reason[0]:
                status["reason"], status["message"] = self._phase_reason
            node = self.cluster.node.name if self._scheduled else None
            snapshot = copy.deepcopy(status)

            def mutate(pod: JSON) -> None:
                snapshot["qosClass"] = pod["status"].get("qosClass")
                pod["status"] = snapshot
                if node:
                    pod["spec"]["nodeName"] = node

            self.cluster.set_status(self.uid, mutate)
