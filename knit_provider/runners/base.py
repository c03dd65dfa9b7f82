"""What every runner shares: the request and result types, the runner protocol, and output streaming.

A runner turns a :class:`RunRequest` into a :class:`RunResult`. Failures that are the Run's own (a missing image,
a program that does not exist, a non-zero exit) are results, not exceptions, so the caller records them as the
Run's failure; ``InvalidInput`` is raised only for misconfiguration (a malformed image map, no bubblewrap).
"""

from __future__ import annotations

import contextlib
import posixpath
import queue
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from knit_provider.core.errors import InvalidInput
from knit_provider.runners.image_map import ImageMap

__all__ = [
    "RUNNER_KINDS",
    "Mount",
    "RunRequest",
    "RunResult",
    "Runner",
    "exit_message",
    "make_runner",
    "safe_name",
]

RUNNER_KINDS = ("process", "docker")
_LINE_LIMIT = 64 << 10  # a "line" longer than this (progress bars, binary output) is split, never held whole


@dataclass(frozen=True)
class Mount:
    source: Path  # host directory
    target: str  # absolute path inside the run, e.g. "/in/dataset"
    read_only: bool


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    image: str  # "repo[:tag]" from the plan (tag defaults to "latest")
    entrypoint: list[str] | None  # the plan's entrypoint override (None or [] = the image's)
    args: list[str] | None  # the plan's args override (None or [] = the image's CMD)
    mounts: tuple[Mount, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # on top of the image's ENV
    log_path: Path = Path("/dev/null")  # the program's combined stdout+stderr (created/truncated)


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    message: str  # "" when exit_code == 0; otherwise one line that says which thing failed

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Runner(Protocol):
    def run(
        self,
        request: RunRequest,
        *,
        on_start: Callable[[], None] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> RunResult: ...

    def kill(self, run_id: str) -> None: ...


def make_runner(kind: str, *, image_map: ImageMap, **options: Any) -> Runner:
    """``process`` (bubblewrap sandbox on the host) or ``docker``; options go to the runner's constructor."""
    name = (kind or "").strip().lower()
    if name == "process":
        from knit_provider.runners.process import ProcessRunner

        factory: Any = ProcessRunner
    elif name == "docker":
        from knit_provider.runners.docker import DockerRunner

        factory = DockerRunner
    else:
        raise InvalidInput(f"unknown runner {kind!r}: use one of {', '.join(RUNNER_KINDS)}")
    try:
        return factory(image_map=image_map, **options)
    except TypeError as exc:  # an unknown option: say which ones exist instead of a Python signature error
        raise InvalidInput(f"runner {name!r}: {exc}") from None


def check_mounts(request: RunRequest) -> None:
    """Mounts are the caller's to prepare: a bad one is a bug there, not the Run's failure."""
    for mount in request.mounts:
        if not posixpath.isabs(mount.target):
            raise InvalidInput(f"run {request.run_id}: mount target {mount.target!r} must be an absolute path")
        if not Path(mount.source).is_dir():
            raise InvalidInput(f"run {request.run_id}: mount source {mount.source} is not a directory")


def override_command(
    entrypoint: list[str] | None, cmd: list[str] | None, plan_entrypoint: list[str] | None, plan_args: list[str] | None
) -> list[str]:
    """Docker's rule: a new entrypoint drops the image's CMD unless args are given too. An empty list counts as
    not given, as in Kubernetes (what Knitfab runs on)."""
    if plan_entrypoint:
        return [*plan_entrypoint, *(plan_args or [])]
    return [*(entrypoint or []), *(plan_args or cmd or [])]


def exit_message(code: int, what: str) -> str:
    """``what`` failed with ``code``: "" for 0, the signal name for 128+N (also a negative Popen code)."""
    if code == 0:
        return ""
    signo = -code if code < 0 else code - 128 if code > 128 else 0
    if signo:
        with contextlib.suppress(ValueError):
            return f"{what} was killed by signal {signal.Signals(signo).name} (exit code {128 + signo})"
    return f"{what} failed with exit code {code}"


def safe_name(run_id: str, limit: int = 63) -> str:
    """The run id as a container / host / file name: ``[A-Za-z0-9][A-Za-z0-9_.-]*``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.") or "run"
    return cleaned[:limit]


class OutputSink:
    """The log file and the caller's ``on_line``: raw bytes to the file (flushed per line, so it can be tailed),
    decoded lines to the callback."""

    def __init__(self, log_path: Path, on_line: Callable[[str], None] | None) -> None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self._on_line = on_line

    def line(self, raw: bytes, prefix: bytes = b"") -> None:
        """One line of output; ``prefix`` marks lines that are not the program's (``[knit build] ``)."""
        raw = prefix + raw if prefix else raw
        self._file.write(raw if raw.endswith(b"\n") else raw + b"\n")
        self._file.flush()
        if self._on_line is not None:
            self._on_line(raw.decode("utf-8", "replace").rstrip("\n").removesuffix("\r"))

    def note(self, text: str) -> None:
        """A line of ours (why nothing ran), for the log file only: the caller reports the result itself."""
        self._file.write(f"[knit] {text}\n".encode())
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Pump:
    """Lines from several streams, read by daemon threads, handed to the calling thread one at a time.

    Callbacks (``on_line``, ``on_start``) therefore run on the thread that called ``run()``, never on a reader.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, bytes | None]] = queue.SimpleQueue()
        self.open: set[str] = set()

    def add(self, name: str, stream: IO[bytes]) -> None:
        self.open.add(name)
        threading.Thread(target=self._read, args=(name, stream), name=f"knit-pump-{name}", daemon=True).start()

    def _read(self, name: str, stream: IO[bytes]) -> None:
        try:
            for raw in iter(lambda: stream.readline(_LINE_LIMIT), b""):
                self._queue.put((name, raw))
        except (OSError, ValueError):
            pass  # the stream was closed under us: the end either way
        finally:
            with contextlib.suppress(OSError):
                stream.close()
            self._queue.put((name, None))

    def get(self, timeout: float | None = None) -> tuple[str, bytes | None] | None:
        """The next (stream, line); line None = that stream ended. None on timeout."""
        try:
            name, raw = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if raw is None:
            self.open.discard(name)
        return name, raw
