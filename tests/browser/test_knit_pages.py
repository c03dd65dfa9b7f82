"""The Knit pages in a real browser, logged into a real ``airflow standalone``: Airflow's login and navigation, the
Data browser and tag editor, the lineage viewer, a Run and its Airflow DagRun, the Plan toggle, and markup in tags
shown as text. Screenshots go to ``test-artifacts/browser/``."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from knit_dev.browser import chromium
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from knit_provider.core.airflow_names import dagrun_id
from knit_provider.service import data, plans

from .conftest import IMG_TAG, SCRIPT_TAG, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT = 60
KNIT_ENTRIES = ("Data", "Plans", "Runs", "Lineage")


def open_page(browser, airflow, path: str) -> None:
    browser.get(airflow.url + path)
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.execute_script("return document.readyState") == "complete")


def text_of(browser, css: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, css).text


def wait_text(browser, css: str, wanted: str) -> None:
    WebDriverWait(browser, TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: any(wanted in e.text for e in d.find_elements(By.CSS_SELECTOR, css)),
        f"{wanted!r} in {css}",
    )


def navigate(browser, action: Callable[[], object]) -> None:
    """Do something that loads a new page and wait until it has (so no check reads the page it came from).

    The old page is marked in its ``window``; the new page's fresh ``window`` has no mark. Errors while the
    document is being swapped are ignored (ChromeDriver may answer "node does not belong to the document").
    """
    browser.execute_script("window.knitTestOldPage = true")
    action()
    WebDriverWait(browser, TIMEOUT, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.execute_script("return !window.knitTestOldPage && document.readyState === 'complete'")
    )


def submit(browser, form_css: str) -> None:
    navigate(browser, browser.find_element(By.CSS_SELECTOR, f"{form_css} button[type=submit]").click)


def follow(browser, element) -> None:
    """Click a link or button and wait for the page it leads to."""
    navigate(browser, element.click)


def assert_no_alert(browser) -> None:
    try:
        alert = browser.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    raise AssertionError(f"an alert opened: {text!r}")


def viewer_ready(browser) -> None:
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.execute_script("return document.querySelector('.graph-viewport').dataset.ready") == "1"
    )


def request(airflow, path: str, *, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    """A raw HTTP exchange that does not follow redirects: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    call = urllib.request.Request(airflow.url + path, data=body, method=method, headers=headers or {})
    try:
        with opener.open(call, timeout=30) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


# ---- authentication ------------------------------------------------------------------------------------------


def test_an_anonymous_browser_logs_in_through_airflow_and_comes_back(airflow, seed):
    driver = chromium()
    try:
        driver.get(airflow.url + "/knit/data?tags=kind:raw")
        WebDriverWait(driver, TIMEOUT).until(lambda d: "/auth/login" in d.current_url)
        assert "next=%2Fknit%2Fdata" in driver.current_url
        log_in(driver, airflow)
        WebDriverWait(driver, TIMEOUT).until(lambda d: "/knit/data" in d.current_url)
        wait_text(driver, "#data-table", seed.raw)
        assert driver.find_element(By.NAME, "tags").get_attribute("value") == "kind:raw"
    finally:
        driver.quit()


def test_without_a_session_pages_answer_401_or_send_a_browser_to_log_in(airflow, knit, seed):
    status, headers, _ = request(airflow, "/knit/data", headers={"Accept": "text/html,application/xhtml+xml"})
    assert status == 303 and headers["Location"] == "/api/v2/auth/login?next=%2Fknit%2Fdata"
    assert request(airflow, "/knit/data", headers={"Accept": "application/json"})[0] == 401
    assert request(airflow, "/knit/static/knit.css")[0] == 401
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": airflow.url}
    posted = request(airflow, f"/knit/plans/{seed.idle_plan}/active", method="POST", headers=form, body=b"active=no")
    assert posted[0] == 401 and plans.show(knit, seed.idle_plan)["active"]
    status, headers, page = request(airflow, "/knit/data", headers={"Authorization": f"Bearer {airflow.token()}"})
    assert status == 200 and b"Data" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_a_form_posted_from_another_origin_changes_nothing(airflow, knit, seed):
    before = data.show(knit, seed.raw)["tags"]
    cookie = {"Cookie": f"_token={airflow.token()}", "Content-Type": "application/x-www-form-urlencoded"}
    path = f"/knit/data/{seed.raw}/tags"
    for origin in ({"Origin": "http://attacker.example:8080"}, {"Referer": "http://localhost:1/page"}, {}):
        status, _, body = request(airflow, path, method="POST", headers=cookie | origin, body=b"add=x%3Ay")
        assert status == 403, body
    assert data.show(knit, seed.raw)["tags"] == before


