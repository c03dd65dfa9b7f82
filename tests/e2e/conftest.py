"""A real ``airflow standalone`` (scheduler, triggerer, dag-processor, api-server) for the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from knit_dev.standalone import REPO, Standalone, free_port

from knit_provider.service import Knit, plans, runs

#: example 4's image (its DAG files are added by its test, tests/e2e/test_example_wiring.py)
WIRING_IMAGES = REPO / "examples" / "dag-wiring-migration" / "migrated" / "images.yaml"
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


NOTIFIERS = Path(__file__).parent / "notifiers"


@pytest.fixture(scope="session")
def e2e_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session standalone's dags folder: Knit's DAG file, and whatever DAG files tests add (parsed within
    seconds: ``[dag_processor] refresh_interval`` is 5 s)."""
    folder = tmp_path_factory.mktemp("e2e-dags")
    (folder / "knit_dags.py").symlink_to(REPO / "dags" / "knit_dags.py")
    return folder


@pytest.fixture(scope="session")
def openlineage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's OpenLineage events land (the provider's file transport, one file per event)."""
    return tmp_path_factory.mktemp("e2e-openlineage")


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory, e2e_dags: Path, openlineage_dir: Path) -> Iterator[Standalone]:
    """One standalone for the session, process runner, a trivial ``sh -c`` image mapped, OpenLineage events to
    files (the generator's own task excluded), and a triggerer that a dead one's triggers reach in seconds. Its
    lifecycle hooks file (``knit_options["hooks"]``) does not exist until a test writes it; the test notifiers
    (``notifiers/``) are importable and record into ``extra_env["KNIT_TEST_NOTIFY_FILE"]``."""
    home = tmp_path_factory.mktemp("e2e-home")
    image_map = write_image_map(tmp_path_factory.mktemp("e2e-images"), {"knit-e2e/sh:1.0": TRIVIAL_CONTEXT})
    hooks = {"hooks": str(home / "hooks.yaml"), "hook_timeout": "3", "hook_max_backoff": "2s"}
    transport = {"type": "file", "log_file_path": str(openlineage_dir / "event"), "append": False}
    env = {
        "PYTHONPATH": str(NOTIFIERS),
        "KNIT_TEST_NOTIFY_FILE": str(home / "notified.jsonl"),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__DISABLED_FOR_OPERATORS": "knit_provider.sensors.catalog.KnitGeneratorSensor",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "WIRING_DATA": str(home / "wiring"),
    }
    with Standalone(
        knit_home=home,
        port=free_port(),
        image_maps=[image_map, WIRING_IMAGES],
        dags_folder=e2e_dags,
        knit_options=hooks,
        extra_env=env,
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def airflow_still_up(request: pytest.FixtureRequest) -> None:
    """A test on the session's standalone starts only while all four components run: one that exited stays
    down, and every later test would time out waiting for it, so say which and where its log is, at once."""
    if "airflow" not in request.fixturenames:
        return
    airflow: Standalone = request.getfixturevalue("airflow")
    down = airflow.components_down()
    if down:
        pytest.fail(f"Airflow's {', '.join(down)} exited earlier in this session; see {airflow.log_file}")


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
        from knit_provider.core.airflow_names import plan_dag_id

        plan = plans.apply(knit, yaml_text)
        airflow.wait_for_dags([plan_dag_id(plan["image"], plan["planId"])], timeout=120)
        return plan["planId"]

    return apply


def runs_of(knit: Knit, plan_id: str) -> list[dict]:
    return runs.find(knit, plan_ids=[plan_id])
