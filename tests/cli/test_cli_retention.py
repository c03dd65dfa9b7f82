"""``knit data purge --where`` in both modes (remote: ``POST /knit/api/retention/preview|purge``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.explain


def test_purge_where_keeps_the_newest_per_group(cli, folder, cli_catalog) -> None:
    pushed = {}
    for name, project in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("x", None)):
        folder(name, {"f.txt": name * 10})
        tags = ["-t", "type:model"] + (["-t", f"project:{project}"] if project else [])
        pushed[name] = cli("data", "push", *tags, name).json()["knitId"]
    dry = cli("data", "purge", "--where", "-t", "type:model", "--keep-last", "1", "--per", "project", "--dry-run")
    assert dry.code == 0, dry.stderr
    assert [d["knitId"] for d in dry.json()["data"]] == [pushed["a1"]] and dry.json()["bytes"] == 20
    assert dry.stderr.strip() == "knit: would purge 1 Data (0.0 MiB freed); kept the 3 newest"
    assert cli_catalog.store.exists(pushed["a1"])
    real = cli("data", "purge", "--where", "-t", "type:model", "--keep-last", "1", "--per", "project")
    assert real.code == 0 and real.json()["count"] == 1, real.stderr
    assert "knit#transient:purged" in cli("data", "find", "-t", f"knit#id:{pushed['a1']}").json()[0]["tags"]
    assert not cli_catalog.store.exists(pushed["a1"]) and cli_catalog.store.exists(pushed["a2"])


def test_usage_and_selection_errors(cli, folder) -> None:
    for args, words in (
        (["--where"], "a selection of nothing would purge every Data"),
        (["--where", "--older-than", "soon"], "not a duration"),
        (["--where", "--per", "project", "-t", "a:b"], "give keep_last too"),
    ):
        refused = cli("data", "purge", *args)
        assert refused.code == 1 and words in refused.stderr and "\n" not in refused.stderr.strip(), refused.stderr
    for args in (["--keep-last", "2", "some-id"], ["--where", "some-id", "-t", "a:b"], [], ["--dry-run", "x"]):
        usage = cli("data", "purge", *args)
        assert usage.code == 2, (args, usage.stderr)
