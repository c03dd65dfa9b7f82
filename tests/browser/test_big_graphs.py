"""Big lineages on the lineage page, in headless Chromium: repeated Runs and Data are drawn as groups that a click
expands, a search box finds a node inside a group, and the page says how much it shows ("showing N of M").

The Knit app runs under uvicorn with Airflow's login switched off (as ``bench/lineage_page.py`` does): what is
tested here is the page and its script, not Airflow's authentication (``test_knit_pages.py`` covers that)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from knit_dev import lifecycle
from knit_dev.browser import chromium
from knit_dev.standalone import free_port
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from knit_provider.service import Knit, data, plans, runs

pytestmark = [pytest.mark.scale, pytest.mark.browser, pytest.mark.slow]


def plan_yaml(name: str, level: int, outputs: int) -> str:
    outs = ", ".join(f"{{path: /out/{i}, tags: ['level:{level + 1}']}}" for i in range(outputs))
    return f"image: test/{name}:v1\ninputs: [{{path: /in, tags: ['level:{level}']}}]\noutputs: [{outs}]\n"


@pytest.fixture(scope="module")
def fan_out(tmp_path_factory: pytest.TempPathFactory):
    """D0 -> A -> 6 Data -> 6 Runs of B -> 30 Data, served by the Knit app."""
    import uvicorn
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import FastAPI

    from knit_provider.api.app import create_app
    from knit_provider.api.knit import knit as knit_dependency
    from knit_provider.api.pages.auth import login_redirect
    from knit_provider.api.rest.common import ACCESS_CHECKS

    tmp = tmp_path_factory.mktemp("big-graphs")
    knit = Knit.open(home=tmp / "home")
    first = plans.apply(knit, plan_yaml("a", 0, 6))["planId"]
    plans.apply(knit, plan_yaml("b", 1, 5))
    (tmp / "seed").mkdir()
    start = data.push_dir(knit, tmp / "seed", ["level:0"])["knitId"]
    (run,) = runs.find(knit, plan_ids=[first])
    lifecycle.finish(knit, run["runId"], exit_code=0)
    app = create_app()
    for dependency in (get_user, login_redirect, *ACCESS_CHECKS):
        app.dependency_overrides[dependency] = lambda: None
    app.dependency_overrides[knit_dependency] = lambda: knit
    root = FastAPI()
    root.mount("/knit", app)
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}", start, knit
    finally:
        server.should_exit = True
        thread.join(10)
        knit.close()


@pytest.fixture(scope="module")
def browser():
    driver = chromium(1400, 900)
    yield driver
    driver.quit()


def ready(driver) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.querySelector('.graph-viewport').dataset.ready")
    )


def boxes(driver) -> list[str]:
    return [t.get_attribute("textContent") for t in driver.find_elements(By.CSS_SELECTOR, ".graph-viewport g.node")]


def summary(driver) -> str:
    return driver.find_element(By.ID, "graph-summary").text


def test_groups_expand_on_a_click_and_the_page_says_what_it_shows(browser, fan_out, tmp_path: Path) -> None:
    base, start, _ = fan_out
    browser.get(f"{base}/knit/lineage/{start}?depth=all")
    ready(browser)
    assert "Showing 46 of 46 nodes: 4 one by one and 42 in 3 collapsed groups" in summary(browser)
    texts = " ".join(boxes(browser))
    assert "6 Data" in texts and "6 Runs" in texts and "30 Data" in texts
    browser.save_screenshot(str(tmp_path / "collapsed.png"))
    group = browser.find_element(
        By.XPATH, "//*[local-name()='g'][contains(@class,'node')][contains(., '6 Runs')]//*[local-name()='a']"
    )
    group.click()
    WebDriverWait(browser, 30).until(lambda d: "expand=" in d.current_url)
    ready(browser)
    assert "10 one by one and 36 in 7 collapsed groups" in summary(browser), summary(browser)
    assert sum("5 Data" in t for t in boxes(browser)) == 6, "each B Run's outputs: one group each"


def test_the_search_box_finds_a_node_inside_a_group(browser, fan_out) -> None:
    base, start, knit = fan_out
    hidden = data.find(knit, ["level:2"])[7]["knitId"]
    browser.get(f"{base}/knit/lineage/{start}?depth=all")
    ready(browser)
    box = browser.find_element(By.ID, "graph-find")
    box.send_keys(hidden[:13])
    box.submit()
    WebDriverWait(browser, 30).until(lambda d: "find=" in d.current_url)
    ready(browser)
    assert "1 node match" in summary(browser) and "Showing 46 of 46 nodes" in summary(browser)
    titles = [t.get_attribute("textContent") for t in browser.find_elements(By.CSS_SELECTOR, "g.node > title")]
    assert "d" + hidden in titles
    assert browser.find_element(By.CSS_SELECTOR, ".graph-viewport").get_attribute("data-focus") == "d" + hidden
