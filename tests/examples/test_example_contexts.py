"""The examples' image maps, Dockerfiles and plans agree, and the chain runs as the process runner would run it.

The runner resolves a plan's image through ``images.yaml`` to a build context, takes WORKDIR / ENTRYPOINT / CMD / ENV
from its Dockerfile and binds the files the Dockerfile COPYs. Here the same resolution is done by hand, the mount
paths are swapped for temporary directories and the program runs with the venv's python (no sandbox).
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from example_helpers import FIRST, PREPROCESS, read_idx

from knit_provider.core.image_config import ImageConfig, read_dockerfile
from knit_provider.core.plan_spec import PlanSpec, parse_plan_yaml

MAPS = [FIRST / "images.yaml", PREPROCESS / "images.yaml"]
PLAN_FILES = sorted([*(FIRST / "plans").glob("*.yaml"), *(PREPROCESS / "plans").glob("*.yaml")])
CONTEXTS = sorted({(m.parent / d).resolve() for m in MAPS for d in yaml.safe_load(m.read_text()).values()})


def image_map(path: Path) -> dict[str, Path]:
    mapping = yaml.safe_load(path.read_text())
    assert isinstance(mapping, dict) and all(isinstance(v, str) for v in mapping.values()), "flat ref: dir"
    return {ref: (path.parent / directory).resolve() for ref, directory in mapping.items()}


def copied_files(context: Path) -> dict[str, Path]:
    """Destination path -> source file, for every file the Dockerfile COPYs from its context."""
    files: dict[str, Path] = {}
    for line in (context / "Dockerfile").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() != "COPY":
            continue
        *sources, dest = [w for w in words[1:] if not w.startswith("--")]
        assert posixpath.isabs(dest), f"{context.name}: COPY to an absolute path, so WORKDIR cannot change it"
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            path = (context / source).resolve()
            assert path.is_relative_to(context) and path.exists(), f"{context.name}: COPY {source}: not in context"
            if path.is_dir():
                for file in sorted(p for p in path.rglob("*") if p.is_file()):
                    files[posixpath.join(dest, file.relative_to(path).as_posix())] = file
            else:
                files[posixpath.join(dest, path.name) if into_dir else posixpath.normpath(dest)] = path
    return files


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda p: p.name)
def test_entrypoint_runs_a_copied_program(context: Path) -> None:
    config = read_dockerfile(context, None)
    assert config.workdir == "/app"
    assert config.entrypoint is not None and config.entrypoint[:2] == ["python", "-u"]
    script = posixpath.join(config.workdir, config.entrypoint[2])
    copied = copied_files(context)
    assert script in copied, f"ENTRYPOINT runs {script}; the Dockerfile copies {sorted(copied)}"
    assert copied[script] == context / config.entrypoint[2]
    assert config.env.get("PYTHONUNBUFFERED") == "1", "the log shows progress as it happens"
    assert "FROM python:3.11-slim" in (context / "Dockerfile").read_text(), "a real, buildable image"


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_plans_parse_and_their_images_are_mapped(path: Path) -> None:
    spec = parse_plan_yaml(path.read_text())
    images = image_map(path.parents[1] / "images.yaml")
    assert spec.image in images, f"{spec.image} is not in {path.parents[1] / 'images.yaml'}"
    config = read_dockerfile(images[spec.image], spec.image)
    command = effective_argv(spec, config)
    for mount in [*spec.inputs, *spec.outputs]:
        assert any(a == mount.path or a.startswith(mount.path + "/") for a in command), (mount.path, command)
    assert spec.log is not None and spec.resources == {"cpu": "1", "memory": "1Gi"}


def test_every_mapped_image_has_a_plan() -> None:
    planned = {parse_plan_yaml(p.read_text()).image for p in PLAN_FILES}
    assert {ref for m in MAPS for ref in image_map(m)} == planned


def effective_argv(spec: PlanSpec, config: ImageConfig) -> list[str]:
    """Kubernetes' rule: the plan's entrypoint replaces ENTRYPOINT and drops CMD; its args replace CMD."""
    if spec.entrypoint:
        return [*spec.entrypoint, *(spec.args or ())]
    return [*(config.entrypoint or []), *(spec.args or config.cmd or [])]


def run_plan(plan: str, mounts: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    """Run a plan's program with its mount paths swapped for host directories."""
    path = next(p for p in PLAN_FILES if p.name == plan)
    spec = parse_plan_yaml(path.read_text())
    context = image_map(path.parents[1] / "images.yaml")[spec.image]
    config = read_dockerfile(context, spec.image)
    argv = effective_argv(spec, config)
    for mount, host in mounts.items():
        argv = [str(host) + a[len(mount) :] if a == mount or a.startswith(mount + "/") else a for a in argv]
    assert argv[0] == "python"
    env = {**os.environ, **config.env}
    return subprocess.run([sys.executable, *argv[1:]], cwd=context, env=env, capture_output=True, text=True)


def test_the_preprocess_chain_runs_from_the_plans(samples: dict[str, Path], tmp_path: Path) -> None:
    done = run_plan("preprocess-v1.yaml", {"/in/data": samples["imagecsv-v1"], "/out/train": tmp_path / "train"})
    assert done.returncode == 0, done.stderr
    assert read_idx(tmp_path / "train" / "images.gz")[1].shape == (1000, 28, 28), "the image's CMD: --samples 1000"
    wrong = run_plan("preprocess-v1.yaml", {"/in/data": samples["imagecsv-v2"], "/out/train": tmp_path / "x"})
    assert wrong.returncode != 0 and "schema v2" in wrong.stderr

    done = run_plan("train.yaml", {"/in/dataset": tmp_path / "train", "/out/model": tmp_path / "model"})
    assert done.returncode == 0, done.stderr
    done = run_plan(
        "validation.yaml",
        {"/in/dataset": samples["validation"], "/in/model": tmp_path / "model", "/out/metrics": tmp_path / "metrics"},
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8 and metrics["samples"] == 400
    assert "accuracy:" in done.stdout, "the log keeps the figure, as in Knitfab"
