"""Knit Data in Airflow's asset views, in a real browser: Airflow's Assets page lists a KnitAsset a DAG is scheduled
on, a Data's page links to the asset events it caused (and the asset's page in Airflow opens from there), and the
event's extra in Airflow links back to the Data's page."""

from __future__ import annotations

import pytest
from knit_dev.waiting import wait_until
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from knit_provider.service import assets, data
from knit_provider.service.assets import AssetSpec

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.assets]
TIMEOUT = 90
SPEC = AssetSpec.of(["project:browser-assets", "type:report"])
CONSUMER = '''"""A classic DAG scheduled on a KnitAsset, for the browser tests."""
from datetime import UTC, datetime

from airflow.sdk import dag, task

from knit_provider.assets import KnitAsset


@dag(dag_id="knit_browser_consumer", schedule=[KnitAsset(tags=["type:report", "project:browser-assets"])],
     start_date=datetime(2024, 1, 1, tzinfo=UTC), catchup=False, is_paused_upon_creation=False)
def consumer():
    @task
    def read():
        return "ok"

    read()


consumer()
'''


def test_the_assets_page_lists_the_knit_asset_and_a_data_page_links_to_its_events(
    browser, airflow, knit, browser_dags, shot, tmp_path
) -> None:
    (browser_dags / "knit_browser_consumer.py").write_text(CONSUMER)
    airflow.wait_for_dags(["knit_browser_consumer"], timeout=TIMEOUT)
    wait_until(lambda: SPEC.key in {w["asset_key"] for w in assets.watches(knit)}, TIMEOUT, "the watcher up")
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "report.md").write_text("# report\n")
    knit_id = data.push_dir(knit, folder, ["type:report", "project:browser-assets"])["knitId"]
    wait_until(lambda: [d["state"] for d in assets.deliveries_of(knit, knit_id)] == ["delivered"], TIMEOUT, "delivered")

    browser.get(f"{airflow.url}/assets")
    WebDriverWait(browser, TIMEOUT).until(lambda d: SPEC.name in d.find_element(By.TAG_NAME, "body").text)
    shot("airflow-assets-page")

    browser.get(f"{airflow.url}/knit/data/{knit_id}")
    link = browser.find_element(By.CSS_SELECTOR, "#asset-events a.asset-link")
    assert link.text == SPEC.name
    (delivery,) = assets.deliveries_of(knit, knit_id)
    assert link.get_attribute("href").endswith(f"/assets/{delivery['airflow_asset_id']}")
    assert f"#{delivery['airflow_event_id']}" in browser.find_element(By.ID, "asset-events").text
    shot("data-page-asset-events")
    browser.get(link.get_attribute("href"))
    WebDriverWait(browser, TIMEOUT).until(lambda d: SPEC.name in d.find_element(By.TAG_NAME, "body").text)
    shot("airflow-asset-page")

    # and back: the event's extra, as Airflow stores it, links to the Data's page, which opens in the browser
    events = airflow.api("GET", f"/api/v2/assets/events?asset_id={delivery['airflow_asset_id']}")["asset_events"]
    (event,) = [e for e in events if e["id"] == delivery["airflow_event_id"]]
    payload = event["extra"]["payload"]  # Airflow keeps a trigger's event payload under "payload"
    assert payload["knit_id"] == knit_id
    assert payload["data_url"] == f"{airflow.url}/knit/data/{knit_id}"
    browser.get(payload["data_url"])
    assert browser.find_element(By.TAG_NAME, "h1").text.endswith(knit_id)
