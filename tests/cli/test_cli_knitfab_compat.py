"""Issue 12 through ``knit``, in both modes: where Knitfab's CLI decides, ``knit`` here behaves the same."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.compat


def write(workdir: Path, name: str, text: str) -> str:
    (workdir / name).write_text(text)
    return name


def plan_yaml(inputs: str, outputs: str = "", extra: str = "", image: str = "repo/train:v1") -> str:
    return f'image: "{image}"\ninputs:\n{inputs}' + (f"outputs:\n{outputs}" if outputs else "") + extra


def mount(path: str, *tags: str) -> str:
    return f"  - path: {path}\n    tags: [{', '.join(repr(t) for t in tags)}]\n"


def timestamp_of(data: dict) -> str:
    return next(t.split(":", 1)[1] for t in data["tags"] if t.startswith("knit#timestamp:"))


def ms_of(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def user_tags(data: dict) -> list[str]:
    return [t for t in data["tags"] if not t.startswith("knit#")]


# ---- K1: plan find by pins -------------------------------------------------------------------------------------


def test_plan_find_matches_pinned_inputs_by_id_and_instant(cli, workdir: Path, folder) -> None:
    folder("d")
    data = cli("data", "push", "-t", "type:dataset", "d").json()
    knit_id, stamp = data["knitId"], timestamp_of(data)
    in_tokyo = datetime.fromisoformat(stamp).astimezone(ZoneInfo("Asia/Tokyo")).isoformat(timespec="milliseconds")
    by_id = cli(
        "plan", "apply",
        write(workdir, "a.yaml", plan_yaml(mount("/in/x", "type:dataset", f"knit#id:{knit_id}"), mount("/out", "t:o"))),
    ).json()["planId"]  # fmt: skip
    by_time = cli(
        "plan", "apply", write(workdir, "b.yaml", plan_yaml(mount("/in/y", f"knit#timestamp:{in_tokyo}")))
    ).json()["planId"]
    unpinned = cli("plan", "apply", write(workdir, "c.yaml", plan_yaml(mount("/in/z", "type:dataset")))).json()
    found = {args: [p["planId"] for p in cli("plan", "find", *args).json()] for args in [
        ("-i", f"knit#id:{knit_id}"),
        ("-i", f"knit#timestamp:{stamp}"),
        ("--in-tag", f"knit#timestamp:{in_tokyo}"),
        ("-i", "type:dataset", "-i", f"knit#id:{knit_id}"),
        ("-i", "type:dataset"),
        ("-i", "knit#id:someone-else"),
        ("-i", f"knit#id:{knit_id}", "-i", "knit#id:someone-else"),
        ("-i", f"knit#id:{knit_id}", "-o", "t:o"),
        ("-o", f"knit#id:{knit_id}"),
    ]}  # fmt: skip
    expected = [[by_id], [by_time], [by_time], [by_id], [by_id, unpinned["planId"]], [], [], [by_id], []]
    assert list(found.values()) == expected


# ---- K2: run find's long flags ---------------------------------------------------------------------------------


def test_run_find_takes_knitfabs_long_flags_and_the_old_ones(cli, workdir: Path, folder) -> None:
    plan_id = cli("plan", "apply", write(workdir, "p.yaml", plan_yaml(mount("/in", "type:x"), mount("/out", "t:o"))))
    plan_id = plan_id.json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:x", "d").json()["knitId"]
    (run,) = cli("run", "find", "-p", plan_id).json()
    output_id = run["outputs"][0]["knitId"]
    for flags in (
        ["--planid", plan_id], ["--plan", plan_id], ["--in-knitid", knit_id], ["--in", knit_id], ["-i", knit_id],
        ["--out-knitid", output_id], ["--out", output_id], ["-o", output_id],
        ["--planid", plan_id, "--in-knitid", knit_id, "--out-knitid", output_id],
    ):  # fmt: skip
        assert [r["runId"] for r in cli("run", "find", *flags).json()] == [run["runId"]], flags
    assert cli("run", "find", "--planid", "other", "--in-knitid", knit_id).json() == []


# ---- K4: tagless outputs and log -------------------------------------------------------------------------------


def test_outputs_and_log_without_tags_apply_run_and_draw(cli, workdir: Path, folder) -> None:
    text = plan_yaml(mount("/in", "type:x"), "  - path: /out/a\n    tags: []\n  - path: /out/b\n", "log: {}\n")
    applied = cli("plan", "apply", write(workdir, "p.yaml", text))
    assert applied.code == 0, applied.stderr
    shown = applied.json()
    assert [(o["path"], o["tags"]) for o in shown["outputs"]] == [("/out/a", []), ("/out/b", [])]
    assert shown["log"]["tags"] == []
    again = cli("plan", "apply", write(workdir, "q.yaml", text.replace("log: {}\n", "log:\n  tags: []\n")))
    assert again.code == 1 and shown["planId"] in again.stderr, "the same plan: a tagless log is a log"
    feeder = plan_yaml(mount("/in", "type:y"), mount("/out", "type:x"), image="repo/feed:v1")
    assert cli("plan", "apply", write(workdir, "f.yaml", feeder)).code == 0, "no cycle, no edge from a tagless output"
    graph = cli("plan", "graph", "-n", "all", shown["planId"])
    assert graph.code == 0 and graph.stdout.startswith("digraph"), graph.stderr
    folder("d")
    cli("data", "push", "-t", "type:x", "d")
    (run,) = cli("run", "find", "-p", shown["planId"]).json()
    assert len(run["outputs"]) == 2 and run["log"] is not None
    made = cli("data", "find", "-t", f"knit#id:{run['outputs'][0]['knitId']}").json()
    assert [user_tags(d) for d in made] == [[]]


# ---- K5, K6, K7: on_node values, repeated pins, annotations -----------------------------------------------------


def test_on_node_empty_value_is_refused_naming_the_field(cli, workdir: Path) -> None:
    text = plan_yaml(mount("/in", "type:x"), extra='on_node:\n  prefer: ["label="]\n')
    refused = cli("plan", "apply", write(workdir, "p.yaml", text))
    assert refused.code == 1 and "on_node.prefer[0]" in refused.stderr and "empty value" in refused.stderr


def test_repeated_identical_pins_are_one_pin(cli, workdir: Path) -> None:
    stamp = "knit#timestamp:2024-05-06T07:08:09.123+09:00"
    same = "knit#timestamp:2024-05-05T22:08:09.123Z"
    text = plan_yaml(mount("/in", "type:x", "knit#id:abc", "knit#id:abc", stamp, same))
    applied = cli("plan", "apply", write(workdir, "p.yaml", text))
    assert applied.code == 0, applied.stderr
    assert sorted(applied.json()["inputs"][0]["tags"]) == [
        "knit#id:abc", "knit#timestamp:2024-05-05T22:08:09.123+00:00", "type:x"
    ]  # fmt: skip
    other = plan_yaml(mount("/in", "type:x", "knit#id:abc", "knit#id:abd"))
    assert cli("plan", "apply", write(workdir, "q.yaml", other)).code == 1


def test_annotations_keep_every_value_of_a_key(cli, workdir: Path) -> None:
    text = plan_yaml(mount("/in", "type:x"), extra='annotations: ["key=b", "key=a", "key=a", "other=x"]\n')
    plan_id = cli("plan", "apply", write(workdir, "p.yaml", text)).json()["planId"]
    assert cli("plan", "show", plan_id).json()["annotations"] == ["key=a", "key=b", "other=x"]
    added = cli("plan", "annotate", "--add", "key=c", "--add", "key=c", plan_id).json()
    assert added["annotations"] == ["key=a", "key=b", "key=c", "other=x"]
    removed = cli("plan", "annotate", "--remove", "key=a", plan_id).json()
    assert removed["annotations"] == ["key=b", "key=c", "other=x"]
    assert cli("plan", "annotate", "--remove-key", "key", plan_id).json()["annotations"] == ["other=x"]


# ---- K8, K11: --since as Knitfab reads it; --duration alone is a usage error ------------------------------------


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch):
    """The user's local time is Asia/Tokyo (UTC+9); a remote server keeps its own."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield ZoneInfo("Asia/Tokyo")
    monkeypatch.undo()
    time.tzset()


