"""Runner test helpers: a Workspace of build contexts, image map, mounts and requests; a run in the background.

A module with its own name (not conftest) so test files import it without clashing with other conftest modules.
"""

from __future__ import annotations

import itertools
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from knit_dev.docker import DEBIAN_PYTHON_IMAGE, TemporaryDockerd

from knit_provider.runners import ImageMap, Mount, Runner, RunRequest, RunResult, make_runner


@dataclass
class Outcome:
    result: RunResult
    lines: list[str]
    events: list[str]  # "start" and "line" in the order the callbacks came
    log: str


@dataclass
class Workspace:
    root: Path
    kind: str  # "process" | "docker"
    dockerd: TemporaryDockerd | None = None
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def map_file(self) -> Path:
        return self.root / "images.yaml"

    def image(
        self,
        name: str,
        dockerfile: str,
        files: dict[str, str] | None = None,
        *,
        mapped: bool = True,
        executable: tuple[str, ...] = (),
    ) -> str:
        """A build context whose Dockerfile is ``FROM`` the python base image; returns a ref unique to the test
        (with a registry port, as Knitfab's), mapped in ``images.yaml`` unless ``mapped`` is false."""
        ref = f"localhost:30503/{name}-{uuid.uuid4().hex[:8]}:v1.0"
        context = self.root / "contexts" / f"{name}-{next(self._counter)}"
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(f"FROM {DEBIAN_PYTHON_IMAGE}\n" + textwrap.dedent(dockerfile))
        for relative, content in (files or {}).items():
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            (context / relative).write_text(textwrap.dedent(content))
            if relative in executable:
                (context / relative).chmod(0o755)
        if mapped:
            with self.map_file.open("a") as out:
                out.write(f"{ref}: {context.relative_to(self.root)}\n")
        return ref

    def dir(self, name: str, files: dict[str, str] | None = None) -> Path:
        path = self.root / "dirs" / name
        path.mkdir(parents=True)
        for relative, content in (files or {}).items():
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            (path / relative).write_text(content)
        return path

    def runner(self, **options: object) -> Runner:
        self.map_file.touch()
        if self.kind == "docker":
            assert self.dockerd is not None
            options = {"docker_bin": self.dockerd.client, "docker_host": self.dockerd.host, **options}
        return make_runner(self.kind, image_map=ImageMap.load([self.map_file]), **options)

    def request(
        self,
        image: str,
        *,
        inputs: dict[str, Path] | None = None,
        outputs: dict[str, Path] | None = None,
        entrypoint: list[str] | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> RunRequest:
        run_id = run_id or f"run-{uuid.uuid4()}"
        mounts = [Mount(src, target, True) for target, src in (inputs or {}).items()]
        mounts += [Mount(src, target, False) for target, src in (outputs or {}).items()]
        return RunRequest(
            run_id=run_id,
            image=image,
            entrypoint=entrypoint,
            args=args,
            mounts=tuple(mounts),
            env={"KNIT_RUN_ID": run_id, **(env or {})},
            log_path=self.root / "logs" / f"{run_id}.log",
        )

    def run(
        self,
        request: RunRequest,
        runner: Runner | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> Outcome:
        lines: list[str] = []
        events: list[str] = []

        def line(text: str) -> None:
            if text.startswith("[knit build] "):
                return  # the docker runner building the image first
            lines.append(text)
            events.append("line")
            if on_line is not None:
                on_line(text)

        result = (runner or self.runner()).run(request, on_start=lambda: events.append("start"), on_line=line)
        log = request.log_path.read_bytes().decode() if request.log_path.exists() else ""
        log = "\n".join(line for line in log.split("\n") if not line.startswith("[knit build] "))
        return Outcome(result, lines, events, log)


class Background:
    """A run on a thread, for kill tests: ``wait_for_line`` then ``join``."""

    def __init__(self, ws: Workspace, runner: Runner, request: RunRequest) -> None:
        self.lines: list[str] = []
        self.started = threading.Event()
        self.seen = threading.Condition()
        self.result: RunResult | None = None
        self.thread = threading.Thread(target=self._run, args=(runner, request), daemon=True)
        self.thread.start()

    def _run(self, runner: Runner, request: RunRequest) -> None:
        def line(text: str) -> None:
            with self.seen:
                self.lines.append(text)
                self.seen.notify_all()

        self.result = runner.run(request, on_start=self.started.set, on_line=line)

    def wait_for_line(self, text: str, timeout: float = 30) -> None:
        with self.seen:
            assert self.seen.wait_for(lambda: text in self.lines, timeout), f"no {text!r} in {self.lines}"

    def join(self, timeout: float = 30) -> RunResult:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not end"
        assert self.result is not None
        return self.result
