"""The process runner's sandbox: what the program can see and write, its environment, and its lifetime."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from runner_workspace import Background, Workspace

from knit_provider.core.errors import InvalidInput
from knit_provider.runners import ImageMap, Mount, RunRequest, make_runner
from knit_provider.runners.dockerfile import ContextFiles
from knit_provider.runners.sandbox import build_sandbox

PROJECT = Path(__file__).resolve().parents[3]


def test_nothing_of_the_host_is_writable_but_the_outputs(process_ws: Workspace) -> None:
    ws = process_ws
    image = ws.image("writer", 'ENTRYPOINT ["python3", "-c"]\n')
    probe = f"knit-probe-{uuid.uuid4().hex[:8]}"
    targets = {
        "usr": f"/usr/{probe}",
        "etc": f"/etc/{probe}",
        "venv": f"{sys.prefix}/{probe}",
        "project": f"{PROJECT}/{probe}",
        "tmp_path": f"{ws.root}/{probe}",
        "out": f"/out/o/{probe}",
        "in": f"/in/i/{probe}",
    }
    script = textwrap.dedent(
        f"""\
        import errno, json, os
        report = {{}}
        for name, path in {targets!r}.items():
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as handle:
                    handle.write("x")
                report[name] = "written"
            except OSError as exc:
                report[name] = errno.errorcode[exc.errno]
        visible = {{p: os.path.exists(p) for p in ["/var", "/home", "/root/.bashrc", "{PROJECT}/knit_provider"]}}
        print(json.dumps({{"report": report, "visible": visible}}))
        """
    )
    out, inputs = ws.dir("o"), ws.dir("i", {"a.txt": "a"})
    outcome = ws.run(ws.request(image, args=[script], inputs={"/in/i": inputs}, outputs={"/out/o": out}))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    found = json.loads(outcome.lines[-1])
    assert found["report"]["usr"] == found["report"]["etc"] == found["report"]["venv"] == "EROFS"
    assert found["report"]["in"] == "EROFS"
    assert found["report"]["out"] == "written"
    assert found["visible"] == dict.fromkeys(found["visible"], False)  # only the system dirs and the venv are there
    for name, path in targets.items():  # whatever the sandbox's own tmpfs took, the host is untouched
        host = out / probe if name == "out" else Path(path)
        assert host.exists() == (name == "out"), name


def test_environment_is_the_images_plus_the_sandboxs(process_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = process_ws
    monkeypatch.setenv("KNIT_TEST_SECRET", "host only")
    image = ws.image("env", 'ENV FROM_IMAGE=yes PATH=/opt/tools:$PATH\nENTRYPOINT ["python", "-c"]\n')
    script = (
        "import json, os, sys, yaml; "
        "print(json.dumps({'env': dict(os.environ), 'exe': os.path.realpath(sys.executable), 'prefix': sys.prefix}))"
    )
    outcome = ws.run(ws.request(image, args=[script], env={"FROM_REQUEST": "1"}))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    found = json.loads(outcome.lines[-1])
    env = found["env"]
    assert "KNIT_TEST_SECRET" not in env
    assert env["FROM_IMAGE"] == "yes" and env["FROM_REQUEST"] == "1" and env["KNIT_RUN_ID"]
    assert env["HOME"] == "/tmp" and env["LANG"] == "C.UTF-8" and env["PYTHONUNBUFFERED"] == "1"
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    # the base image's $PATH is unknown when reading a Dockerfile: it stands for the default one
    assert env["PATH"] == f"{venv_bin}:/opt/tools:/usr/local/bin:/usr/bin:/bin"
    assert found["exe"] == os.path.realpath(sys.executable)  # the host's interpreter, with the venv's yaml
    assert found["prefix"] == sys.prefix


def test_copied_files_are_read_only_but_their_directories_are_not(process_ws: Workspace) -> None:
    ws = process_ws
    image = ws.image(
        "copy-ro",
        'COPY . /app\nCOPY tool.sh /usr/local/bin/\nWORKDIR /app\nENTRYPOINT ["python3", "check.py"]\n',
        {
            "check.py": textwrap.dedent(
                """\
                import errno, json, os
                def attempt(path):
                    try:
                        open(path, "a").close()
                        return "written"
                    except OSError as exc:
                        return errno.errorcode[exc.errno]
                print(json.dumps({"copied": attempt("/app/check.py"), "beside": attempt("/app/new.txt"),
                                  "shadowed": attempt("/usr/local/bin/new"),
                                  "listing": sorted(os.listdir("/usr/local/bin"))}))
                """
            ),
            "tool.sh": "echo tool",
        },
    )
    outcome = ws.run(ws.request(image))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    found = json.loads(outcome.lines[-1])
    assert found["copied"] == "EROFS" and found["shadowed"] == "EROFS"
    assert found["beside"] == "written"  # as in a container: the directory itself is the image's, not the host's
    assert found["listing"] == sorted([*os.listdir("/usr/local/bin"), "tool.sh"])
    assert not Path("/usr/local/bin/tool.sh").exists()


def test_sandbox_root_is_never_the_hosts_root(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    sandbox = build_sandbox(files=ContextFiles((), (), ""), mounts=[Mount(out, "/out/x", False)], workdir="/")
    args = sandbox.args
    binds = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a in ("--bind", "--ro-bind", "--ro-bind-try")]
    assert all(dest != "/" for _, dest in binds)
    assert [dest for flag, _, dest in zip(args, args[1:], args[2:], strict=False) if flag == "--bind"] == ["/out/x"]


def test_non_executable_program_is_126_and_a_broken_sandbox_125(process_ws: Workspace) -> None:
    ws = process_ws
    image = ws.image("odd", 'COPY notes.txt /usr/local/bin/notes\nCMD ["notes"]\n', {"notes.txt": "not a program"})
    runner = ws.runner()
    not_executable = ws.run(ws.request(image), runner)
    assert not_executable.result.exit_code == 126
    assert "'notes' is not executable" in not_executable.result.message

    # an input inside a read-only input that has no such directory: bwrap cannot make the mount point
    outer, inner = ws.dir("outer"), ws.dir("inner")
    broken = ws.run(ws.request(image, entrypoint=["true"], inputs={"/in/a": outer, "/in/a/b": inner}), runner)
    assert broken.result.exit_code == 125
    assert broken.result.message.startswith("the sandbox could not be set up: bwrap: ")
    assert broken.lines == [broken.result.message.removeprefix("the sandbox could not be set up: ")]


def test_missing_bubblewrap_is_invalid_input(process_ws: Workspace) -> None:
    image = process_ws.image("any", 'CMD ["true"]\n')
    runner = process_ws.runner(bwrap_bin="no-such-bwrap")
    with pytest.raises(InvalidInput, match=r"bubblewrap \(no-such-bwrap\) is not installed"):
        runner.run(process_ws.request(image))


def test_kill_from_another_process(process_ws: Workspace) -> None:
    ws = process_ws
    image = ws.image("sleeper", 'ENTRYPOINT ["python3", "-u", "-c"]\n')
    request = ws.request(image, args=["import time; print('sleeping'); time.sleep(300)"])
    background = Background(ws, ws.runner(), request)
    background.wait_for_line("sleeping")
    killer = (
        "import sys; from knit_provider.runners import ImageMap, make_runner; "
        "make_runner('process', image_map=ImageMap()).kill(sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", killer, request.run_id], check=True, timeout=30)
    result = background.join()
    assert result.exit_code == 137
    assert "killed by signal SIGKILL" in result.message


def test_the_sandbox_dies_with_its_parent(process_ws: Workspace) -> None:
    ws = process_ws
    image = ws.image("orphan", 'ENTRYPOINT ["python3", "-u", "-c"]\n')
    marker = f"knit-orphan-{uuid.uuid4().hex}"
    request = ws.request(image, args=[f"import time; print('sleeping'); time.sleep(300)  # {marker}"])
    parent = textwrap.dedent(
        f"""\
        import pickle, sys
        from knit_provider.runners import ImageMap, make_runner
        request = pickle.loads(bytes.fromhex(sys.argv[1]))
        make_runner("process", image_map=ImageMap.load([{str(ws.map_file)!r}])).run(request)
        """
    )
    ws.map_file.touch()
    proc = subprocess.Popen([sys.executable, "-c", parent, pickle.dumps(request).hex()])
    try:
        deadline = time.monotonic() + 30
        while "sleeping" not in (request.log_path.read_text() if request.log_path.exists() else ""):
            assert time.monotonic() < deadline and proc.poll() is None, "the run did not start"
            time.sleep(0.05)
        assert _processes_with(marker)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_with(marker)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_make_runner_refuses_unknown_kinds_and_options() -> None:
    with pytest.raises(InvalidInput, match="unknown runner 'kubernetes': use one of process, docker"):
        make_runner("kubernetes", image_map=ImageMap())
    with pytest.raises(InvalidInput, match="runner 'process'.*colour"):
        make_runner("process", image_map=ImageMap(), colour="blue")


def test_request_mount_errors_are_invalid_input(process_ws: Workspace, tmp_path: Path) -> None:
    image = process_ws.image("any", 'CMD ["true"]\n')
    runner = process_ws.runner()
    good = process_ws.request(image)
    for mount, pattern in [
        (Mount(tmp_path, "in/relative", True), "must be an absolute path"),
        (Mount(tmp_path / "absent", "/in/x", True), "is not a directory"),
    ]:
        request = RunRequest(**{**good.__dict__, "mounts": (mount,)})
        with pytest.raises(InvalidInput, match=pattern):
            runner.run(request)


def test_an_interpreter_under_the_hosts_tmp_stays_visible(tmp_path: Path) -> None:
    """A venv in a fresh clone under /tmp: the sandbox's private /tmp must not hide it (CI clones into /tmp)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    sandbox = build_sandbox(files=ContextFiles((), (), ""), mounts=[], workdir="/", extra_dirs=[str(venv)])
    args = sandbox.args
    private_tmp = next(i for i, a in enumerate(args) if a == "--tmpfs" and args[i + 1] == "/tmp")
    venv_bind = next(i for i, a in enumerate(args) if a.startswith("--ro-bind") and args[i + 2] == str(venv))
    assert private_tmp < venv_bind, "bound after the tmpfs, so on top of it"
