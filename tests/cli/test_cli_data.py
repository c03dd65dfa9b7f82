"""``knit data`` as a user runs it: JSON on stdout, messages on stderr, exit codes 0 / 1 / 2."""

from __future__ import annotations

import io
import tarfile


def test_push_prints_data_json_and_progress_lines(cli, folder) -> None:
    folder("qmnist-train")
    result = cli("data", "push", "-t", "type:dataset", "-t", "project:p", "-n", "qmnist-train")
    assert result.code == 0, result.stderr
    pushed = result.json()
    assert "name:qmnist-train" in pushed["tags"] and "type:dataset" in pushed["tags"]
    assert f"knit#id:{pushed['knitId']}" in result.stderr
    assert "[1/1] sending... qmnist-train" in result.stderr


def test_push_several_and_knitenv_tags(cli, folder, workdir) -> None:
    (workdir / "knitenv").write_text("tag:\n  - project:from-env\n")
    folder("a")
    folder("b")
    result = cli("data", "push", "-t", "type:x", "a", "b")
    assert result.code == 0, result.stderr
    decoder, text, found = __import__("json").JSONDecoder(), result.stdout.strip(), []
    while text:
        obj, end = decoder.raw_decode(text)
        found.append(obj)
        text = text[end:].strip()
    assert len(found) == 2
    assert all("project:from-env" in d["tags"] and "type:x" in d["tags"] for d in found)


def test_user_errors_exit_1_with_one_line(cli, folder) -> None:
    folder("d")
    bad_tag = cli("data", "push", "-t", "knit#id:x", "d")
    assert bad_tag.code == 1 and bad_tag.stdout == ""
    assert bad_tag.stderr.strip().count("\n") == 0 and "knit#id" in bad_tag.stderr
    missing = cli("data", "tag", "--add", "a:b", "no-such-id")
    assert missing.code == 1 and "data not found: no-such-id" in missing.stderr
    no_colon = cli("data", "find", "-t", "nocolon")
    assert no_colon.code == 1 and "nocolon" in no_colon.stderr


def test_usage_errors_exit_2(cli) -> None:
    assert cli("data", "push").code == 2
    assert cli("data", "find", "--transient", "maybe").code == 2
    assert cli("data", "nosuchverb").code == 2
    assert cli("data", "pull", "-x", "some-id", "-").code == 2


def test_find_and_tag(cli, folder) -> None:
    folder("d")
    knit_id = cli("data", "push", "-t", "a:1", "-t", "b:2", "d").json()["knitId"]
    assert [d["knitId"] for d in cli("data", "find", "-t", "a:1").json()] == [knit_id]
    assert cli("data", "find", "-t", "a:2").json() == []
    tagged = cli("data", "tag", "--add", "c:3", "--remove", "a:1", "--remove-key", "b", knit_id)
    assert tagged.code == 0, tagged.stderr
    assert {t for t in tagged.json()["tags"] if not t.startswith("knit#")} == {"c:3"}
    assert cli("data", "find", "--transient", "yes").json() == []
    assert [d["knitId"] for d in cli("data", "find", "--transient", "no").json()] == [knit_id]


def test_pull_tar_extract_and_stdout(cli, folder, workdir) -> None:
    folder("d", {"x/y.txt": "hello"})
    knit_id = cli("data", "push", "-t", "a:1", "d").json()["knitId"]
    assert cli("data", "pull", knit_id, "out").code == 0, "DEST is created when missing"
    with tarfile.open(workdir / "out" / f"{knit_id}.tar.gz") as tar:
        assert tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("y.txt"))).read() == b"hello"
    assert cli("data", "pull", "-x", knit_id, "out").code == 0
    assert (workdir / "out" / knit_id / "x" / "y.txt").read_text() == "hello"
    streamed = cli("data", "pull", knit_id, "-")
    assert streamed.code == 0
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout_bytes), mode="r:gz") as tar:
        assert any(m.name.endswith("y.txt") for m in tar.getmembers())
    assert cli("data", "pull", "nope", "out").code == 1
