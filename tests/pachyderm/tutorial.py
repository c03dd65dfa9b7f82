"""The example's paths, and its Plans run as the process runner runs them (bubblewrap), without Airflow.

``run_plan`` takes a Plan file of ``examples/pachyderm-beginner/plans`` as it is (image, entrypoint, args, mount
paths), resolves the image through the example's ``images.yaml`` and runs it in the real sandbox with the given
host folders mounted at the Plan's input paths and a fresh folder at its output path.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from knit_dev.standalone import REPO

from knit_provider.core.plan_spec import PlanSpec, parse_plan_yaml
from knit_provider.runners import ImageMap, Mount, Runner, RunRequest, RunResult, make_runner

EXAMPLE = REPO / "examples" / "pachyderm-beginner"
PLAN_NAMES = (
    "video_converter",
    "image_extracter",
    "image_flattener",
    "image_tracer",
    "gif",
    "content_shuffler",
    "content_collager",
)


def load_module(path: Path, name: str) -> ModuleType:
    """Import a program file of the example (they are not in a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def image_map() -> ImageMap:
    return ImageMap.load([EXAMPLE / "images.yaml"])


def plan(name: str) -> PlanSpec:
    return parse_plan_yaml((EXAMPLE / "plans" / f"{name}.plan.yaml").read_text())


@dataclass
class Ran:
    result: RunResult
    log: str
    output: Path


def run_plan(name: str, inputs: list[Path], workdir: Path, runner: Runner | None = None) -> Ran:
    """Run Plan ``name`` with ``inputs`` (in the Plan's input order), in bubblewrap unless another runner is
    given; the output in ``workdir``."""
    spec = plan(name)
    assert len(inputs) == len(spec.inputs), f"{name} takes {len(spec.inputs)} inputs"
    output = workdir / name / "out"
    output.mkdir(parents=True)
    mounts = [Mount(source, i.path, True) for i, source in zip(spec.inputs, inputs, strict=True)]
    mounts.append(Mount(output, spec.outputs[0].path, False))
    log = workdir / name / "log"
    runner = runner or make_runner("process", image_map=image_map())
    request = RunRequest(
        run_id=f"pachyderm-{name}-{uuid.uuid4().hex[:8]}",
        image=spec.image,
        entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
        args=list(spec.args) if spec.args is not None else None,
        mounts=tuple(mounts),
        log_path=log,
    )
    result = runner.run(request)
    return Ran(result, log.read_text(), output)
