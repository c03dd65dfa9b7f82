"""Run control on the pages (beyond Knitfab): the Plan page shows a Plan's timeout and retries and lets a user with
DAG edit access set and unset them (same-origin forms, as the active toggle); the Run page shows the attempt and
the ended attempts."""

from __future__ import annotations

import re

import pytest

from knit_provider.service import data, execution, plans, runs

pytestmark = pytest.mark.run_control
PLAN = "image: r/pg:v1\ninputs: [{path: /in, tags: ['pg:in']}]\noutputs: [{path: /out, tags: ['pg:out']}]\n"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://testserver"}


def post(api, path: str, body: str, **headers: str):
    return api.post(path, content=body, headers={**FORM, **headers}, follow_redirects=False)


def text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</dd>', html, re.S)
    assert found, element_id
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_timeout_and_retries_are_shown_set_and_unset_on_the_plan_page(api, api_knit) -> None:
    plan_id = plans.apply(api_knit, PLAN)["planId"]
    page = api.get(f"/plans/{plan_id}").text
    assert text(page, "plan-timeout") == "not set: the default (none) applies"
    assert text(page, "plan-retries") == "not set: the default (0 (delay 30s)) applies"
    assert 'id="timeout-form"' in page and 'id="timeout-unset"' not in page

    moved = post(api, f"/plans/{plan_id}/timeout", "timeout=90m&action=set")
    assert moved.status_code == 303 and moved.headers["location"].endswith(f"/plans/{plan_id}?saved=timeout")
    assert post(api, f"/plans/{plan_id}/retries", "count=2&delay=10s&action=set").status_code == 303
    assert plans.show(api_knit, plan_id)["timeout"] == "1h30m"
    assert plans.show(api_knit, plan_id)["retries"] == {"count": 2, "delay": "10s"}
    page = api.get(f"/plans/{plan_id}?saved=retries").text
    assert text(page, "plan-timeout") == "1h30m" and text(page, "plan-retries") == "2 (delay 10s)"
    assert "Retries set." in page and "timeout: 1h30m" in page, "the YAML shows them too"

    assert post(api, f"/plans/{plan_id}/timeout", "timeout=&action=unset").status_code == 303
    assert post(api, f"/plans/{plan_id}/retries", "count=&delay=&action=unset").status_code == 303
    assert plans.show(api_knit, plan_id).keys().isdisjoint({"timeout", "retries"})


def test_bad_values_and_foreign_forms_change_nothing(api, api_knit) -> None:
    plan_id = plans.apply(api_knit, PLAN + "timeout: 2h\n")["planId"]
    bad = post(api, f"/plans/{plan_id}/timeout", "timeout=soon&action=set")
    assert bad.status_code == 400 and "timeout" in bad.text
    assert post(api, f"/plans/{plan_id}/retries", "count=many&action=set").status_code == 400
    assert post(api, f"/plans/{plan_id}/retries", "count=500&action=set").status_code == 400
    foreign = post(api, f"/plans/{plan_id}/timeout", "timeout=1s&action=set", Origin="http://evil.example")
    assert foreign.status_code == 403
    assert plans.show(api_knit, plan_id)["timeout"] == "2h" and "retries" not in plans.show(api_knit, plan_id)


def test_the_run_page_shows_the_attempt_and_the_ended_attempts(api, api_knit, tmp_path) -> None:
    plan_id = plans.apply(api_knit, PLAN + "retries: 2\n")["planId"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_text("a")
    data.push_dir(api_knit, tmp_path / "in", ["pg:in"])
    (run,) = runs.find(api_knit, plan_ids=[plan_id])
    assert text(api.get(f"/runs/{run['runId']}").text, "run-attempt") == "1"
    for left in (2, 1):
        execution.start_attempt(api_knit, run["runId"])
        execution.started(api_knit, run["runId"])
        execution.conclude(api_knit, run["runId"], exit_code=7, message=f"boom {left}", retries_left=left)
    page = api.get(f"/runs/{run['runId']}").text
    assert text(page, "run-attempt") == "3 (2 ended)"
    table = page[page.index('id="run-attempts"') :]
    assert "boom 2" in table and "boom 1" in table and table.index("boom 2") < table.index("boom 1")
