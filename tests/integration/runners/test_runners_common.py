"""What both runners must do alike, each against the real thing (bubblewrap; a session dockerd)."""

from __future__ import annotations

import json
import time

from knit_dev.docker import DEBIAN_PYTHON_IMAGE
from runner_workspace import Background, Workspace

PROBE = """\
import json, os, sys
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "greeting": os.environ.get("GREETING"),
                  "run_id": os.environ.get("KNIT_RUN_ID"), "extra": os.environ.get("EXTRA")}))
"""


def probe_output(lines: list[str]) -> dict:
    return json.loads(next(line for line in lines if line.startswith("{")))


def test_reads_an_input_and_writes_an_output(ws: Workspace) -> None:
    image = ws.image(
        "train",
        """\
        WORKDIR /work
        COPY train.py .
        CMD ["python3", "train.py"]
        """,
        {
            "train.py": """\
            from pathlib import Path
            rows = Path("/in/dataset/rows.txt").read_text().split()
            Path("/out/model/model.txt").write_text(f"{len(rows)} rows\\n")
            print("trained on", len(rows), "rows")
            """
        },
    )
    dataset, model = ws.dir("dataset", {"rows.txt": "a\nb\nc\n"}), ws.dir("model")
    outcome = ws.run(ws.request(image, inputs={"/in/dataset": dataset}, outputs={"/out/model": model}))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    assert outcome.result.message == ""
    assert (model / "model.txt").read_text() == "3 rows\n"
    assert outcome.lines == ["trained on 3 rows"]


def test_inputs_are_read_only_and_the_network_is_off(ws: Workspace) -> None:
    image = ws.image("probe", 'ENTRYPOINT ["python3"]\n')
    script = """\
import errno, socket
try:
    open("/in/dataset/new.txt", "w")
    print("input: writable")
except OSError as exc:
    print("input:", errno.errorcode[exc.errno])
try:
    socket.create_connection(("192.0.2.1", 80), timeout=2)
    print("network: on")
except OSError:
    print("network: off")
"""
    dataset = ws.dir("dataset", {"a.txt": "x"})
    outcome = ws.run(ws.request(image, inputs={"/in/dataset": dataset}, args=["-c", script]))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    assert outcome.lines == ["input: EROFS", "network: off"]
    assert sorted(p.name for p in dataset.iterdir()) == ["a.txt"]


def test_dockerfile_settings_and_plan_overrides(ws: Workspace) -> None:
    image = ws.image(
        "config",
        """\
        WORKDIR /app
        ENV GREETING="hello from the image" EXTRA=image
        COPY probe.py ./
        ENTRYPOINT ["python3", "probe.py"]
        CMD ["--from", "cmd"]
        """,
        {"probe.py": PROBE},
    )
    runner = ws.runner()

    image_only = probe_output(ws.run(ws.request(image), runner).lines)
    assert image_only["argv"] == ["probe.py", "--from", "cmd"]
    assert image_only["cwd"] == "/app"
    assert image_only["greeting"] == "hello from the image"
    assert image_only["extra"] == "image"

    request = ws.request(image, args=["--from", "plan"], env={"EXTRA": "plan"}, run_id="run-overrides")
    with_args = probe_output(ws.run(request, runner).lines)
    assert with_args["argv"] == ["probe.py", "--from", "plan"]
    assert with_args["run_id"] == "run-overrides"
    assert with_args["extra"] == "plan"  # the request's env wins over the image's ENV

    new_entrypoint = ws.request(image, entrypoint=["python3", "/app/probe.py"])  # drops the image's CMD
    assert probe_output(ws.run(new_entrypoint, runner).lines)["argv"] == ["/app/probe.py"]

    both = ws.request(image, entrypoint=["python3", "/app/probe.py", "-x"], args=["y"])
    assert probe_output(ws.run(both, runner).lines)["argv"] == ["/app/probe.py", "-x", "y"]


