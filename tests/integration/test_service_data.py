"""Data operations on a real catalog (SQLite and PostgreSQL): push, find, tag, pull."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.service import data, plans, runs


def user_tags(detail: dict) -> set[str]:
    return {t for t in detail["tags"] if not t.startswith("knit#")}


def stored_data(knit) -> list[str]:
    """Data directories in the store, staging excluded."""
    root = knit.home / "data"
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_push_registers_an_upload_run_and_system_tags(knit, make_dir) -> None:
    pushed = data.push_dir(knit, make_dir("qmnist-train"), ["type:dataset", "project:p"], name=True)
    knit_id = pushed["knitId"]
    assert user_tags(pushed) == {"type:dataset", "project:p", "name:qmnist-train"}
    assert f"knit#id:{knit_id}" in pushed["tags"]
    assert any(t.startswith("knit#timestamp:") for t in pushed["tags"])
    assert not any(t.startswith("knit#transient") for t in pushed["tags"])
    assert pushed["upstream"]["mountpoint"] == {"path": "/upload", "tags": []}
    assert pushed["upstream"]["run"]["status"] == "done"
    assert pushed["upstream"]["run"]["plan"]["name"] == "knit#uploaded"
    assert (knit.store.path(knit_id) / "file.txt").read_text() == "qmnist-train"


def test_push_refuses_system_tags_and_leaves_nothing(knit, make_dir) -> None:
    with pytest.raises(InvalidInput, match="knit#id"):
        data.push_dir(knit, make_dir(), ["knit#id:abc"])
    assert data.find(knit) == []
    assert stored_data(knit) == []


def test_push_refuses_a_link_out_of_the_tree_and_stores_nothing(knit, make_dir, tmp_path) -> None:
    source = make_dir("evil")
    os.symlink("/etc/passwd", source / "passwd")
    with pytest.raises(InvalidInput, match="passwd"):
        data.push_dir(knit, source, ["type:x"])
    assert data.find(knit) == []
    assert stored_data(knit) == []


def test_push_tar_refuses_dotdot_members(knit) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    buffer.seek(0)
    with pytest.raises(InvalidInput, match=r"\.\./escape\.txt"):
        data.push_tar(knit, buffer, ["type:x"])
    assert data.find(knit) == []
    assert stored_data(knit) == []


def test_find_by_tags_is_an_and(knit, make_dir) -> None:
    a = data.push_dir(knit, make_dir(), ["type:dataset", "mode:training"])["knitId"]
    b = data.push_dir(knit, make_dir(), ["type:dataset", "mode:validation"])["knitId"]
    assert [d["knitId"] for d in data.find(knit, ["type:dataset"])] == [a, b]
    assert [d["knitId"] for d in data.find(knit, ["type:dataset", "mode:validation"])] == [b]
    assert data.find(knit, ["type:nothing"]) == []
    assert [d["knitId"] for d in data.find(knit, [f"knit#id:{a}"])] == [a]


def test_find_by_transient_and_time_window(knit, make_dir) -> None:
    pushed = data.push_dir(knit, make_dir(), ["type:dataset"])
    plans.apply(
        knit, "image: repo/p:v1\ninputs: [{path: /in, tags: [type:dataset]}]\noutputs: [{path: /out, tags: [type:out]}]"
    )
    assert {d["knitId"] for d in data.find(knit, transient="yes")} != set()
    assert all("knit#transient:processing" in d["tags"] for d in data.find(knit, transient="yes"))
    assert [d["knitId"] for d in data.find(knit, transient="no")] == [pushed["knitId"]]
    assert len(data.find(knit, ["knit#transient:processing"])) == 1
    stamp = next(t.split(":", 1)[1] for t in pushed["tags"] if t.startswith("knit#timestamp:"))
    assert [d["knitId"] for d in data.find(knit, since=stamp, duration="1s")] == [pushed["knitId"]]
    assert data.find(knit, since="2000-01-01T00:00:00Z", duration="1h") == []
    with pytest.raises(InvalidInput, match="--duration needs --since"):
        data.find(knit, duration="1h")
    with pytest.raises(InvalidInput, match="unknown --transient value: maybe"):
        data.find(knit, transient="maybe")


def test_tag_edit_removes_before_adding_atomically(knit, make_dir) -> None:
    knit_id = data.push_dir(knit, make_dir(), ["a:1", "b:2", "c:3"])["knitId"]
    edited = data.tag(knit, knit_id, add=["a:1", "d:4"], remove=["a:1"], remove_keys=["b"])
    assert user_tags(edited) == {"a:1", "c:3", "d:4"}
    with pytest.raises(InvalidInput, match="knit#timestamp"):
        data.tag(knit, knit_id, add=["e:5"], remove=["knit#timestamp:x"])
    with pytest.raises(InvalidInput, match="knit#id"):
        data.tag(knit, knit_id, add=["e:5"], remove_keys=["knit#id"])
    assert user_tags(data.show(knit, knit_id)) == {"a:1", "c:3", "d:4"}
    with pytest.raises(NotFound, match="data not found: nope"):
        data.tag(knit, "nope", add=["a:1"])


def test_tag_edit_causes_runs_but_removal_never_cancels(knit, make_dir) -> None:
    plan = plans.apply(knit, "image: repo/p:v1\ninputs: [{path: /in, tags: [type:ready]}]\n")
    knit_id = data.push_dir(knit, make_dir(), ["type:raw"])["knitId"]
    assert runs.find(knit, plan_ids=[plan["planId"]]) == []
    data.tag(knit, knit_id, add=["type:ready"])
    assert len(runs.find(knit, plan_ids=[plan["planId"]])) == 1
    data.tag(knit, knit_id, remove=["type:ready"])
    assert len(runs.find(knit, plan_ids=[plan["planId"]])) == 1
    data.tag(knit, knit_id, add=["type:ready"])
    assert len(runs.find(knit, plan_ids=[plan["planId"]])) == 1, "a combination never runs twice"


def test_pull_round_trips_content(knit, make_dir, tmp_path) -> None:
    knit_id = data.push_dir(knit, make_dir("d", {"x/y.txt": "hello", "z.txt": "world"}), ["t:1"])["knitId"]
    buffer = io.BytesIO()
    data.export_tar(knit, knit_id, buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        names = {m.name.lstrip("./") for m in tar.getmembers() if m.isfile()}
    assert names == {"x/y.txt", "z.txt"}
    out = data.extract(knit, knit_id, tmp_path / "dest")
    assert out == tmp_path / "dest" / knit_id
    assert (out / "x" / "y.txt").read_text() == "hello"
    with pytest.raises(NotFound):
        data.extract(knit, "missing", tmp_path / "dest")