def test_since_takes_loose_local_times(cli, folder, tokyo) -> None:
    folder("d")
    data = cli("data", "push", "-t", "type:x", "d").json()
    stamp = datetime.fromisoformat(timestamp_of(data)).astimezone(tokyo)
    minute = stamp.replace(second=0, microsecond=0)
    later = minute + timedelta(minutes=1)
    forms = {
        minute.strftime("%Y-%m-%d"): 1,
        minute.strftime("%Y-%m-%dT%H"): 1,
        minute.strftime("%Y-%m-%dT%H:%M"): 1,
        minute.strftime("%Y-%m-%d %H:%M:%S"): 1,
        later.strftime("%Y-%m-%dT%H:%M"): 0,
        later.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"): 0,
        minute.astimezone(UTC).strftime("%Y-%m-%d %H:%M+00:00"): 1,
    }
    for since, count in forms.items():
        found = cli("data", "find", "--since", since)
        assert found.code == 0 and len(found.json()) == count, (since, found.stderr)
        runs = cli("run", "find", "--since", since, "--duration", "24h")
        assert runs.code == 0 and len(runs.json()) == count, (since, runs.stderr)
    bad = cli("data", "find", "--since", "2026-12")
    assert bad.code == 1 and "YYYY-mm-dd[THH[:MM[:SS]]][TZ]" in bad.stderr