def test_copied_files_are_at_their_destinations(ws: Workspace) -> None:
    image = ws.image(
        "copies",
        f"""\
        FROM {DEBIAN_PYTHON_IMAGE} AS builder
        RUN mkdir -p /built && echo from-builder > /built/file
        COPY stage-only.txt /stage-only.txt

        FROM {DEBIAN_PYTHON_IMAGE}
        ARG DEST=/etc/myapp
        COPY . /app
        COPY conf/settings.json ${{DEST}}/
        COPY ["data one.txt", "/data/"]
        COPY a.txt b.txt /multi/
        WORKDIR /w
        COPY rel.txt sub/
        COPY --chown=1:1 own.txt /own.txt
        COPY --from=builder /built/file /from-builder.txt
        COPY tool.sh /usr/local/bin/
        COPY lib/ /opt/lib/
        CMD ["python3", "/app/check.py"]
        """,
        {
            "check.py": """\
            import os
            for path in ["/app/check.py", "/app/conf/settings.json", "/etc/myapp/settings.json", "/data/data one.txt",
                         "/multi/a.txt", "/multi/b.txt", "/w/sub/rel.txt", "/own.txt", "/usr/local/bin/tool.sh",
                         "/opt/lib/util.py", "/opt/lib/pkg/inner.py", "/stage-only.txt"]:
                print(path, open(path).readline().strip() if os.path.exists(path) else "MISSING")
            print("cwd", os.getcwd())
            """,
            "conf/settings.json": "{}",
            "data one.txt": "spaced",
            "a.txt": "A",
            "b.txt": "B",
            "rel.txt": "relative",
            "own.txt": "owned",
            "tool.sh": "#!/bin/sh\necho tool\n",
            "stage-only.txt": "not in the last stage",
            "lib/util.py": "util",
            "lib/pkg/inner.py": "inner",
        },
    )
    outcome = ws.run(ws.request(image))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    assert outcome.lines == [
        "/app/check.py import os",
        "/app/conf/settings.json {}",
        "/etc/myapp/settings.json {}",
        "/data/data one.txt spaced",
        "/multi/a.txt A",
        "/multi/b.txt B",
        "/w/sub/rel.txt relative",
        "/own.txt owned",
        "/usr/local/bin/tool.sh #!/bin/sh",
        "/opt/lib/util.py util",
        "/opt/lib/pkg/inner.py inner",
        "/stage-only.txt MISSING",
        "cwd /w",
    ]


def test_shell_form_cmd_and_the_images_path(ws: Workspace) -> None:
    image = ws.image(
        "shell",
        """\
        ENV PATH=/app/bin:$PATH
        COPY bin/ /app/bin/
        CMD hello "big world" | tr a-z A-Z
        """,
        {"bin/hello": '#!/bin/sh\necho "hello, $1 from $(dirname "$0")"\n'},
        executable=("bin/hello",),
    )
    outcome = ws.run(ws.request(image))
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    assert outcome.lines == ["HELLO, BIG WORLD FROM /APP/BIN"]


def test_image_not_in_the_map_is_exit_125_naming_image_and_map(ws: Workspace) -> None:
    image = ws.image("unmapped", 'CMD ["true"]\n', mapped=False)
    outcome = ws.run(ws.request(image))
    assert outcome.result.exit_code == 125
    assert image in outcome.result.message
    assert str(ws.map_file) in outcome.result.message
    assert outcome.events == []  # never started
    assert outcome.result.message in outcome.log


def test_program_not_found_is_exit_127_naming_it(ws: Workspace) -> None:
    image = ws.image("missing", 'CMD ["python3"]\n')
    outcome = ws.run(ws.request(image, entrypoint=["python9", "-c", "print(1)"]))
    assert outcome.result.exit_code == 127
    assert "'python9' not found" in outcome.result.message
    assert "start" not in outcome.events


def test_non_zero_exit_code_and_signal_death(ws: Workspace) -> None:
    image = ws.image("fails", 'ENTRYPOINT ["python3", "-c"]\n')
    runner = ws.runner()

    exited = ws.run(ws.request(image, args=["import sys; print('bye'); sys.exit(3)"]), runner)
    assert exited.result.exit_code == 3
    assert "exit code 3" in exited.result.message and "python3" in exited.result.message
    assert exited.lines == ["bye"]

    # The program is not PID 1 (docker ignores signals a PID 1 does not handle): a shell runs it.
    suicide = "python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'; exit $?"
    killed = ws.run(ws.request(image, entrypoint=["sh", "-c", suicide]), runner)
    assert killed.result.exit_code == 137
    assert "killed by signal SIGKILL" in killed.result.message


def test_callbacks_stream_lines_while_the_program_runs(ws: Workspace) -> None:
    """on_line sees "ready" while the program still runs: the program waits for a file the callback creates."""
    image = ws.image("stream", 'ENTRYPOINT ["python3", "-u", "-c"]\n')
    script = """\
import os, sys, time
print("ready")
print("to stderr", file=sys.stderr)
deadline = time.time() + 30
while not os.path.exists("/out/o/go") and time.time() < deadline:
    time.sleep(0.05)
print("went" if os.path.exists("/out/o/go") else "timed out")
"""
    out = ws.dir("o")
    outcome = ws.run(
        ws.request(image, args=[script], outputs={"/out/o": out}),
        on_line=lambda text: (out / "go").touch() if text == "ready" else None,
    )
    assert outcome.result.exit_code == 0, outcome.result.message + outcome.log
    assert sorted(outcome.lines) == sorted(["ready", "to stderr", "went"])
    assert outcome.lines[-1] == "went"
    assert outcome.events.count("start") == 1
    assert outcome.log.splitlines() == outcome.lines


def test_kill_stops_a_long_run(ws: Workspace) -> None:
    image = ws.image("sleeper", 'ENTRYPOINT ["python3", "-u", "-c"]\n')
    runner = ws.runner()
    request = ws.request(image, args=["import time; print('sleeping'); time.sleep(300)"])
    background = Background(ws, runner, request)
    background.wait_for_line("sleeping")
    assert background.started.wait(10)
    began = time.monotonic()
    runner.kill(request.run_id)
    result = background.join()
    assert time.monotonic() - began < 15
    assert result.exit_code == 137
    assert "stopped" in result.message
