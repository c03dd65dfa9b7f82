"""The Data page's Purge button in a real browser (Knitfab 2.0's ``knit data purge``): it asks for a confirmation,
purges, and the page then shows the Data as purged (a grey badge and banner, no download, a grey lineage node)."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from knit_provider.service import data

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.compat]
TIMEOUT = 60


def load(browser, action) -> None:
    """Do something that loads a new page, and wait until it has."""
    browser.execute_script("window.knitTestOldPage = true")
    action()
    WebDriverWait(browser, TIMEOUT, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.execute_script("return !window.knitTestOldPage && document.readyState === 'complete'")
    )


def test_the_purge_button_confirms_then_purges(browser, airflow, knit, seed, shot, tmp_path):
    folder = tmp_path / "to-purge"
    folder.mkdir()
    (folder / "big.txt").write_text("soon gone\n")
    knit_id = data.push_dir(knit, folder, ["project:purge-button"])["knitId"]
    load(browser, lambda: browser.get(f"{airflow.url}/knit/data/{knit_id}"))
    assert browser.find_elements(By.LINK_TEXT, "Download (tar.gz)")
    assert not browser.find_element(By.ID, "purge-form").is_displayed(), "the form waits behind 'Purge this Data…'"

    browser.find_element(By.CSS_SELECTOR, "#purge summary").click()
    button = browser.find_element(By.CSS_SELECTOR, "#purge-form button[type=submit]")
    button.click()  # not confirmed: the browser does not send the form
    assert browser.execute_script("return document.getElementById('purge-form').checkValidity()") is False
    assert "knit#transient:purged" not in data.show(knit, knit_id)["tags"] and knit.store.exists(knit_id)
    shot("confirm")

    browser.find_element(By.ID, "purge-confirm").click()
    load(browser, button.click)
    assert "Purged: the content is deleted" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert browser.find_element(By.ID, "purged-badge").text == "purged"
    assert "no new Run will use it" in browser.find_element(By.ID, "purged-banner").text
    assert not browser.find_elements(By.LINK_TEXT, "Download (tar.gz)")
    assert not browser.find_elements(By.ID, "purge-form")
    assert "Data (purged)" in browser.find_element(By.CSS_SELECTOR, ".graph-viewport svg").get_attribute("innerHTML")
    assert "knit#transient:purged" in data.show(knit, knit_id)["tags"] and not knit.store.exists(knit_id)
    shot("purged")


def test_the_server_needs_the_confirmation_too(airflow, knit, tmp_path):
    """A form posted without the confirmation box (say, by a script) purges nothing."""
    import urllib.error
    import urllib.request

    folder = tmp_path / "kept"
    folder.mkdir()
    knit_id = data.push_dir(knit, folder, ["project:purge-button"])["knitId"]
    request = urllib.request.Request(
        f"{airflow.url}/knit/data/{knit_id}/purge",
        data=b"other=field",
        method="POST",
        headers={
            "Cookie": f"_token={airflow.token()}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": airflow.url,
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400 and b"tick the box to confirm" in refused.value.read()
    assert "knit#transient:purged" not in data.show(knit, knit_id)["tags"] and knit.store.exists(knit_id)
