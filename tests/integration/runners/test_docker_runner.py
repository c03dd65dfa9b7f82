"""The docker runner against the session's dockerd: building from the map, the container it makes, kill."""

from __future__ import annotations

import json
import time

import pytest
from runner_workspace import Background, Workspace

from knit_provider.core.errors import InvalidInput
from knit_provider.runners import ImageMap, make_runner
from knit_provider.runners.docker import container_name

pytestmark = pytest.mark.docker


def test_absent_image_is_built_from_its_mapped_context_once(docker_ws: Workspace) -> None:
    ws = docker_ws
    image = ws.image(
        "built",
        'RUN echo baked > /baked.txt\nENTRYPOINT ["python3", "-c", "print(open(\'/baked.txt\').read().strip())"]\n',
    )
    assert ws.dockerd is not None
    assert ws.dockerd.docker("image", "inspect", image, check=False).returncode != 0
    runner = ws.runner()
    build_lines: list[str] = []

    first = runner.run(ws.request(image), on_line=build_lines.append)
    assert first.exit_code == 0, first.message
    assert build_lines[0].startswith(f"[knit build] building image {image} from ")
    assert build_lines[-1] == "baked"
    assert ws.dockerd.docker("image", "inspect", image, check=False).returncode == 0

    again = ws.run(ws.request(image), runner)
    assert again.result.exit_code == 0
    assert again.log == "baked\n"
    assert "[knit build]" not in again.log


def test_build_failure_is_125_naming_image_and_context(docker_ws: Workspace) -> None:
    image = docker_ws.image("broken", "RUN exit 7\n")
    outcome = docker_ws.run(docker_ws.request(image))
    assert outcome.result.exit_code == 125
    assert f"image {image!r} could not be built from {docker_ws.root}/contexts/broken-0" in outcome.result.message
    assert outcome.events == []


def test_the_container_is_named_labelled_offline_with_the_mounts(docker_ws: Workspace) -> None:
    ws = docker_ws
    assert ws.dockerd is not None
    image = ws.image("inspected", 'ENTRYPOINT ["python3", "-u", "-c"]\n')
    wait = "import os, time\nprint('ready')\nwhile not os.path.exists('/out/o/go'): time.sleep(0.05)\n"
    inputs, out = ws.dir("i", {"a": "a"}), ws.dir("o")
    request = ws.request(image, args=[wait], inputs={"/in/i": inputs}, outputs={"/out/o": out}, run_id="run/1 x")
    seen: dict = {}

    def inspect(line: str) -> None:
        if line == "ready":
            seen.update(json.loads(ws.dockerd.docker("inspect", container_name(request.run_id)).stdout)[0])
            (out / "go").touch()

    outcome = ws.run(request, on_line=inspect)
    assert outcome.result.exit_code == 0, outcome.result.message
    assert seen["Name"] == "/knit-run-1-x"
    assert seen["Config"]["Labels"]["knit.run-id"] == "run/1 x"
    assert "KNIT_RUN_ID=run/1 x" in seen["Config"]["Env"]
    assert seen["HostConfig"]["NetworkMode"] == "none"
    assert seen["HostConfig"]["AutoRemove"] is True
    assert {m["Destination"]: (m["Source"], m["RW"]) for m in seen["Mounts"]} == {
        "/in/i": (str(inputs), False),
        "/out/o": (str(out), True),
    }
    assert ws.dockerd.docker("ps", "-aq", "--filter", "label=knit.run-id=run/1 x").stdout.strip() == ""


def test_kill_from_another_runner_and_a_leftover_container(docker_ws: Workspace) -> None:
    ws = docker_ws
    assert ws.dockerd is not None
    image = ws.image("sleeper", 'ENTRYPOINT ["python3", "-u", "-c"]\n')
    request = ws.request(image, args=["import time; print('sleeping'); time.sleep(300)"])
    ws.runner().run(ws.request(image, args=["pass"]))  # build it now, so the leftover below can be created
    ws.dockerd.docker("create", "--name", container_name(request.run_id), image, "pass")  # an earlier attempt's

    background = Background(ws, ws.runner(), request)
    background.wait_for_line("sleeping")
    began = time.monotonic()
    ws.runner().kill(request.run_id)  # as from another process: only the container name is shared
    result = background.join()
    assert time.monotonic() - began < 15
    assert result.exit_code == 137
    assert "killed by signal SIGKILL" in result.message
    assert ws.dockerd.docker("ps", "-aq", "--filter", f"name={container_name(request.run_id)}").stdout.strip() == ""


def test_unreachable_daemon_is_invalid_input(docker_ws: Workspace) -> None:
    image = docker_ws.image("any", 'CMD ["true"]\n')
    runner = make_runner(
        "docker",
        image_map=ImageMap(),
        docker_bin=docker_ws.dockerd.client if docker_ws.dockerd else "docker",
        docker_host=f"unix://{docker_ws.root}/no-daemon.sock",
    )
    with pytest.raises(InvalidInput, match=r"docker \(unix://.*no-daemon.sock\) cannot be asked for image"):
        runner.run(docker_ws.request(image))
    with pytest.raises(InvalidInput, match="docker CLI"):
        make_runner("docker", image_map=ImageMap(), docker_bin="no-such-docker").run(docker_ws.request(image))


def test_docker_user_setting_runs_the_container_as_that_user(docker_ws: Workspace) -> None:
    """``[knit] docker_user`` reaches ``docker run --user``: what the Run writes belongs to that user."""
    from knit_provider.service.settings import KnitSettings

    settings = KnitSettings.resolve(lambda key: {"runner": "docker", "docker_user": "4321:4322"}.get(key))
    image = docker_ws.image("writer", 'ENTRYPOINT ["python3", "-c"]\n')
    out = docker_ws.dir("o")
    out.chmod(0o777)  # the container's user must be able to write there, as a worker's own directory would be
    program = "import os\nos.mkdir('/out/o/sub')\nopen('/out/o/sub/f', 'w').write(str(os.getuid()))\n"
    request = docker_ws.request(image, args=[program], outputs={"/out/o": out})
    outcome = docker_ws.run(request, docker_ws.runner(**settings.runner_options("docker")))
    assert outcome.result.exit_code == 0, outcome.result.message
    assert (out / "sub" / "f").read_text() == "4321"
    assert ((out / "sub").stat().st_uid, (out / "sub").stat().st_gid) == (4321, 4322)
