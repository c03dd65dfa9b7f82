"""``knit data find`` / ``knit run find`` streamed, and ``--limit N`` (the N newest, newest first, read page by page
in both modes: locally from the service, remotely from the REST API's pages)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from knit_provider.catalog.data import register_upload
from knit_provider.catalog.engine import write_tx
from knit_provider.cli import listing
from knit_provider.core.tags import Tag
from knit_provider.service import data, dispatching, plans, runs

pytestmark = pytest.mark.scale


def seed(knit, count: int, tag: str) -> list[str]:
    """``count`` Data, each created a little after the one before (oldest first)."""
    ids = []
    for _ in range(count):
        knit_id = str(uuid.uuid4())
        with write_tx(knit.engine) as conn:
            register_upload(conn, knit_id, [Tag(*tag.split(":"))], checksum=None, size=None)
        ids.append(knit_id)
        time.sleep(0.002)
    return ids


def test_data_find_prints_the_same_text_as_before_oldest_first(cli, cli_catalog) -> None:
    ids = seed(cli_catalog, 7, "kind:listed")
    result = cli("data", "find", "-t", "kind:listed")
    assert result.code == 0, result.stderr
    expected = data.find(cli_catalog, ["kind:listed"])
    assert [d["knitId"] for d in expected] == ids
    assert result.stdout == json.dumps(expected, indent=4, ensure_ascii=False) + "\n", "byte for byte"
    empty = cli("data", "find", "-t", "kind:nothing")
    assert empty.code == 0 and empty.stdout == "[]\n"


def test_limit_gives_the_newest_first_reading_page_by_page(cli, cli_catalog, monkeypatch) -> None:
    monkeypatch.setattr(listing, "MAX_LIMIT", 2)  # pages of 2: --limit 5 reads three pages
    ids = seed(cli_catalog, 7, "kind:listed")
    result = cli("data", "find", "-t", "kind:listed", "--limit", "5")
    assert result.code == 0, result.stderr
    assert [d["knitId"] for d in result.json()] == ids[::-1][:5]
    everything = cli("data", "find", "-t", "kind:listed", "--limit", "100")
    assert [d["knitId"] for d in everything.json()] == ids[::-1]


def test_run_find_streams_and_limits(cli, cli_catalog, monkeypatch) -> None:
    monkeypatch.setattr(listing, "MAX_LIMIT", 2)
    spec = (
        "image: repo/lister:1\ninputs: [{path: /in, tags: ['kind:listed']}]\n"
        "outputs: [{path: /out, tags: ['kind:made']}]\n"
    )
    plan_id = plans.apply(cli_catalog, spec)["planId"]
    inputs = seed(cli_catalog, 5, "kind:listed")
    first_run = runs.find(cli_catalog, input_ids=[inputs[0]])[0]["runId"]
    dispatching.mark_dispatched(cli_catalog, first_run)  # now the last by update time, still the first created
    result = cli("run", "find", "-p", plan_id)
    assert result.code == 0, result.stderr
    expected = runs.find(cli_catalog, plan_ids=[plan_id])
    assert expected[-1]["runId"] == first_run
    assert result.stdout == json.dumps(expected, indent=4, ensure_ascii=False) + "\n"
    newest = cli("run", "find", "-p", plan_id, "--limit", "3").json()
    assert [r["inputs"][0]["knitId"] for r in newest] == inputs[::-1][:3]


def test_a_bad_limit_is_a_usage_error_and_a_bad_filter_prints_nothing(cli) -> None:
    assert cli("data", "find", "--limit", "0").code == 2
    assert cli("run", "find", "--limit", "many").code == 2
    bad = cli("run", "find", "-s", "sleeping")
    assert bad.code == 2 and bad.stdout == "" and "sleeping" in bad.stderr
    no_tag = cli("data", "find", "-t", "nocolon", "--limit", "3")
    assert no_tag.code == 1 and no_tag.stdout == "" and "nocolon" in no_tag.stderr
