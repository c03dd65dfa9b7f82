"""Issue 19: bad user input is refused in one short line, by one rule wherever it comes from (core level).

The entry points (CLI in both modes, REST, both catalog backends) are tested in ``tests/cli``, ``tests/api`` and
``tests/integration``; here are the rules themselves.
"""

from __future__ import annotations

import pytest

from knit_provider.core.errors import InvalidInput, KnitError
from knit_provider.core.knitenv import load_knitenv
from knit_provider.core.plan_spec import parse_annotation, parse_plan_dict, parse_plan_yaml
from knit_provider.core.tags import KEY_NAME, Tag, parse_tag, parse_user_tags

MAX_DEPTH = 64

pytestmark = pytest.mark.reliability

PLAN = """\
image: "repo/train:v1"
inputs:
  - path: /in/data
    tags: ["type:dataset"]
"""

#: 9 levels of 9 aliases each: a 600-byte document standing for 9**9 (387 million) strings
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{','.join(['*' + chr(ord('a') + i - 1)] * 9)}]\n"
        for i in range(1, 9)
    )
    + "image: *i\ninputs: []\n"
)


def plan(**changes: object) -> dict:
    data: dict = {"image": "repo/train:v1", "inputs": [{"path": "/in/data", "tags": ["type:dataset"]}]}
    data.update(changes)
    return data


def one_short_line(err: KnitError, limit: int = 400) -> str:
    text = str(err)
    assert "\n" not in text and len(text) <= limit, text[:2000]
    return text


# ---- R1: aliases cannot blow a document up; errors never echo unbounded input -------------------------------


def test_alias_bomb_is_refused_before_it_expands() -> None:
    assert len(ALIAS_BOMB) < 700
    with pytest.raises(InvalidInput) as err:
        parse_plan_yaml(ALIAS_BOMB, source="bomb.yaml")
    text = one_short_line(err.value)
    assert text.startswith("bomb.yaml:") and "aliases expand" in text


def test_a_few_aliases_are_fine() -> None:
    spec = parse_plan_yaml(
        "image: repo/x:v1\n"
        "inputs:\n  - path: /in/a\n    tags: &common [project:p, type:x]\n"
        "outputs:\n  - path: /out/b\n    tags: *common\n"
        "log: {tags: *common}\n"
    )
    assert [str(t) for t in spec.outputs[0].tags] == ["project:p", "type:x"]


def test_a_recursive_alias_is_refused() -> None:
    from knit_provider.core.documents import load_yaml

    with pytest.raises(InvalidInput, match="recursive alias") as err:
        load_yaml("a: &x [1, *x]\n", source="plan")
    one_short_line(err.value)


@pytest.mark.parametrize(
    "data",
    [
        plan(image="x" * 1_000_000),
        plan(image=["x" * 1000] * 1000),
        plan(inputs=[{"path": "/in/" + "x" * 100_000, "tags": ["a:b"]}]),
        plan(inputs=[{"path": "/in/x", "tags": ["k:" + "v" * 100_000]}]),
        plan(inputs=[{"path": "/in/x", "tags": ["nocolon" * 100_000]}]),
        plan(inputs=[{"path": "/in/x", "tags": ["a:b"], "x" * 100_000: 1}]),
        plan(annotations=["noequals" * 100_000]),
        plan(on_node={"must": ["k=" + "v" * 100_000]}),
        plan(resources={"cpu": "1x" * 100_000}),
        plan(resources={"c" * 100_000: "1"}),
        plan(active="yes" * 100_000),
        {"x" * 100_000: 1},
    ],
)
def test_errors_quote_input_cut_short(data: dict) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_plan_dict(data)
    one_short_line(err.value)


# ---- R2 + R4: control characters in tags, from every source ---------------------------------------------------


@pytest.mark.parametrize("bad", ["a\0b", "a\nb", "a\rb", "a\tb", "a\x1bb", "a\x7fb", "a\u2028b"])
def test_control_characters_are_refused_in_tag_keys_and_values(bad: str) -> None:
    for text in (f"k:{bad}", f"{bad}:v"):
        with pytest.raises(InvalidInput, match="control character U\\+") as err:
            parse_tag(text, field="tag")
        one_short_line(err.value)
    with pytest.raises(InvalidInput, match="control character"):
        Tag("k", bad)
    from knit_provider.core.tags import parse_tag_key

    with pytest.raises(InvalidInput, match="control character"):
        parse_tag_key(bad, field="remove_key")


def test_the_name_tag_of_a_directory_obeys_the_same_rule() -> None:
    """``data push -n``'s ``Tag(KEY_NAME, dirname)``: refused exactly as ``-t name:...`` is."""
    with pytest.raises(InvalidInput, match=r"'name:a\\nb'.*U\+000A \(line feed\)"):
        Tag(KEY_NAME, "a\nb")
    with pytest.raises(InvalidInput, match=r"U\+000A \(line feed\)"):
        parse_user_tags(["name:a\nb"])
    assert Tag(KEY_NAME, " spaced ") == parse_tag("name: spaced ")


