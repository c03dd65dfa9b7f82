"""Issue 19 through ``knit``, in both modes: bad input is one line on stderr, exit 1, and nothing is kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_remote import LOCAL_ONLY

pytestmark = pytest.mark.reliability

PLAN = """\
image: "repo/train:v1"
inputs:
  - path: /in/data
    tags: ["type:dataset"]
outputs:
  - path: /out/model
    tags: ["type:model"]
"""

#: 9 levels of 9 aliases each, about 600 bytes: expanded, 9**9 strings (the error once printed 140 MB)
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{','.join(['*' + chr(ord('a') + i - 1)] * 9)}]\n"
        for i in range(1, 9)
    )
    + "image: *i\ninputs: []\n"
)


def refused(result, *fragments: str, limit: int = 400) -> str:
    """Exit 1, nothing on stdout, one short line on stderr holding every fragment."""
    line = result.stderr.strip()
    assert result.code == 1, (result.code, line[:2000])
    assert result.stdout == "" and "\n" not in line and len(line) <= limit, line[:2000]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def test_an_alias_bomb_plan_is_one_short_line(cli, workdir: Path) -> None:
    (workdir / "bomb.yaml").write_text(ALIAS_BOMB)
    refused(cli("plan", "apply", "bomb.yaml"), "knit: bomb.yaml:", "aliases expand")
    assert cli("plan", "find").json() == []


def test_a_huge_value_is_quoted_cut_short(cli, workdir: Path) -> None:
    (workdir / "big.yaml").write_text(PLAN.replace('"repo/train:v1"', '"' + "x" * 2_000_000 + '"'))
    refused(cli("plan", "apply", "big.yaml"), "knit: big.yaml: image: image 'xxx")


@pytest.mark.parametrize(
    "text",
    ["[" * 5000, "image: " + "[" * 100_000, "a:\n" + "".join(" " * i + "- \n" for i in range(1, 2000))],
    ids=["flow", "flow-after-key", "block"],
)
def test_deeply_nested_yaml_is_one_line(cli, workdir: Path, text: str) -> None:
    (workdir / "deep.yaml").write_text(text)
    refused(cli("plan", "apply", "deep.yaml"), "knit: deep.yaml:", "not valid YAML")


def test_a_deeply_nested_knitenv_is_one_line(cli, workdir: Path, folder) -> None:
    folder("d")
    (workdir / "knitenv").write_text("tag: " + "[" * 5000)
    refused(cli("data", "push", "-t", "a:b", "d"), "knit: knitenv ", "not valid YAML", limit=600)
    assert cli("data", "find").json() == []


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("image: repo/x:v1\ninputs:\n  - path: /in\n     tags: [a:b]\n", "broken.yaml:4:10", "mapping values"),
        ('image: "repo/x:v1\n', "broken.yaml:2:1", "unexpected end of stream"),
        ("image: repo/x:v1\nimage: repo/x:v2\n", "broken.yaml:2:1", "duplicate key 'image'"),
    ],
)
def test_yaml_syntax_errors_name_file_line_and_column(cli, workdir: Path, text: str, where: str, problem: str) -> None:
    (workdir / "broken.yaml").write_text(text)
    line = refused(cli("plan", "apply", "broken.yaml"), problem)
    assert line.startswith(f"knit: {where}: not valid YAML: "), line


def test_a_directory_name_with_a_line_break_is_refused_as_a_name_tag(cli, workdir: Path) -> None:
    """``-n`` obeys the rule ``-t`` does: the name tag of ``a<LF>b`` is refused, nothing is stored."""
    weird = workdir / "a\nb"
    weird.mkdir()
    (weird / "f.txt").write_text("x")
    assert cli("data", "push", "-t", "name:a\nb", str(weird)).code == 1
    refused(cli("data", "push", "-n", str(weird)), "'name:a\\nb'", "control character U+000A (line feed)")
    assert cli("data", "find").json() == []


@pytest.mark.parametrize("bad", ["a:b\tc", "a\tb:c", "a:b\rc", "a:b\x1bc"])
def test_control_characters_in_tags_are_refused_everywhere(cli, folder, bad: str) -> None:
    folder("d")
    refused(cli("data", "push", "-t", bad, "d"), "control character U+")
    knit_id = cli("data", "push", "-t", "ok:1", "d").json()["knitId"]
    refused(cli("data", "tag", "--add", bad, knit_id), "add[0]", "control character")
    refused(cli("data", "find", "-t", bad), "control character")
    refused(cli("plan", "find", "-i", bad), "in-tag", "control character")
    assert [t for t in cli("data", "find").json()[0]["tags"] if not t.startswith("knit#")] == ["ok:1"]


def test_nul_in_plan_tags_and_annotations_is_refused(cli, workdir: Path) -> None:
    (workdir / "nul.yaml").write_text(PLAN.replace('"type:model"', '"type:mo\\0del"'))
    refused(cli("plan", "apply", "nul.yaml"), "outputs[0].tags[0]", "U+0000 (NUL)")
    (workdir / "note.yaml").write_text(PLAN + 'annotations: ["note=a\\0b"]\n')
    refused(cli("plan", "apply", "note.yaml"), "annotations[0]", "U+0000")
    assert cli("plan", "find").json() == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/proc/data", "under /proc"), ("/dev", "under /dev"), ("/sys/x", "under /sys"), ("/out/" + "m" * 256, "255")],
)
def test_reserved_and_overlong_mount_paths_are_refused(cli, workdir: Path, path: str, reason: str) -> None:
    (workdir / "mount.yaml").write_text(PLAN.replace("/out/model", path))
    refused(cli("plan", "apply", "mount.yaml"), "outputs[0].path:", reason)


# ---- R5: the catalog itself --------------------------------------------------------------------------------------


@LOCAL_ONLY
def test_a_mistyped_catalog_is_refused_not_created(cli, workdir: Path, tmp_path: Path, monkeypatch) -> None:
    typo = tmp_path / "hoem"
    monkeypatch.setenv("KNIT_HOME", str(typo))
    line = refused(cli("data", "find"), f"no Knit catalog at {typo / 'catalog.db'}", "KNIT_HOME", "knit init")
    assert not typo.exists(), line
    monkeypatch.setenv("KNIT_CATALOG_URL", f"sqlite:///{tmp_path / 'typo.db'}")
    refused(cli("plan", "find"), f"no Knit catalog at {tmp_path / 'typo.db'}", "KNIT_CATALOG_URL")
    assert not (tmp_path / "typo.db").exists()
    monkeypatch.delenv("KNIT_CATALOG_URL")
    made = cli("init", "--home", str(typo), "fixed")
    assert made.code == 0 and str(typo / "catalog.db") in made.stderr, made.stderr
    assert cli("data", "find").json() == []


@LOCAL_ONLY
def test_a_profile_whose_catalog_is_gone_is_refused(cli, workdir: Path, tmp_path: Path) -> None:
    assert cli("init", "--home", str(tmp_path / "proj-home"), "proj").code == 0
    shutil.rmtree(tmp_path / "proj-home")
    refused(cli("run", "find"), "no Knit catalog at", "profile 'proj'")
    assert not (tmp_path / "proj-home").exists()


@LOCAL_ONLY
def test_a_corrupt_catalog_is_one_line(cli, workdir: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "home" / "catalog.db"
    catalog.write_bytes(b"this is no database, it is a shopping list\n" * 100)
    refused(cli("data", "find"), f"catalog {catalog} cannot be used", "not a database")


@LOCAL_ONLY
def test_a_read_only_catalog_is_one_line(cli, workdir: Path, folder, tmp_path: Path) -> None:
    """The knit home on a read-only mount (bubblewrap), as a user without write access would meet it."""
    folder("d")
    assert cli("data", "push", "-t", "a:1", "d").code == 0
    home = tmp_path / "home"
    for args in (["data", "find"], ["data", "push", "-t", "a:2", "d"]):
        done = subprocess.run(
            ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(home), str(home),
             str(Path(sys.executable).with_name("knit")), *args],
            cwd=workdir, env=os.environ, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        line = done.stderr.strip()
        assert done.returncode == 1 and done.stdout == "" and "\n" not in line, line[:3000]
        assert f"catalog {home / 'catalog.db'} cannot be used" in line and "writable" in line
    assert len(cli("data", "find").json()) == 1, "nothing was added"
