"""The container runtimes behind the stand-in's kubelet: the knit runners, asked the way a kubelet asks CRI.

Containers have the host's network, as a pod has one (the process and docker runners give Runs none).
``docker``: ``runners.docker.DockerRunner`` against the given daemon; the daemon's images are the registry (an
image it lacks is built from the image map when mapped, else the pull fails). ``bwrap``: ``runners.process``'s
sandbox; the image map is the registry (an unmapped image cannot be pulled). Both add ``workingDir``, which a
knit ``RunRequest`` does not carry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from knit_provider.core.errors import InvalidInput
from knit_provider.runners.base import Mount, RunRequest, RunResult
from knit_provider.runners.docker import DockerRunner, container_name
from knit_provider.runners.image_map import ImageMap, normalize_image
from knit_provider.runners.process import ProcessRunner
from knit_provider.runners.sandbox import Sandbox

__all__ = ["BwrapRuntime", "ContainerRun", "DockerRuntime", "Runtime", "choose_runtime"]


@dataclass(frozen=True)
class ContainerRun:
    run_id: str  # unique per pod and container
    image: str
    command: list[str] | None  # the container's ``command`` (replaces ENTRYPOINT)
    args: list[str] | None  # the container's ``args`` (replaces CMD)
    env: dict[str, str]
    workdir: str | None
    mounts: tuple[Mount, ...]
    log_path: Path


class Runtime(Protocol):
    name: str

    def pull(self, image: str) -> str | None:
        """Make ``image`` present; None when it is, else why it cannot be pulled (one line)."""

    def present(self, image: str) -> bool: ...

    def image_id(self, image: str) -> str: ...

    def run(self, run: ContainerRun, on_start: Callable[[], None], on_line: Callable[[str], None]) -> RunResult: ...

    def kill(self, run_id: str) -> None: ...


def _request(run: ContainerRun) -> RunRequest:
    return RunRequest(
        run_id=run.run_id,
        image=run.image,
        entrypoint=run.command,
        args=run.args,
        mounts=run.mounts,
        env=dict(run.env),
        log_path=run.log_path,
    )


class _WorkdirProcessRunner(ProcessRunner):
    """The process runner, starting the program in the container's ``workingDir`` (made if missing)."""

    def __init__(self, *, workdirs: dict[str, str], **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._workdirs = workdirs

    def _prepare(self, request: RunRequest):  # type: ignore[no-untyped-def]
        prepared = super()._prepare(request)
        if isinstance(prepared, RunResult):
            return prepared
        workdir = self._workdirs.get(request.run_id)
        if not workdir:
            return prepared
        sandbox = Sandbox([*prepared.sandbox.args, "--dir", workdir], list(prepared.sandbox.table))
        return dataclasses.replace(prepared, workdir=workdir, sandbox=sandbox)


class _WorkdirDockerRunner(DockerRunner):
    """The docker runner with ``--workdir`` for the container's ``workingDir``."""

    def __init__(self, *, workdirs: dict[str, str], **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._workdirs = workdirs

    def _command(self, request: RunRequest, image: str, attempt: str) -> list[str]:
        command = super()._command(request, image, attempt)
        if workdir := self._workdirs.get(request.run_id):
            at = command.index("run") + 1
            command[at:at] = ["--workdir", workdir]
        return command


class _Base:
    name = "base"

    def __init__(self, image_map: ImageMap) -> None:
        self.image_map = image_map
        self._workdirs: dict[str, str] = {}
        self._lock = threading.Lock()
        self.runner: ProcessRunner | DockerRunner

    def run(self, run: ContainerRun, on_start: Callable[[], None], on_line: Callable[[str], None]) -> RunResult:
        with self._lock:
            if run.workdir:
                self._workdirs[run.run_id] = run.workdir
        try:
            return self.runner.run(_request(run), on_start=on_start, on_line=on_line)
        finally:
            with self._lock:
                self._workdirs.pop(run.run_id, None)

    def kill(self, run_id: str) -> None:
        self.runner.kill(run_id)

    def terminate(self, run_id: str) -> None:
        """SIGTERM (what kubelet sends a container it stops), so the program can finish its work."""
        raise NotImplementedError


class BwrapRuntime(_Base):
    name = "bwrap"

    def __init__(self, image_map: ImageMap, state_dir: Path) -> None:
        super().__init__(image_map)
        self.runner = _WorkdirProcessRunner(
            workdirs=self._workdirs, image_map=image_map, state_dir=state_dir, network=True
        )  # a pod has the network (a Run's stager needs its store)

    def present(self, image: str) -> bool:
        return image in self.image_map

    def terminate(self, run_id: str) -> None:
        """SIGTERM to the container's processes, not to bwrap (which would take them down at once)."""
        runner = self.runner
        with runner._lock:
            active = runner._active.get(run_id)
        pid = active.pid if active else runner._pid_from_file(run_id)
        for child in _descendants(pid) if pid else []:
            if _command_name(child) != "bwrap":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGTERM)

    def pull(self, image: str) -> str | None:
        ref = normalize_image(image)
        try:
            if self.image_map.resolve(image) is not None:
                return None
        except InvalidInput as exc:
            return f'failed to pull and unpack image "{ref}": {exc} (kube stand-in, bwrap runtime)'
        return (
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": {ref}: not found '
            f"(kube stand-in, bwrap runtime: not in the image map: {self.image_map.describe()})"
        )

    def image_id(self, image: str) -> str:
        context = self.image_map.resolve(image)
        return f"knit-image-map://{context}" if context else ""


class DockerRuntime(_Base):
    name = "docker"

    def __init__(self, image_map: ImageMap, docker_host: str | None) -> None:
        super().__init__(image_map)
        self.docker_host = docker_host
        # an empty image map: this runner never builds; pull() does, so a build failure is a pull failure
        self.runner = _WorkdirDockerRunner(
            workdirs=self._workdirs, image_map=ImageMap(), docker_host=docker_host, network="host"
        )  # a pod has the network (a Run's stager needs its store)

    def _docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.runner.docker, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
        )

    def present(self, image: str) -> bool:
        return self._docker("image", "inspect", normalize_image(image)).returncode == 0

    def terminate(self, run_id: str) -> None:
        self._docker("kill", "--signal", "TERM", container_name(run_id))

    def image_id(self, image: str) -> str:
        done = self._docker("image", "inspect", "--format", "{{.Id}}", normalize_image(image))
        return f"docker-pullable://{normalize_image(image)}@{done.stdout.strip()}" if done.returncode == 0 else ""

    def pull(self, image: str) -> str | None:
        ref = normalize_image(image)
        if self.present(ref):
            return None
        where = self.docker_host or "the default docker daemon"
        try:
            context = self.image_map.resolve(ref)
        except InvalidInput as exc:
            return f'failed to pull and unpack image "{ref}": {exc} (kube stand-in, docker runtime)'
        if context is None:
            return (
                f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": {ref}: not found '
                f"(kube stand-in: not in the docker daemon at {where}, nor in the image map)"
            )
        built = self._docker("build", "-t", ref, str(context))
        if built.returncode != 0:
            last = (built.stderr or built.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return f'failed to pull and unpack image "{ref}": building it from {context} failed: {last[0]}'
        return None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(0), []):
            found.append(child)
            pending.append(child)
    return found


def _command_name(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as comm:
        return comm.read().strip()
    return ""


def choose_runtime(
    runtime: str | None, *, image_map: ImageMap, docker_host: str | None, state_dir: Path
) -> DockerRuntime | BwrapRuntime:
    """``docker`` when asked, or when unset and a daemon answers; else ``bwrap``."""
    if runtime not in (None, "docker", "bwrap"):
        raise ValueError(f"runtime {runtime!r}: use 'docker' or 'bwrap'")
    if runtime is None:
        docker = shutil.which("docker")
        host = ["-H", docker_host] if docker_host else []
        answered = docker and subprocess.run([docker, *host, "info"], capture_output=True, check=False).returncode == 0
        runtime = "docker" if answered else "bwrap"
    if runtime == "docker":
        return DockerRuntime(image_map, docker_host)
    return BwrapRuntime(image_map, state_dir)
