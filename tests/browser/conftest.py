"""One real ``airflow standalone`` for the browser module, seeded through the service layer, and a logged-in
headless Chromium.

The seed: Data tagged ``kind:raw`` that a ``sh -c`` Plan (the process runner's trivial image, as in the e2e tests)
copies to ``kind:derived`` through a real DagRun; a second Plan no Data matches (for the active toggle); and Data
whose tags are markup and script (for the escaping tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from knit_dev.browser import artifacts_dir, chromium
from knit_dev.standalone import REPO, Standalone, free_port
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.service import Knit, data, plans, runs

IMAGE = "knit-browser/sh:1.0"
SCRIPT_TAG = "evil:<script>alert(1)</script>"
IMG_TAG = 'html:<img src=x onerror="alert(2)">&amp;'
WAIT = 90


def sh_plan(tag_in: str, tag_out: str, script: str) -> str:
    return (
        f"image: {IMAGE}\n"
        f"args: [{script!r}]\n"
        f"inputs: [{{path: /in/x, tags: [{tag_in!r}]}}]\n"
        f"outputs: [{{path: /out/y, tags: [{tag_out!r}]}}]\n"
        "log: {tags: ['kind:log']}\n"
    )


@dataclass
class Seed:
    raw: str  # knit id of the pushed Data
    derived: str  # its copy, made by the Run
    run: str  # the Run of the copy Plan
    copy_plan: str
    copy_dag: str
    idle_plan: str  # a Plan nothing matches: the active toggle's subject
    evil: str  # Data tagged with markup


@pytest.fixture(scope="module")
def browser_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's dags folder: Knit's DAG file, and the DAG files tests add."""
    folder = tmp_path_factory.mktemp("browser-dags")
    (folder / "knit_dags.py").symlink_to(REPO / "dags" / "knit_dags.py")
    return folder


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, browser_dags: Path) -> Iterator[Standalone]:
    home = tmp_path_factory.mktemp("browser-home")
    context = tmp_path_factory.mktemp("browser-image")
    (context / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    image_map = context.parent / f"{context.name}.yaml"
    image_map.write_text(json.dumps({IMAGE: str(context)}) + "\n")
    with Standalone(knit_home=home, port=free_port(), image_maps=[image_map], dags_folder=browser_dags) as server:
        yield server


@pytest.fixture(scope="module")
def knit(airflow: Standalone) -> Iterator[Knit]:
    with Knit.open(home=airflow.knit_home) as instance:
        yield instance


@pytest.fixture(scope="module")
def seed(airflow: Standalone, knit: Knit, tmp_path_factory: pytest.TempPathFactory) -> Seed:
    folder = tmp_path_factory.mktemp("browser-seed")
    (folder / "raw").mkdir()
    (folder / "raw" / "numbers.txt").write_text("1 2 3\n")
    (folder / "evil").mkdir()
    copy_plan = plans.apply(knit, sh_plan("kind:raw", "kind:derived", "echo copying; cp -r /in/x/. /out/y/"))
    copy_dag = plan_dag_id(IMAGE, copy_plan["planId"])
    idle_plan = plans.apply(knit, sh_plan("kind:never", "kind:unused", "true"))
    airflow.wait_for_dags([copy_dag], timeout=WAIT)
    raw = data.push_dir(knit, folder / "raw", ["project:browser", "kind:raw"], name=True)["knitId"]
    evil = data.push_dir(knit, folder / "evil", ["project:browser", SCRIPT_TAG, IMG_TAG])["knitId"]
    (run,) = wait_until(lambda: runs.find(knit, plan_ids=[copy_plan["planId"]]), 30, "the copy Run")
    wait_until(lambda: runs.show(knit, run["runId"])["status"] == "done", WAIT, "the copy Run is done")
    done = runs.show(knit, run["runId"])
    return Seed(
        raw=raw,
        derived=done["outputs"][0]["knitId"],
        run=done["runId"],
        copy_plan=copy_plan["planId"],
        copy_dag=copy_dag,
        idle_plan=idle_plan["planId"],
        evil=evil,
    )


def log_in(driver, airflow: Standalone) -> None:
    """Airflow 3.3's login page (the simple auth manager's form), as a person would fill it in."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.NAME, "username")))
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(airflow.password())
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/auth/login" not in d.current_url)


@pytest.fixture(scope="module")
def browser(airflow: Standalone) -> Iterator:
    """A Chromium logged into Airflow (its ``_token`` cookie is what the Knit pages see)."""
    driver = chromium()
    try:
        driver.get(airflow.url + "/auth/login")
        log_in(driver, airflow)
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shot(browser, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``shot("name")`` saves a screenshot as a test artifact (``test-artifacts/browser/<test>-<name>.png``)."""

    def save(name: str) -> Path:
        path = artifacts_dir("browser") / f"{request.node.name}-{name}.png"
        browser.save_screenshot(str(path))
        return path

    return save