# ---- Airflow's navigation --------------------------------------------------------------------------------------


def test_the_knit_menu_in_airflows_navigation_opens_the_pages(browser, airflow, seed, shot):
    open_page(browser, airflow, "/")
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_elements(By.XPATH, "//*[normalize-space(text())='Plugins']"))
    browser.find_element(By.XPATH, "//*[normalize-space(text())='Plugins']").click()
    knit_menu = WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.XPATH, "//*[@role='menuitem' and normalize-space(.)='Knit']")
    )
    ActionChains(browser).move_to_element(knit_menu).click().perform()
    entries = WebDriverWait(browser, TIMEOUT).until(
        lambda d: [e.text for e in d.find_elements(By.XPATH, "//*[@role='menuitem']") if e.text in KNIT_ENTRIES]
    )
    assert entries == list(KNIT_ENTRIES)
    shot("menu")
    browser.find_element(By.XPATH, "//*[@role='menuitem' and normalize-space(.)='Data']").click()
    WebDriverWait(browser, TIMEOUT).until(lambda d: "/plugin/knit-data" in d.current_url)
    frame = WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element(By.TAG_NAME, "iframe"))
    browser.switch_to.frame(frame)
    try:
        wait_text(browser, "#data-table", seed.raw)
        assert not browser.find_element(By.CSS_SELECTOR, ".to-airflow").is_displayed()  # inside Airflow already
    finally:
        browser.switch_to.default_content()
    shot("data-in-airflow")


def open_tab(browser, url_route: str, name: str) -> None:
    """Click the plugin's tab on an Airflow DAG or DagRun page and switch into the iframe it shows."""
    tab = WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.XPATH, f"//a[substring-after(@href, '/plugin/')='{url_route}']")
    )
    assert tab.text == name
    tab.click()
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.current_url.endswith(f"/plugin/{url_route}"))
    browser.switch_to.frame(WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element(By.TAG_NAME, "iframe")))


def test_a_plan_dags_knit_tab_shows_its_plan(browser, airflow, seed, shot):
    open_page(browser, airflow, f"/dags/{seed.copy_dag}")
    open_tab(browser, "knit-plan", "Knit Plan")
    try:
        wait_text(browser, "h1", seed.copy_plan)
        assert "image: knit-browser/sh:1.0" in text_of(browser, "#plan-yaml")
    finally:
        browser.switch_to.default_content()
    shot("dag-tab")


# ---- Data ------------------------------------------------------------------------------------------------------


def test_searching_data_by_tag_and_transience(browser, airflow, seed, shot):
    open_page(browser, airflow, "/knit/data")
    box = browser.find_element(By.NAME, "tags")
    box.clear()
    box.send_keys("kind:derived")
    submit(browser, "#data-search")
    wait_text(browser, "#data-count", "1 Data tagged kind:derived")
    table = text_of(browser, "#data-table")
    assert seed.derived in table and seed.raw not in table
    shot("derived")

    Select(browser.find_element(By.NAME, "transient")).select_by_value("yes")
    submit(browser, "#data-search")
    wait_text(browser, "#data-count", "0 Data")
    assert "No Data matches." in text_of(browser, "#data-table")

    open_page(browser, airflow, "/knit/data")
    follow(browser, browser.find_element(By.XPATH, "//a[@class='tag' and normalize-space(.)='project:browser']"))
    wait_text(browser, "#data-count", "2 Data tagged project:browser")
    assert {seed.raw, seed.evil} <= set(text_of(browser, "#data-table").split())