@pytest.mark.parametrize("verb", ["data", "run"])
def test_duration_without_since_is_a_usage_error(cli, verb: str) -> None:
    result = cli(verb, "find", "--duration", "1h")
    assert result.code == 2 and result.stdout == "" and "--duration needs --since" in result.stderr


# ---- K9, K10: run statuses and --image are usage errors --------------------------------------------------------


@pytest.mark.parametrize("status", ["invalidated", "nonsense"])
def test_run_find_refuses_statuses_knitfab_refuses(cli, status: str) -> None:
    result = cli("run", "find", "-s", "waiting", "-s", status)
    assert result.code == 2 and result.stdout == ""
    assert f"'{status}'" in result.stderr and "deactivated, waiting, ready" in result.stderr


def test_plan_find_image_needs_a_repository(cli, workdir: Path) -> None:
    text = plan_yaml(mount("/in", "type:x"), image="localhost:5000/team/train:v1")
    plan_id = cli("plan", "apply", write(workdir, "p.yaml", text)).json()["planId"]
    for image, found in [
        ("localhost:5000/team/train", [plan_id]), ("localhost:5000/team/train:v1", [plan_id]),
        ("localhost:5000/team/train:v2", []), ("localhost:5000/team/trai", []), ("train", []),
    ]:  # fmt: skip
        assert [p["planId"] for p in cli("plan", "find", "--image", image).json()] == found, image
    for image in (":v1.0", "repo/:v1"):
        result = cli("plan", "find", "--image", image)
        assert result.code == 2 and result.stdout == "" and "names no repository" in result.stderr


# ---- K12: an empty tag value -----------------------------------------------------------------------------------


def test_a_tag_may_have_an_empty_value(cli, workdir: Path, folder) -> None:
    folder("d")
    pushed = cli("data", "push", "-t", "k2:", "d")
    assert pushed.code == 0, pushed.stderr
    knit_id = pushed.json()["knitId"]
    assert user_tags(pushed.json()) == ["k2:"]
    assert [d["knitId"] for d in cli("data", "find", "-t", "k2:").json()] == [knit_id]
    assert user_tags(cli("data", "tag", "--add", "k3:", knit_id).json()) == ["k2:", "k3:"]
    plan_id = cli("plan", "apply", write(workdir, "p.yaml", plan_yaml(mount("/in", "k3:")))).json()["planId"]
    assert [r["inputs"][0]["knitId"] for r in cli("run", "find", "-p", plan_id).json()] == [knit_id]
    empty_key = cli("data", "push", "-t", ":v", "d")
    assert empty_key.code == 1 and "empty key" in empty_key.stderr
