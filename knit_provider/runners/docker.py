"""The ``docker`` runner: the real image through the ``docker`` CLI (no SDK), with the Run's mounts.

An image docker does not have is built from its mapped build context first. The container is named
``knit-<run id>`` and labelled ``knit.run-id``, so ``kill`` works from any process; it has no network.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knit_provider.core.errors import InvalidInput
from knit_provider.runners.base import (
    OutputSink,
    Pump,
    RunRequest,
    RunResult,
    check_mounts,
    exit_message,
    override_command,
    safe_name,
)
from knit_provider.runners.image_map import ImageMap, normalize_image

__all__ = ["BUILD_PREFIX", "DockerRunner", "container_name"]

BUILD_PREFIX = b"[knit build] "  # build output, in the log and to on_line, told apart from the program's
_START_GRACE = 3.0  # seconds to wait for a late "start" event after `docker run` returned


def container_name(run_id: str) -> str:
    return f"knit-{safe_name(run_id)}"


def _mount_option(source: Path, target: str, read_only: bool) -> str:
    fields = ["type=bind", f"source={source}", f"target={target}", *(["readonly"] if read_only else [])]
    return ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if "," in f or '"' in f else f for f in fields)


@dataclass
class _Active:
    killed: bool = False
    proc: subprocess.Popen[bytes] | None = None  # the build, while building


class DockerRunner:
    def __init__(
        self,
        *,
        image_map: ImageMap,
        docker_bin: str = "docker",
        docker_host: str | None = None,
        network: str = "none",
        user: str | None = None,
    ) -> None:
        self.image_map = image_map
        self.docker_bin = docker_bin
        self.docker_host = docker_host
        self.network = network
        self.user = user  # "uid[:gid]" for --user, so outputs are not root's
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}

    @property
    def docker(self) -> list[str]:
        return [self.docker_bin, *(["-H", self.docker_host] if self.docker_host else [])]

    def _where(self) -> str:
        return self.docker_host or os.environ.get("DOCKER_HOST") or "the default docker daemon"

    # ----------------------------------------------------------------------------------------------------------
    def run(
        self,
        request: RunRequest,
        *,
        on_start: Callable[[], None] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> RunResult:
        check_mounts(request)
        sink = OutputSink(request.log_path, on_line)
        with self._lock:
            active = self._active[request.run_id] = _Active()
        try:
            image = normalize_image(request.image)
            config = self._inspect(image)
            if config is None:
                failed = self._build(image, sink, active)
                if failed is not None and not active.killed:
                    sink.note(failed.message)
                    return failed
                config = self._inspect(image) or {}
            if active.killed:
                return RunResult(137, f"run {request.run_id} was stopped before its container started (runner kill)")
            argv = override_command(config.get("Entrypoint"), config.get("Cmd"), request.entrypoint, request.args)
            program = repr(argv[0]) if argv else "(none)"
            for _ in range(2):
                result = self._execute(request, image, program, sink, active, on_start)
                if result is not None:
                    return result
                self._remove(container_name(request.run_id))  # a leftover of an earlier attempt held the name
            return RunResult(125, f"container name {container_name(request.run_id)} stays in use")
        finally:
            with self._lock:
                self._active.pop(request.run_id, None)
            sink.close()

    def kill(self, run_id: str) -> None:
        with self._lock:
            active = self._active.get(run_id)
            if active is not None:
                active.killed = True
                if active.proc is not None:
                    with contextlib.suppress(ProcessLookupError):
                        active.proc.kill()
        self._remove(container_name(run_id))

    # ----------------------------------------------------------------------------------------------------------
    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([*self.docker, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise InvalidInput(f"the docker CLI ({self.docker_bin}) is not installed or not on PATH") from None

    def _remove(self, name: str) -> None:
        self._cli("rm", "-f", name)

    def _inspect(self, image: str) -> dict | None:
        """The image's Config (Entrypoint, Cmd, ...), or None if docker does not have it."""
        done = self._cli("image", "inspect", "--format", "{{json .Config}}", image)
        if done.returncode == 0:
            with contextlib.suppress(ValueError):
                return json.loads(done.stdout.strip() or "{}") or {}
            return {}
        if "no such image" in done.stderr.lower():
            return None
        raise InvalidInput(f"docker ({self._where()}) cannot be asked for image {image!r}: {done.stderr.strip()}")

    def _build(self, image: str, sink: OutputSink, active: _Active) -> RunResult | None:
        context = self.image_map.resolve(image)
        if context is None:
            return RunResult(
                125,
                f"image {image!r} is not in docker ({self._where()}) and not in the image map "
                f"({self.image_map.describe()}) to build it from",
            )
        sink.line(f"building image {image} from {context}".encode(), BUILD_PREFIX)
        proc = subprocess.Popen(
            [*self.docker, "build", "-t", image, str(context)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        with self._lock:
            active.proc = proc
        assert proc.stdout is not None
        last = ""
        try:
            for raw in iter(proc.stdout.readline, b""):
                sink.line(raw, BUILD_PREFIX)
                if raw.strip():
                    last = raw.decode("utf-8", "replace").strip()
        finally:
            code = proc.wait()
            with self._lock:
                active.proc = None
        if code != 0:
            return RunResult(
                125, f"image {image!r} could not be built from {context}: docker build exit code {code}: {last}"
            )
        return None

    def _command(self, request: RunRequest, image: str, attempt: str) -> list[str]:
        command = [
            *self.docker,
            "run",
            "--rm",
            "--name",
            container_name(request.run_id),
            "--label",
            f"knit.run-id={request.run_id}",
            "--label",
            f"knit.attempt={attempt}",
            "--network",
            self.network,
        ]
        if self.user:
            command += ["--user", self.user]
        for key, value in request.env.items():
            command += ["-e", f"{key}={value}"]
        for mount in request.mounts:
            command += ["--mount", _mount_option(Path(mount.source).absolute(), mount.target, mount.read_only)]
        args = list(request.args or [])
        if request.entrypoint:
            command += ["--entrypoint", request.entrypoint[0]]
            args = [*request.entrypoint[1:], *args]
        return [*command, image, *args]

    def _execute(
        self,
        request: RunRequest,
        image: str,
        program: str,
        sink: OutputSink,
        active: _Active,
        on_start: Callable[[], None] | None,
    ) -> RunResult | None:
        """One ``docker run``; None when the container name was taken (the caller clears it and retries)."""
        attempt = uuid.uuid4().hex
        events = subprocess.Popen(
            [
                *self.docker,
                "events",
                "--since",
                f"{time.time() - 60:.3f}",  # replayed by the daemon: no race with the run below, clocks may differ
                "--filter",
                "type=container",
                "--filter",
                f"label=knit.attempt={attempt}",
                "--format",
                "{{.Action}}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        proc = subprocess.Popen(  # stdout and stderr apart: docker re-merges them write by write, not by line
            self._command(request, image, attempt),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        pump = Pump()
        assert proc.stdout is not None and proc.stderr is not None and events.stdout is not None
        pump.add("out", proc.stdout)
        pump.add("err", proc.stderr)
        pump.add("events", events.stdout)
        output = {"out", "err"}
        started = ended = False
        docker_error = ""
        deadline: float | None = None
        try:
            while output & pump.open or (not started and not ended and not docker_error and "events" in pump.open):
                if deadline is None and not output & pump.open:  # docker run is done; its "start" may lag
                    deadline = time.monotonic() + _START_GRACE
                if deadline is not None and time.monotonic() > deadline:
                    break
                item = pump.get(timeout=0.2)
                if item is None or item[1] is None:
                    continue
                stream, raw = item
                text = raw.decode("utf-8", "replace").strip()
                if stream in output:
                    sink.line(raw)
                    if stream == "err" and (text.startswith("docker: ") or "Error response from daemon" in text):
                        docker_error = text
                elif text == "start" and not started:
                    started = True
                    if active.killed:
                        self._remove(container_name(request.run_id))
                    if on_start is not None:
                        on_start()
                elif text in ("die", "destroy"):
                    ended = True
            code = proc.wait()
        except BaseException:  # a callback failed or we are interrupted: do not leave the container running
            self._remove(container_name(request.run_id))
            proc.kill()
            proc.wait()
            raise
        finally:
            events.kill()
            events.wait()
        if not started and not docker_error and not active.killed and on_start is not None:
            on_start()  # the program ran, but its "start" event never came (events unavailable): still say so
        if active.killed and code != 0:
            return RunResult(code, f"program {program} was stopped: container removed (runner kill)")
        if code == 0:
            return RunResult(0, "")
        if not started and docker_error:
            detail = docker_error.removeprefix("docker: ").removeprefix("Error response from daemon: ")
            if "already in use" in detail:
                return None
            if "exec: " in detail:
                detail = detail[detail.index("exec: ") :]
            lowered = detail.lower()
            if code == 127 or "executable file not found" in lowered or "exec: " in lowered and "no such" in lowered:
                return RunResult(127, f"program {program} not found in image {image!r}: {detail}")
            if code == 126 or "permission denied" in lowered:
                return RunResult(126, f"program {program} cannot be executed in image {image!r}: {detail}")
            return RunResult(code, f"docker could not run image {image!r}: {detail}")
        return RunResult(code, exit_message(code, f"program {program}"))