def test_a_data_page_shows_its_runs_and_edits_its_tags(browser, airflow, knit, seed, shot):
    open_page(browser, airflow, f"/knit/data/{seed.raw}")
    assert seed.run in text_of(browser, "#downstreams")
    assert "knit-browser/sh:1.0" in text_of(browser, "#nominations")
    download = browser.find_element(By.LINK_TEXT, "Download (tar.gz)").get_attribute("href")
    assert download == f"{airflow.url}/knit/api/data/{seed.raw}"

    browser.find_element(By.ID, "add-tags").send_keys("reviewed:yes\nnote:looks good")
    submit(browser, "#tag-form")
    wait_text(browser, ".notice", "Tags saved.")
    assert {"reviewed:yes", "note:looks good"} <= set(data.show(knit, seed.raw)["tags"])
    assert "reviewed:yes" in text_of(browser, "#data-tags")
    shot("tagged")

    browser.find_element(By.CSS_SELECTOR, "input[name=remove][value='reviewed:yes']").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=remove][value='note:looks good']").click()
    submit(browser, "#tag-form")
    wait_text(browser, ".notice", "Tags saved.")
    assert "reviewed:yes" not in data.show(knit, seed.raw)["tags"]

    before = data.show(knit, seed.raw)["tags"]
    browser.find_element(By.ID, "add-tags").send_keys("fine:tag\nknit#id:forged")
    submit(browser, "#tag-form")
    wait_text(browser, ".error", "knit#")
    assert data.show(knit, seed.raw)["tags"] == before  # all or nothing
    assert "knit#id:forged" in browser.find_element(By.ID, "add-tags").get_attribute("value")  # input kept
    shot("refused")


# ---- lineage ---------------------------------------------------------------------------------------------------


def svg_link(browser, href_end: str):
    return browser.find_element(
        By.XPATH,
        f"//*[local-name()='a'][substring(@*[local-name()='href'], string-length(@*[local-name()='href']) - "
        f"{len(href_end) - 1})='{href_end}']",
    )


