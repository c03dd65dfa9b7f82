"""The build contexts are real Dockerfiles: the standard-library steps (shuffler, collager) built on the session's
dockerd (``--build-arg PYTHON_IMAGE`` = the local Debian python image, as nothing can be pulled here) and run by
the docker runner from their Plan files produce exactly what the process runner produced."""

from __future__ import annotations

from pathlib import Path

import pytest
from knit_dev.docker import DEBIAN_PYTHON_IMAGE, TemporaryDockerd

from knit_provider.runners import make_runner

from .tutorial import EXAMPLE, Ran, image_map, plan, run_plan

pytestmark = [pytest.mark.pachyderm, pytest.mark.docker]


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_shuffler_and_collager_images_build_and_run_in_docker(
    dockerd: TemporaryDockerd, chain: dict[str, Ran], tmp_path: Path
) -> None:
    for name in ("content_shuffler", "content_collager"):
        context = EXAMPLE / name
        dockerd.docker(
            "build", "--build-arg", f"PYTHON_IMAGE={DEBIAN_PYTHON_IMAGE}", "-t", plan(name).image, str(context)
        )
    runner = make_runner("docker", image_map=image_map(), docker_bin=dockerd.client, docker_host=dockerd.host)
    inputs = [chain[name].output for name in ("gif", "image_extracter", "image_tracer")]
    shuffled = run_plan("content_shuffler", inputs, tmp_path, runner)
    assert shuffled.result.ok, shuffled.log
    assert "[knit build]" not in shuffled.log, "the image built above was used, not rebuilt"
    assert files(shuffled.output) == files(chain["content_shuffler"].output)
    collage = run_plan("content_collager", [shuffled.output], tmp_path, runner)
    assert collage.result.ok, collage.log
    assert files(collage.output) == files(chain["content_collager"].output)
