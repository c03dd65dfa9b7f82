"""The ``process`` runner: the plan's program as a host process in a bubblewrap sandbox (no Docker, no cluster).

The image ref resolves through the image map to a build context; its Dockerfile gives WORKDIR, ENTRYPOINT, CMD and
ENV (the plan's entrypoint/args override them as Docker does) and the files it COPYs, shown read-only where they
would land. The program runs with the host's interpreters: ``python`` is the one running us, venv included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knit_provider.core.errors import InvalidInput
from knit_provider.core.image_config import read_dockerfile
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
from knit_provider.runners.dockerfile import read_context_files
from knit_provider.runners.image_map import ImageMap, normalize_image
from knit_provider.runners.sandbox import SYSTEM_DIRS, Sandbox, build_sandbox, find_program, python_dirs

__all__ = ["DEFAULT_PATH", "ProcessRunner"]

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class _Active:
    pid: int
    killed: bool = False


@dataclass(frozen=True)
class _Prepared:
    argv: list[str]
    env: dict[str, str]
    workdir: str
    sandbox: Sandbox


class ProcessRunner:
    """Runs each Run in ``bwrap``; ``kill`` works from any thread, and from another process through a pid file."""

    def __init__(
        self,
        *,
        image_map: ImageMap,
        bwrap_bin: str = "bwrap",
        state_dir: Path | str | None = None,
        system_dirs: Sequence[str] = SYSTEM_DIRS,
        network: bool = False,
    ) -> None:
        """``network``: keep the host's network (Runs get none; the kube stand-in's pods do)."""
        self.image_map = image_map
        self.network = network
        self.bwrap_bin = bwrap_bin
        self.state_dir = Path(state_dir or Path(tempfile.gettempdir()) / f"knit-process-runs-{os.getuid()}")
        self.system_dirs = tuple(system_dirs)
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}

    # ----------------------------------------------------------------------------------------------------------
    def run(
        self,
        request: RunRequest,
        *,
        on_start: Callable[[], None] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> RunResult:
        bwrap = self._bwrap()
        check_mounts(request)
        sink = OutputSink(request.log_path, on_line)
        try:
            prepared = self._prepare(request)
            if isinstance(prepared, RunResult):
                sink.note(prepared.message)
                return prepared
            return self._execute(bwrap, request, prepared, sink, on_start)
        finally:
            sink.close()

    def kill(self, run_id: str) -> None:
        """SIGKILL the sandbox's process group; bwrap's pid-namespace init takes every process in it along."""
        with self._lock:
            active = self._active.get(run_id)
            if active is not None:
                active.killed = True
        pid = active.pid if active else self._pid_from_file(run_id)
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    # ----------------------------------------------------------------------------------------------------------
    def _bwrap(self) -> str:
        found = shutil.which(self.bwrap_bin)
        if not found:
            raise InvalidInput(
                f"bubblewrap ({self.bwrap_bin}) is not installed: the process runner needs it to sandbox Runs "
                "(Debian/Ubuntu: apt-get install bubblewrap), or use the docker runner"
            )
        return found

    def _prepare(self, request: RunRequest) -> _Prepared | RunResult:
        image = normalize_image(request.image)
        context = self.image_map.resolve(image)
        if context is None:
            return RunResult(
                125,
                f"image {request.image!r} is not in the image map ({self.image_map.describe()}) and the process "
                f"runner needs a build context to run it: map '{image}' to a directory with its Dockerfile",
            )
        roots = [*self.system_dirs, *python_dirs()]

        def is_dir(path: str) -> bool:
            return any(path == r or path.startswith(r + "/") for r in roots) and os.path.isdir(path)

        try:
            config = read_dockerfile(context, None)
            files = read_context_files(context, is_dir)
        except InvalidInput as exc:
            return RunResult(125, f"image {image!r} cannot be used from its build context {context}: {exc}")
        argv = override_command(config.entrypoint, config.cmd, request.entrypoint, request.args)
        if not argv:
            return RunResult(
                125,
                f"image {image!r} has no ENTRYPOINT or CMD ({context / 'Dockerfile'}) and the plan sets no "
                "entrypoint or args: nothing to run",
            )
        workdir = config.workdir or files.workdir or "/"
        env = {"PYTHONUNBUFFERED": "1", **config.env}  # unbuffered: lines reach the task log as they are printed
        env["PATH"] = _sandbox_path(config.env.get("PATH"))
        env["HOME"] = "/tmp"  # the only writable place that always exists
        env.setdefault("LANG", "C.UTF-8")
        env.update(request.env)
        sandbox = build_sandbox(files=files, mounts=request.mounts, workdir=workdir, system_dirs=self.system_dirs)
        found, host, looked = find_program(sandbox, argv[0], env["PATH"], workdir)
        if host is None:
            if found:
                return RunResult(126, f"program {argv[0]!r} is not executable in the sandbox ({found})")
            where = f"PATH={env['PATH']}" if "/" not in argv[0] else f"looked at {looked[0]}"
            return RunResult(127, f"program {argv[0]!r} not found in the sandbox ({where}) for image {image!r}")
        return _Prepared(argv, env, workdir, sandbox)

    def _execute(
        self,
        bwrap: str,
        request: RunRequest,
        prepared: _Prepared,
        sink: OutputSink,
        on_start: Callable[[], None] | None,
    ) -> RunResult:
        status_read, status_write = os.pipe()
        name = safe_name(request.run_id)
        command = [
            bwrap,
            *prepared.sandbox.args,
            "--chdir",
            prepared.workdir,
            "--unshare-all",
            *(["--share-net"] if self.network else []),
            "--die-with-parent",
            "--new-session",
            "--hostname",
            f"knit-{name}"[:63],
            "--clearenv",
            *(item for key, value in prepared.env.items() for item in ("--setenv", key, value)),
            "--json-status-fd",
            str(status_write),
            "--",
            *prepared.argv,
        ]
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(status_write,),
                start_new_session=True,  # its own process group, for kill()
            )
        finally:
            os.close(status_write)
        with self._lock:
            self._active[request.run_id] = active = _Active(proc.pid)
        pidfile = self._write_pid(request.run_id, proc.pid)
        pump = Pump()
        assert proc.stdout is not None
        pump.add("out", proc.stdout)
        pump.add("status", os.fdopen(status_read, "rb"))
        program = repr(prepared.argv[0])
        exit_status: int | None = None
        bwrap_error = ""
        try:
            while pump.open:
                item = pump.get()
                if item is None or item[1] is None:
                    continue
                stream, raw = item
                if stream == "out":
                    sink.line(raw)
                    if raw.startswith(b"bwrap: "):
                        bwrap_error = raw.decode("utf-8", "replace").strip()
                    continue
                with contextlib.suppress(ValueError):
                    status = json.loads(raw)
                    if "child-pid" in status and on_start is not None:
                        on_start()  # the sandbox exists and is about to exec the program
                    if "exit-code" in status:
                        exit_status = int(status["exit-code"])
            code = proc.wait()
        except BaseException:  # a callback failed, or we are being interrupted: never leave the sandbox behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            with self._lock:
                self._active.pop(request.run_id, None)
            if pidfile is not None:
                pidfile.unlink(missing_ok=True)
        if active.killed and code < 0:
            return RunResult(137, f"program {program} was stopped: killed by signal SIGKILL (runner kill)")
        if code < 0:
            return RunResult(128 - code, exit_message(code, f"program {program}"))
        if exit_status is not None:
            return RunResult(exit_status, exit_message(exit_status, f"program {program}"))
        if "execvp" in bwrap_error:  # the program vanished between our look-up and bwrap's exec
            missing = "No such file" in bwrap_error
            return RunResult(127 if missing else 126, f"program {program} could not be started: {bwrap_error}")
        return RunResult(125, f"the sandbox could not be set up: {bwrap_error or f'bwrap exit code {code}'}")

    # ----------------------------------------------------------------------------------------------------------
    def _pid_path(self, run_id: str) -> Path:
        return self.state_dir / f"{safe_name(run_id, 200)}.pid"

    def _write_pid(self, run_id: str, pid: int) -> Path | None:
        with contextlib.suppress(OSError):
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self._pid_path(run_id)
            path.write_text(f"{pid}\n")
            return path
        return None

    def _pid_from_file(self, run_id: str) -> int | None:
        """The pid another process wrote, if it is still that Run's bwrap (pids get reused)."""
        try:
            pid = int(self._pid_path(run_id).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        hostname = f"knit-{safe_name(run_id)}"[:63].encode()
        looks_right = "bwrap" in os.path.basename(cmdline[0].decode(errors="replace")) and hostname in cmdline
        return pid if looks_right else None


def _sandbox_path(image_path: str | None) -> str:
    """The venv's bin first, then the image's PATH (an unexpanded ``$PATH`` of the base image -> the default)."""
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    parts = [venv_bin]
    for part in (image_path if image_path is not None else DEFAULT_PATH).split(":"):
        parts.extend(DEFAULT_PATH.split(":") if not part else [part])
    return ":".join(dict.fromkeys(parts))
