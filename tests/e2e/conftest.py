"""A real ``airflow standalone`` (scheduler, triggerer, dag-processor, api-server) for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from knit_provider.local.standalone import Standalone, free_port
from knit_provider.service import Knit, plans, runs

TRIVIAL_CONTEXT = {"Dockerfile": 'FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n'}


def write_image_map(root: Path, images: dict[str, dict[str, str]]) -> Path:
    """An image map with one build context per image (files given by name)."""
    lines = []
    for number, (image, files) in enumerate(images.items()):
        context = root / f"context-{number}"
        context.mkdir(parents=True)
        for name, text in files.items():
            (context / name).write_text(text)
        lines.append(f"{image!r}: {context.name}")
    path = root / "images.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """One standalone for the session, process runner, a trivial ``sh -c`` image mapped."""
    home = tmp_path_factory.mktemp("e2e-home")
    image_map = write_image_map(tmp_path_factory.mktemp("e2e-images"), {"knit-e2e/sh:1.0": TRIVIAL_CONTEXT})
    with Standalone(knit_home=home, port=free_port(), image_maps=[image_map]) as server:
        yield server


@pytest.fixture(scope="session")
def knit(airflow: Standalone) -> Iterator[Knit]:
    with Knit.open(home=airflow.knit_home) as instance:
        yield instance


def sh_plan(tag_in: str, tag_out: str, script: str) -> str:
    """A Plan running ``sh -c script`` with ``/in/x`` tagged ``tag_in`` and ``/out/y`` tagged ``tag_out``."""
    return (
        "image: knit-e2e/sh:1.0\n"
        f"args: [{script!r}]\n"
        f"inputs: [{{path: /in/x, tags: [{tag_in!r}]}}]\n"
        f"outputs: [{{path: /out/y, tags: [{tag_out!r}]}}]\n"
        "log: {tags: ['e2e:log']}\n"
    )


@pytest.fixture(scope="session")
def apply_plan(airflow: Standalone, knit: Knit) -> Callable[[str], str]:
    """Apply a Plan and wait until its DAG is parsed; returns the plan id."""

    def apply(yaml_text: str) -> str:
        from knit_provider.service.execution import plan_dag_id

        plan = plans.apply(knit, yaml_text)
        airflow.wait_for_dags([plan_dag_id(plan["image"], plan["planId"])], timeout=120)
        return plan["planId"]

    return apply


def runs_of(knit: Knit, plan_id: str) -> list[dict]:
    return runs.find(knit, plan_ids=[plan_id])
