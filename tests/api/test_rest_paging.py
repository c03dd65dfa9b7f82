"""The REST lists and the pages, paged by keyset: ``?limit=N[&cursor=C]`` answers one page newest first with its
neighbours in ``Link`` / ``X-Next-Cursor`` headers; without them the whole list streams in Knitfab's order. The
remote client reads both the same way."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from knit_provider.catalog.data import register_upload
from knit_provider.catalog.engine import write_tx
from knit_provider.core.tags import Tag
from knit_provider.remote import KnitClient
from knit_provider.service import data, plans, runs

pytestmark = pytest.mark.scale


def seed(knit, count: int, tag: str = "kind:listed") -> list[str]:
    ids = []
    for _ in range(count):
        ids.append(str(uuid.uuid4()))
        with write_tx(knit.engine) as conn:
            register_upload(conn, ids[-1], [Tag(*tag.split(":"))], checksum=None, size=None)
        time.sleep(0.002)
    return ids


def test_a_page_is_newest_first_and_links_to_its_neighbours(api, api_knit) -> None:
    ids = seed(api_knit, 7)
    first = api.get("/api/data", params={"tag": "kind:listed", "limit": 3})
    assert first.status_code == 200, first.text
    assert [d["knitId"] for d in first.json()] == ids[::-1][:3]
    assert first.json()[0] == data.show(api_knit, ids[-1])
    assert "X-Prev-Cursor" not in first.headers
    next_url = first.links["next"]["url"]
    assert "tag=kind%3Alisted" in next_url and "limit=3" in next_url, "the link keeps the filters"
    second = api.get(next_url)
    assert [d["knitId"] for d in second.json()] == ids[::-1][3:6]
    third = api.get("/api/data", params={"tag": "kind:listed", "limit": 3, "cursor": second.headers["X-Next-Cursor"]})
    assert [d["knitId"] for d in third.json()] == [ids[0]] and "X-Next-Cursor" not in third.headers
    back = api.get(third.links["prev"]["url"])
    assert back.json() == second.json()


def test_without_limit_the_whole_list_streams_oldest_first(api, api_knit) -> None:
    ids = seed(api_knit, 5)
    whole = api.get("/api/data", params={"tag": "kind:listed"})
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/json"
    assert whole.json() == data.find(api_knit, ["kind:listed"]) and [d["knitId"] for d in whole.json()] == ids
    assert api.get("/api/data", params={"tag": "kind:nothing"}).json() == []


def test_runs_and_plans_pages(api, api_knit) -> None:
    spec = "image: repo/paged:1\ninputs: [{path: /in, tags: ['kind:listed']}]\noutputs: [{path: /out, tags: ['k:o']}]\n"
    plan_id = plans.apply(api_knit, spec)["planId"]
    inputs = seed(api_knit, 4)
    page = api.get("/api/runs", params={"plan": plan_id, "limit": 2})
    assert [r["inputs"][0]["knitId"] for r in page.json()] == inputs[::-1][:2]
    rest = api.get(page.links["next"]["url"]).json()
    assert [r["inputs"][0]["knitId"] for r in rest] == inputs[::-1][2:]
    assert api.get("/api/runs", params={"plan": plan_id}).json() == runs.find(api_knit, plan_ids=[plan_id])
    other = plans.apply(api_knit, spec.replace("paged:1", "paged:2").replace("k:o", "k:p"))["planId"]
    assert [p["planId"] for p in api.get("/api/plans", params={"limit": 1}).json()] == [other]
    assert [p["planId"] for p in api.get("/api/plans").json()] == [plan_id, other]


def test_bad_paging_arguments_are_one_line_400s(api) -> None:
    bad = api.get("/api/data", params={"limit": 3, "cursor": "nonsense"})
    assert bad.status_code == 400 and bad.json()["field"] == "cursor"
    assert "not a cursor of the data list" in bad.json()["message"]
    assert api.get("/api/runs", params={"limit": 0}).json()["field"] == "limit"
    assert api.get("/api/plans", params={"limit": 5000}).status_code == 400
    assert api.get("/api/data", params={"tag": "nocolon"}).status_code == 400, "the stream fails before it starts"


def test_the_remote_client_pages_and_streams(api, api_knit) -> None:
    ids = seed(api_knit, 6)
    client = KnitClient("http://testserver", token="unused", prefix="", http=api)
    page = client.data.find_page(["kind:listed"], limit=4)
    assert [d["knitId"] for d in page.items] == ids[::-1][:4] and page.prev is None
    older = client.data.find_page(["kind:listed"], limit=4, cursor=page.next)
    assert [d["knitId"] for d in older.items] == ids[::-1][4:] and older.next is None
    streamed = client.data.find_iter(["kind:listed"])
    assert next(streamed)["knitId"] == ids[0]
    assert [d["knitId"] for d in streamed] == ids[1:]


# ---- pages ------------------------------------------------------------------------------------------------------


def rows(html: str) -> list[str]:
    return re.findall(r'<td><a href="[^"]*" class="mono">([0-9a-f-]{36})</a></td>', html)


def test_the_data_browser_pages_by_cursor(api, api_knit, monkeypatch) -> None:
    from knit_provider.api.pages import data as data_page

    monkeypatch.setattr(data_page, "PAGE_SIZE", 4)
    ids = seed(api_knit, 10)
    first = api.get("/data", params={"tags": "kind:listed"})
    assert first.status_code == 200, first.text
    assert rows(first.text) == ids[::-1][:4]
    assert "10 Data tagged kind:listed, newest first" in first.text
    older = re.search(r'<a href="([^"]*)" rel="next">older', first.text).group(1).replace("&amp;", "&")
    second = api.get("/data" + older)  # a query-only link: the browser keeps the page's path
    assert rows(second.text) == ids[::-1][4:8]
    newer = re.search(r'<a href="([^"]*)" rel="prev">', second.text).group(1).replace("&amp;", "&")
    assert rows(api.get("/data" + newer).text) == ids[::-1][:4]
    assert api.get("/data", params={"cursor": "junk"}).status_code == 400


def test_the_runs_and_plans_pages_page_too(api, api_knit, monkeypatch) -> None:
    from knit_provider.api.pages import plans as plan_page
    from knit_provider.api.pages import runs as run_page

    monkeypatch.setattr(run_page, "PAGE_SIZE", 2)
    monkeypatch.setattr(plan_page, "PAGE_SIZE", 1)
    spec = "image: repo/paged:1\ninputs: [{path: /in, tags: ['kind:listed']}]\noutputs: [{path: /out, tags: ['k:o']}]\n"
    plan_id = plans.apply(api_knit, spec)["planId"]
    other = plans.apply(api_knit, spec.replace("paged:1", "paged:2").replace("k:o", "k:p"))["planId"]
    seed(api_knit, 3)
    listed = api.get("/runs", params={"plan": plan_id})
    assert "3 Runs, newest first" in listed.text
    assert len(rows(listed.text)) == 2 and 'rel="next"' in listed.text
    plan_list = api.get("/plans")
    assert "2 Plans, newest first" in plan_list.text and other in plan_list.text and plan_id not in plan_list.text
