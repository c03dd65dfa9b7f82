"""One tag rule on both catalog backends: what SQLite would store and PostgreSQL would fail on (a ``DataError``
traceback) is refused by the service, the same way on each, before anything is written (issue 19, R2 and R4)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.service import Knit, data, plans, runs

pytestmark = pytest.mark.reliability

PLAN = """\
image: "repo/train:v1"
inputs:
  - path: /in/data
    tags: ["type:dataset"]
"""


def tarball() -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("f.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    return buffer


def refused(call, *fragments: str) -> None:
    with pytest.raises(InvalidInput) as err:
        call()
    text = str(err.value)
    assert "\n" not in text and len(text) < 400, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


@pytest.mark.parametrize("bad", ["a:b\0c", "a\0b:c", "a:b\nc", "a:b\x1fc"])
def test_control_characters_in_data_tags_are_refused(knit: Knit, make_dir, bad: str) -> None:
    source = make_dir("d")
    refused(lambda: data.push_dir(knit, source, [bad]), "tags[0]", "control character")
    refused(lambda: data.push_tar(knit, tarball(), [bad]), "tags[0]", "control character")
    refused(lambda: data.find(knit, [bad]), "tag[0]", "control character")
    knit_id = data.push_dir(knit, source, ["ok:1"])["knitId"]
    refused(lambda: data.tag(knit, knit_id, add=[bad]), "add[0]", "control character")
    refused(lambda: data.tag(knit, knit_id, remove=[bad]), "remove[0]", "control character")
    assert [d["knitId"] for d in data.find(knit)] == [knit_id]
    assert [t for t in data.show(knit, knit_id)["tags"] if not t.startswith("knit#")] == ["ok:1"]


def test_a_name_tag_with_a_line_break_is_refused_and_nothing_is_kept(knit: Knit, tmp_path: Path) -> None:
    weird = tmp_path / "a\nb"
    weird.mkdir()
    (weird / "f.txt").write_text("x")
    refused(lambda: data.push_dir(knit, weird, ["ok:1"], name=True), "'name:a\\nb'", "U+000A (line feed)")
    assert data.find(knit) == []
    assert [p for p in knit.store.root.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (PLAN.replace('"type:dataset"', '"type:data\\0set"'), "inputs[0].tags[0]"),
        (PLAN + 'outputs: [{path: /out, tags: ["a\\0:b"]}]\n', "outputs[0].tags[0]"),
        (PLAN + 'log: {tags: ["type:lo\\0g"]}\n', "log.tags[0]"),
        (PLAN + 'annotations: ["note=a\\0b"]\n', "annotations[0]"),
    ],
)
def test_control_characters_in_plans_are_refused(knit: Knit, text: str, field: str) -> None:
    refused(lambda: plans.apply(knit, text), field, "U+0000")
    assert plans.find(knit) == []


def test_query_values_with_nul_are_one_line(knit: Knit) -> None:
    plan_id = plans.apply(knit, PLAN)["planId"]
    refused(lambda: plans.find(knit, in_tags=["type:a\0b"]), "in-tag", "U+0000")
    refused(lambda: plans.find(knit, out_tags=["a\0:b"]), "out-tag", "U+0000")
    refused(lambda: plans.annotate(knit, plan_id, add=["k=a\0b"]), "add", "U+0000")
    refused(lambda: plans.show(knit, "a\0b"), "NUL")
    refused(lambda: runs.find(knit, plan_ids=["a\0b"]), "NUL")
    refused(lambda: runs.find(knit, input_ids=["x", "a\0b"]), "NUL")
    refused(lambda: data.show(knit, "a\0b"), "NUL")
