"""``knit data purge KNIT_ID`` (Knitfab 2.0) as a user runs it, in both modes (remote: ``DELETE /knit/api/data/ID``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from knit_dev import lifecycle

pytestmark = pytest.mark.compat

PURGED = "knit#transient:purged"
PLAN = "image: x/y:1\ninputs: [{path: /in/a, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:out']}]\n"


def one_line(result) -> str:
    assert result.code == 1, (result.code, result.stderr)
    text = result.stderr.strip()
    assert text.startswith("knit: ") and "\n" not in text, result.stderr
    return text


def test_purge_keeps_the_data_and_deletes_its_content(cli, folder, workdir: Path, cli_catalog) -> None:
    folder("d", {"a.txt": "alpha"})
    knit_id = cli("data", "push", "-t", "k:v", "d").json()["knitId"]
    purged = cli("data", "purge", knit_id)
    assert purged.code == 0, purged.stderr
    assert PURGED in purged.json()["tags"] and "k:v" in purged.json()["tags"]
    assert f"Data is purged: knit#id:{knit_id}" in purged.stderr
    assert not cli_catalog.store.exists(knit_id)
    assert cli("data", "purge", knit_id).json() == purged.json(), "purging again changes nothing"

    for args in ([knit_id, "out"], ["-x", knit_id, "out"], [knit_id, "-"]):
        refused = cli("data", "pull", *args)
        assert f"data {knit_id} was purged" in one_line(refused) and refused.stdout == ""
    assert not (workdir / "out").exists(), "nothing written"

    assert [d["knitId"] for d in cli("data", "find", "--transient", "purged").json()] == [knit_id]
    assert [d["knitId"] for d in cli("data", "find", "--transient", "yes").json()] == [knit_id]
    assert cli("data", "find", "--transient", "no").json() == []
    assert [d["knitId"] for d in cli("data", "find", "-t", PURGED).json()] == [knit_id]


def test_purge_is_refused_while_a_run_uses_the_data_and_then_blocks_its_retry(
    cli, folder, workdir: Path, cli_catalog
) -> None:
    (workdir / "plan.yaml").write_text(PLAN)
    plan_id = cli("plan", "apply", "plan.yaml").json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:raw", "d").json()["knitId"]
    (run,) = cli("run", "find", "-p", plan_id).json()
    blocked = one_line(cli("data", "purge", knit_id))
    assert f"cannot purge data {knit_id}: run {run['runId']} uses it and has not finished" in blocked
    assert PURGED not in cli("data", "find", "-t", f"knit#id:{knit_id}").json()[0]["tags"]

    lifecycle.finish(cli_catalog, run["runId"], exit_code=0)  # play the runner
    assert cli("data", "purge", knit_id).code == 0
    refused = one_line(cli("run", "retry", run["runId"]))
    assert f"its input data {knit_id} was purged" in refused


def test_purging_an_unknown_id_is_one_line(cli) -> None:
    assert "data not found: no-such-id" in one_line(cli("data", "purge", "no-such-id"))