def test_tags_longer_than_the_catalog_columns_are_refused() -> None:
    with pytest.raises(InvalidInput, match="longer than 255"):
        parse_tag("k" * 256 + ":v")
    with pytest.raises(InvalidInput, match="longer than 1024"):
        parse_tag("k:" + "v" * 1025)
    assert parse_tag("k" * 255 + ":" + "v" * 1024).value == "v" * 1024


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inputs": [{"path": "/in/x", "tags": ["a:b\0c"]}]}, "inputs[0].tags[0]"),
        ({"inputs": [{"path": "/in/x", "tags": ["knit#id:a\nb"]}]}, "inputs[0].tags[0]"),
        ({"outputs": [{"path": "/out/x", "tags": ["a:b", "c\0:d"]}]}, "outputs[0].tags[1]"),
        ({"log": {"tags": ["type:log\r"]}}, "log.tags[0]"),  # a trailing \r is trimmed
        ({"log": {"tags": ["type:lo\rg"]}}, "log.tags[0]"),
        ({"annotations": ["ok=1", "note=a\0b"]}, "annotations[1]"),
        ({"annotations": ["note=line\nbreak"]}, "annotations[0]"),
    ],
)
def test_plan_tags_and_annotations_refuse_control_characters(changes: dict, field: str) -> None:
    data = plan(**changes)
    if changes.get("log", {}).get("tags") == ["type:log\r"]:
        assert str(parse_plan_dict(data).log.tags[0]) == "type:log"
        return
    with pytest.raises(InvalidInput, match="control character") as err:
        parse_plan_dict(data)
    assert one_short_line(err.value).startswith(field + ":")


def test_annotate_helper_refuses_control_characters() -> None:
    with pytest.raises(InvalidInput, match=r"^add: annotation .*U\+0000"):
        parse_annotation("k=a\0b", field="add")


# ---- R3: deep nesting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[" * 5000, "a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000)), "{a: " * 200])
def test_deep_yaml_is_one_line(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_plan_yaml(text, source="deep.yaml")
    assert one_short_line(err.value).startswith("deep.yaml:")


def test_deep_json_is_one_line() -> None:
    from knit_provider.core.documents import load_json

    for text in ("[" * 100_000 + "]" * 100_000, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)):
        with pytest.raises(InvalidInput, match=f"nested deeper than {MAX_DEPTH}") as err:
            load_json(text, source="plan")
        one_short_line(err.value)
    assert load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, source="plan") is not None


def test_deep_knitenv_is_one_line(tmp_path) -> None:
    path = tmp_path / "knitenv"
    path.write_text("tag: " + "[" * 5000)
    with pytest.raises(InvalidInput) as err:
        load_knitenv(path)
    assert one_short_line(err.value, limit=600).startswith(f"knitenv {path}:")


# ---- R5: YAML syntax errors are one line naming file, line and column -----------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("image: repo/x:v1\ninputs:\n  - path: /in\n     tags: [a:b]\n", "train.yaml:4:10", "mapping values"),
        ('image: "repo/x:v1\n', "train.yaml:2:1", "found unexpected end of stream"),
        ("image: repo/x:v1\ninputs: [\n", "train.yaml:3:1", "expected the node content"),
        ("image: a\nimage: b\n", "train.yaml:2:1", "duplicate key 'image'"),
        ("\tinputs: []\n", "train.yaml:1:1", "found character '\\t'"),
    ],
)
def test_yaml_syntax_errors_are_one_line(text: str, where: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_plan_yaml(text, source="train.yaml")
    message = one_short_line(err.value)
    assert message.startswith(f"{where}: not valid YAML: ") and problem in message, message


# ---- R6: mount paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/proc", "under /proc"),
        ("/proc/self", "under /proc"),
        ("/sys/kernel", "under /sys"),
        ("/dev", "under /dev"),
        ("/dev/shm/x/", "under /dev"),
        ("/in/" + "x" * 256, "component longer than 255 bytes"),
        ("/in/" + "é" * 128, "component longer than 255 bytes"),
        ("/" + "/".join(["x" * 200] * 21), "longer than 4096 bytes"),
    ],
)
def test_reserved_and_overlong_mount_paths_are_refused(path: str, reason: str) -> None:
    for changes, field in (
        ({"inputs": [{"path": path, "tags": ["a:b"]}]}, "inputs[0].path"),
        ({"outputs": [{"path": path, "tags": ["a:b"]}]}, "outputs[0].path"),
    ):
        with pytest.raises(InvalidInput, match=reason) as err:
            parse_plan_dict(plan(**changes))
        assert one_short_line(err.value).startswith(field + ":")


@pytest.mark.parametrize("path", ["/processed", "/system", "/devices/x", "/in/proc", "/in/" + "x" * 255])
def test_neighbours_of_reserved_paths_are_fine(path: str) -> None:
    assert parse_plan_dict(plan(outputs=[{"path": path, "tags": ["a:b"]}])).outputs[0].path == path


def test_deep_image_maps_and_profile_stores_are_one_line(tmp_path, monkeypatch) -> None:
    from knit_provider.cli.profiles import load_store
    from knit_provider.runners.image_map import ImageMap

    deep = "a: " + "[" * 5000
    (tmp_path / "images.yaml").write_text(deep)
    with pytest.raises(InvalidInput) as err:
        ImageMap.load([tmp_path / "images.yaml"])
    assert one_short_line(err.value, limit=600).startswith(f"image map {tmp_path / 'images.yaml'}:1:")
    (tmp_path / "profile").write_text(deep)
    monkeypatch.setenv("KNIT_PROFILE_STORE", str(tmp_path / "profile"))
    with pytest.raises(InvalidInput) as err:
        load_store()
    assert one_short_line(err.value, limit=600).startswith(f"profile store {tmp_path / 'profile'}:1:")
