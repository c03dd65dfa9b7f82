"""Several directories in one push, on a real catalog (SQLite and PostgreSQL): all of them or none."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.service import data, plans, runs

pytestmark = pytest.mark.reliability


def stored(knit) -> list[str]:
    root = knit.store.root
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_several_directories_become_data_together_and_project_together(knit, make_dir) -> None:
    plan = plans.apply(knit, "image: x/y:1\ninputs: [{path: /in/a, tags: ['type:raw']}]\n")
    pushed = data.push_dirs(knit, [make_dir("one"), make_dir("two")], ["type:raw"], name=True)
    assert [{t for t in d["tags"] if t.startswith("name:")} for d in pushed] == [{"name:one"}, {"name:two"}]
    assert sorted(stored(knit)) == sorted(d["knitId"] for d in pushed)
    made = runs.find(knit, plan_ids=[plan["planId"]])
    assert sorted(r["inputs"][0]["knitId"] for r in made) == sorted(d["knitId"] for d in pushed)


def test_an_invalid_directory_keeps_none_and_copies_nothing(knit, make_dir) -> None:
    good, bad = make_dir("good"), make_dir("bad")
    os.symlink("/etc/passwd", bad / "escape")
    copied: list[int] = []
    with pytest.raises(InvalidInput, match="escape"):
        data.push_dirs(knit, [good, bad], ["k:v"], progress=copied.append)
    assert copied == [], "every directory is checked before a byte is copied"
    assert data.find(knit) == [] and stored(knit) == []


def test_a_failure_while_copying_keeps_none(knit, make_dir) -> None:
    first = make_dir("first", {"big.bin": "x" * (3 << 20)})
    second = make_dir("second", {"doomed.txt": "here when checked"})

    def vanish(_n: int) -> None:
        (second / "doomed.txt").unlink(missing_ok=True)

    with pytest.raises(InvalidInput, match="vanished"):
        data.push_dirs(knit, [first, second], ["k:v"], progress=vanish)
    assert data.find(knit) == [] and stored(knit) == []
    assert list((knit.store.root / ".staging").iterdir()) == []


def parts_tar(parts: list[dict[str, bytes]], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for index, files in enumerate(parts):
            for name, content in files.items():
                info = tarfile.TarInfo(f"{index}/{name}")
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


def test_one_tar_of_parts_becomes_several_data(knit) -> None:
    body = parts_tar([{"a.txt": b"A"}, {"b/c.txt": b"C"}])
    pushed = data.push_tar_parts(knit, io.BytesIO(body), ["k:v"], names=["first", None])
    assert (knit.store.path(pushed[0]["knitId"]) / "a.txt").read_bytes() == b"A"
    assert (knit.store.path(pushed[1]["knitId"]) / "b" / "c.txt").read_bytes() == b"C"
    assert "name:first" in pushed[0]["tags"] and not any(t.startswith("name:") for t in pushed[1]["tags"])


def link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    "extra, message",
    [
        ([link("0/l", tarfile.SYMTYPE, "../1/b.txt")], "points outside the upload"),
        ([link("0/h", tarfile.LNKTYPE, "1/b.txt")], "belongs to another Data"),
        ([link("2/x", tarfile.SYMTYPE, "y")], "only the directories 0 to 1"),
        ([link("top", tarfile.SYMTYPE, "0")], "only the directories 0 to 1"),
    ],
    ids=["symlink-into-another-part", "hardlink-into-another-part", "a-third-part", "a-top-level-entry"],
)
def test_parts_are_uploads_of_their_own(knit, extra, message) -> None:
    body = parts_tar([{"a.txt": b"A"}, {"b.txt": b"B"}], extra)
    with pytest.raises(InvalidInput, match=message):
        data.push_tar_parts(knit, io.BytesIO(body), ["k:v"], names=[None, None])
    assert data.find(knit) == [] and stored(knit) == []
