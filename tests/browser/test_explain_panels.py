"""Knit explaining itself in a real browser on a real ``airflow standalone`` (issue 15): the Data page's "Plans and
why" panel finds a misspelled tag, the Plan page lists the Data that almost match, the Run page says why the Run
exists and why it is done, and the Retention page shows a policy and the last report of a real ``knit_retention``
DagRun, whose task log lists the purged ids."""

from __future__ import annotations

import json

import pytest
from knit_dev.waiting import wait_until
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from knit_provider.service import data, retention

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.explain]
TIMEOUT = 60


def load(browser, action) -> None:
    """Do something that loads a new page, and wait until it has."""
    browser.execute_script("window.knitTestOldPage = true")
    action()
    WebDriverWait(browser, TIMEOUT, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.execute_script("return !window.knitTestOldPage && document.readyState === 'complete'")
    )


def test_a_misspelled_tag_is_found_on_the_data_page_and_the_plan_page(browser, airflow, knit, seed, shot, tmp_path):
    folder = tmp_path / "typo"
    folder.mkdir()
    (folder / "n.txt").write_text("1\n")
    knit_id = data.push_dir(knit, folder, ["project:browser", "kind:rwa"])["knitId"]  # kind:raw, misspelled
    load(browser, lambda: browser.get(f"{airflow.url}/knit/data/{knit_id}"))
    panel = browser.find_element(By.ID, "plans-why")
    entry = next(
        e for e in panel.find_elements(By.CSS_SELECTOR, ".why-entry") if "/in/x" in e.text and "kind:raw" in e.text
    )
    assert "not nominated" in entry.text
    reason = entry.find_element(By.CSS_SELECTOR, "li[data-reason='missing-tags']").text
    assert reason == "the Data lacks kind:raw (it has kind:rwa, which differs only slightly: did you mean kind:raw?)"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", entry)
    shot("plans-and-why")

    load(browser, entry.find_element(By.CSS_SELECTOR, "a.mono").click)  # the Plan
    assert f"/knit/plans/{seed.copy_plan}" in browser.current_url
    near = browser.find_element(By.ID, "near-misses")
    row = next(r for r in near.find_elements(By.CSS_SELECTOR, "tbody tr") if knit_id in r.text)
    assert "did you mean kind:raw?" in row.text
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    shot("near-misses")
    load(browser, row.find_element(By.CSS_SELECTOR, "a.mono").click)
    assert f"/knit/data/{knit_id}" in browser.current_url


def test_the_run_page_says_why_the_run_exists_and_why_it_is_done(browser, airflow, seed, shot):
    load(browser, lambda: browser.get(f"{airflow.url}/knit/runs/{seed.run}"))
    cause = browser.find_element(By.ID, "run-cause")
    assert cause.get_attribute("data-event") == "upload"
    assert cause.text.startswith(f"Data {seed.raw} was uploaded at ") and "filled this Plan's input" in cause.text
    assert browser.find_element(By.ID, "run-state").text.startswith("it finished done at ")
    shot("run-why")


def test_the_retention_dag_purges_and_the_page_shows_its_report(browser, airflow, knit, seed, shot, tmp_path):
    folder = tmp_path / "old-models"
    folder.mkdir()
    (folder / "m.bin").write_text("weights" * 100)
    old = data.push_dir(knit, folder, ["kind:model", "project:retention"])["knitId"]
    new = data.push_dir(knit, folder, ["kind:model", "project:retention"])["knitId"]
    (airflow.knit_home / "retention.yaml").write_text(
        "policies:\n  - name: newest-model\n    tags: [kind:model]\n    keep_last: 1\n    per: [project]\n"
    )
    airflow.wait_for_dags(["knit_retention"], timeout=120)
    airflow.api("PATCH", "/api/v2/dags/knit_retention", {"is_paused": False})
    run = airflow.api("POST", "/api/v2/dags/knit_retention/dagRuns", {"logical_date": None})
    run_id = run["dag_run_id"]
    wait_until(
        lambda: airflow.api("GET", f"/api/v2/dags/knit_retention/dagRuns/{run_id}")["state"] in ("success", "failed"),
        180,
        "the knit_retention DagRun ends",
        interval=2,
    )
    assert airflow.api("GET", f"/api/v2/dags/knit_retention/dagRuns/{run_id}")["state"] == "success"
    log = json.dumps(
        airflow.api(
            "GET",
            f"/api/v2/dags/knit_retention/dagRuns/{run_id}/taskInstances/apply_policies/logs/1?full_content=true",
        )
    )
    assert f"purged {old} [policy newest-model] (700 bytes)" in log
    assert "policy newest-model: purged 1 Data, 700 bytes freed" in log
    assert "knit#transient:purged" in data.show(knit, old)["tags"] and not knit.store.exists(old)
    assert knit.store.exists(new) and retention.overview(knit)["reports"]["newest-model"]["count"] == 1

    load(browser, lambda: browser.get(f"{airflow.url}/knit/retention"))
    row = browser.find_element(By.CSS_SELECTOR, "#policies tr[data-policy='newest-model']")
    assert "keep the 1 newest per project" in row.text and "purged 1 Data, 700 bytes freed" in row.text
    row.find_element(By.TAG_NAME, "summary").click()
    assert row.find_element(By.CSS_SELECTOR, ".ids a").text == old
    shot("retention")