def test_the_lineage_viewer_pans_zooms_and_opens_nodes(browser, airflow, seed, shot):
    open_page(browser, airflow, f"/knit/lineage/{seed.raw}?depth=all")
    viewer_ready(browser)
    nodes = browser.find_elements(By.CSS_SELECTOR, ".graph-viewport g.node")
    assert len(nodes) == 6  # root, upload Run, raw, copy Run, derived, log
    shot("lineage")
    viewport = browser.find_element(By.CSS_SELECTOR, ".graph-viewport")
    scale = float(viewport.get_attribute("data-scale"))
    browser.find_element(By.CSS_SELECTOR, "[data-zoom=in]").click()
    WebDriverWait(browser, TIMEOUT).until(lambda d: float(viewport.get_attribute("data-scale")) > scale)

    offset = viewport.get_attribute("data-offset")
    ActionChains(browser).move_to_element_with_offset(viewport, 5, 5).click_and_hold().move_by_offset(
        120, 40
    ).release().perform()
    WebDriverWait(browser, TIMEOUT).until(lambda d: viewport.get_attribute("data-offset") != offset)
    assert "/knit/lineage/" in browser.current_url  # a drag opens nothing

    browser.find_element(By.CSS_SELECTOR, "[data-zoom=fit]").click()
    follow(browser, svg_link(browser, f"/knit/runs/{seed.run}"))
    assert browser.current_url.endswith(f"/knit/runs/{seed.run}")

    open_page(browser, airflow, f"/knit/lineage/{seed.raw}")
    Select(browser.find_element(By.NAME, "direction")).select_by_value("up")
    depth = browser.find_element(By.NAME, "depth")
    depth.clear()
    depth.send_keys("1")
    submit(browser, "#lineage-form")
    assert "direction=up" in browser.current_url
    viewer_ready(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph-viewport g.node")) == 3  # root, upload Run, raw
    follow(browser, svg_link(browser, f"/knit/data/{seed.raw}"))
    assert browser.current_url.endswith(f"/knit/data/{seed.raw}")


# ---- Runs ------------------------------------------------------------------------------------------------------


def test_a_run_page_shows_the_run_and_leads_to_its_airflow_dagrun(browser, airflow, seed, shot):
    open_page(browser, airflow, "/knit/runs?status=done")
    follow(browser, browser.find_element(By.LINK_TEXT, seed.run))
    wait_text(browser, "h1", seed.run)
    assert "done" in text_of(browser, "h1")
    assert text_of(browser, "#run-exit").startswith("0")
    assert seed.raw in text_of(browser, "#run-inputs") and seed.derived in text_of(browser, "#run-outputs")
    assert "copying" in text_of(browser, "#run-log")
    shot("run")
    task = browser.find_element(By.ID, "airflow-task").get_attribute("href")
    assert task == f"{airflow.url}/dags/{seed.copy_dag}/runs/{dagrun_id(seed.run)}/tasks/run"

    follow(browser, browser.find_element(By.ID, "airflow-dagrun"))
    assert browser.current_url == f"{airflow.url}/dags/{seed.copy_dag}/runs/{dagrun_id(seed.run)}"
    open_tab(browser, "knit-run", "Knit Run")
    try:
        wait_text(browser, "h1", seed.run)
    finally:
        browser.switch_to.default_content()
    shot("dagrun-tab")

    open_page(browser, airflow, f"/dags/{seed.copy_dag}/runs/{dagrun_id(seed.run)}/tasks/run")
    WebDriverWait(browser, TIMEOUT).until(lambda d: "copying" in d.find_element(By.TAG_NAME, "body").text)
    shot("task-log")


# ---- Plans -----------------------------------------------------------------------------------------------------


def test_toggling_a_plan_on_its_page_and_in_the_list(browser, airflow, knit, seed, shot):
    open_page(browser, airflow, f"/knit/plans/{seed.idle_plan}")
    assert text_of(browser, "#plan-active") == "active"
    submit(browser, "#active-form")
    wait_text(browser, ".notice", "Plan deactivated.")
    assert text_of(browser, "#plan-active") == "inactive"
    assert plans.show(knit, seed.idle_plan)["active"] is False
    shot("deactivated")

    open_page(browser, airflow, "/knit/plans?active=no")
    row = f"#plan-table tr[data-plan='{seed.idle_plan}']"
    assert "inactive" in text_of(browser, row)
    follow(browser, browser.find_element(By.CSS_SELECTOR, f"{row} button[type=submit]"))
    assert browser.current_url.endswith("/knit/plans")
    assert "active" in text_of(browser, row).split()
    assert plans.show(knit, seed.idle_plan)["active"] is True


# ---- markup in tags --------------------------------------------------------------------------------------------


def test_markup_in_tags_is_shown_as_text_everywhere(browser, airflow, seed, shot):
    open_page(browser, airflow, f"/knit/data/{seed.evil}")
    assert_no_alert(browser)
    chips = text_of(browser, "#data-tags")
    assert SCRIPT_TAG in chips and IMG_TAG in chips
    injected = "return document.querySelectorAll('main script, main img, main [onerror]').length"
    assert browser.execute_script(injected) == 0
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 1  # knit.js, nothing else
    shot("data")

    open_page(browser, airflow, "/knit/data?tags=project:browser")
    assert_no_alert(browser)
    assert SCRIPT_TAG in text_of(browser, "#data-table")
    assert browser.execute_script(injected) == 0

    open_page(browser, airflow, f"/knit/lineage/{seed.evil}")
    viewer_ready(browser)
    assert_no_alert(browser)
    svg_text = browser.execute_script("return document.querySelector('.graph-viewport svg').textContent")
    assert "<script>alert(1)</script>" in svg_text and '<img src=x onerror="alert(2)">&amp;' in svg_text
    svg_elements = "return document.querySelectorAll('svg script, svg img, svg image, svg foreignObject').length"
    assert browser.execute_script(svg_elements) == 0
    assert "<script>alert" not in browser.page_source  # serialised DOM: only escaped text
    shot("lineage")
