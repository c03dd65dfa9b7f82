"""Plan YAML validation, identity and round-tripping (DESIGN.md section 2, "Plan YAML")."""

from __future__ import annotations

import copy
import dataclasses
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.plan_spec import (
    Annotation,
    InputSpec,
    LogSpec,
    NodeLabel,
    OnNode,
    OutputSpec,
    PlanSpec,
    mount_paths_conflict,
    normalize_mount_path,
    parse_annotation,
    parse_node_label,
    parse_plan_dict,
    parse_plan_yaml,
    parse_resource,
    validate_service_account,
)
from knit_provider.core.tags import Tag
from knit_provider.core.timefmt import parse_rfc3339

FIRST_TRAIN_YAML = """\
image: "localhost:30503/knitfab-first-train:v1.0"

inputs:
  - path: "/in/dataset"
    tags:
      - "type:dataset"
      - "project:first-knitfab"
      - "mode:training"

outputs:
  - path: "/out/model"
    tags:
      - "type:model"
      - "project:first-knitfab"
      - "description:2 layer CNN + 2 layer Affine"

log:
  tags:
    - "type:log"
    - "project:first-knitfab"
    - "description:2 layer CNN + 2 layer Affine"

active: true

resources:
  cpu: 1
  memory: 1Gi
"""


def base(**overrides: object) -> dict:
    plan: dict = {
        "image": "repo/train:v1",
        "inputs": [{"path": "/in/data", "tags": ["type:dataset"]}],
        "outputs": [{"path": "/out/model", "tags": ["type:model"]}],
    }
    plan.update(overrides)
    return plan


def refused(data: object, *fragments: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_plan_dict(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


# --- the Knitfab first-knitfab example ----------------------------------------------------------------------------


def test_first_knitfab_training_plan_parses() -> None:
    spec = parse_plan_yaml(FIRST_TRAIN_YAML)
    assert spec.image == "localhost:30503/knitfab-first-train:v1.0"
    assert spec.entrypoint is None and spec.args is None
    assert spec.inputs == (
        InputSpec("/in/dataset", (Tag("mode", "training"), Tag("project", "first-knitfab"), Tag("type", "dataset"))),
    )
    assert spec.outputs == (
        OutputSpec(
            "/out/model",
            (
                Tag("description", "2 layer CNN + 2 layer Affine"),
                Tag("project", "first-knitfab"),
                Tag("type", "model"),
            ),
        ),
    )
    assert spec.log == LogSpec(
        (Tag("description", "2 layer CNN + 2 layer Affine"), Tag("project", "first-knitfab"), Tag("type", "log"))
    )
    assert spec.active is True
    assert spec.resources == {"cpu": "1", "memory": "1Gi"}
    assert spec.on_node == OnNode() and spec.on_node.is_empty()
    assert spec.service_account is None and spec.annotations == ()


def test_first_knitfab_to_dict_key_order_and_round_trip() -> None:
    spec = parse_plan_yaml(FIRST_TRAIN_YAML)
    data = spec.to_dict()
    assert list(data) == ["image", "inputs", "outputs", "log", "active", "resources"]
    assert data["inputs"] == [
        {"path": "/in/dataset", "tags": ["mode:training", "project:first-knitfab", "type:dataset"]}
    ]
    assert parse_plan_dict(data) == spec
    assert parse_plan_dict(data).identity_key() == spec.identity_key()


def test_full_plan_to_dict_round_trip() -> None:
    spec = parse_plan_dict(
        {
            "image": "registry.example.com:5000/team/train:v2@sha256:" + "a" * 64,
            "entrypoint": ["python", "main.py"],
            "args": ["--epochs", 3, 0.5],
            "inputs": [
                {"path": "/in/b/", "tags": ["type:model", "knit#id:abc-123", "knit#timestamp:2024-01-02T03:04:05Z"]},
                {"path": "/in/a", "tags": ["type:dataset", "type:dataset"]},
            ],
            "outputs": [{"path": "/out", "tags": ["type:metrics"]}],
            "log": {"tags": ["type:log"]},
            "active": False,
            "resources": {"cpu": "500m", "nvidia.com/gpu": 1},
            "on_node": {"may": ["gpu=a100"], "prefer": ["zone=a"], "must": ["kubernetes.io/arch=amd64"]},
            "service_account": "trainer",
            "annotations": ["team=ml", "example.com/owner = alice "],
        }
    )
    assert spec.args == ("--epochs", "3", "0.5")
    assert spec.inputs[0].path == "/in/b"
    assert spec.inputs[0].pin_knit_id == "abc-123"
    assert spec.inputs[0].pin_timestamp_ms == parse_rfc3339("2024-01-02T03:04:05Z")
    assert spec.inputs[1].tags == (Tag("type", "dataset"),)
    assert spec.resources == {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert spec.annotations == (Annotation("example.com/owner", "alice"), Annotation("team", "ml"))
    assert spec.on_node.prefer == (NodeLabel("zone", "a"),)
    data = spec.to_dict()
    assert list(data) == [
        "image", "entrypoint", "args", "inputs", "outputs", "log", "active",
        "resources", "on_node", "service_account", "annotations",
    ]  # fmt: skip
    assert data["inputs"][0]["tags"] == [
        "type:model",
        "knit#id:abc-123",
        "knit#timestamp:2024-01-02T03:04:05+00:00",
    ]
    assert data["annotations"] == ["example.com/owner=alice", "team=ml"]
    assert data["on_node"] == {"may": ["gpu=a100"], "prefer": ["zone=a"], "must": ["kubernetes.io/arch=amd64"]}
    again = parse_plan_dict(data)
    assert again == spec and again.to_dict() == data
    assert hash(again) == hash(spec)


def test_input_all_tags_includes_pins() -> None:
    spec = InputSpec("/in", (Tag("b", "2"), Tag("a", "1"), Tag("a", "1")), "xyz", 1700000000123)
    assert spec.tags == (Tag("a", "1"), Tag("b", "2"))
    assert [str(t) for t in spec.all_tags()] == [
        "a:1", "b:2", "knit#id:xyz", "knit#timestamp:2023-11-14T22:13:20.123+00:00",
    ]  # fmt: skip


def test_values_are_immutable() -> None:
    spec = parse_plan_yaml(FIRST_TRAIN_YAML)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.active = False  # type: ignore[misc]
    changed = dataclasses.replace(spec, active=False, resources={"cpu": "2"})
    assert changed.resources == {"cpu": "2", "memory": "1Gi"}
    assert changed.identity_key() == spec.identity_key()


# --- identity -----------------------------------------------------------------------------------------------------


def test_identity_ignores_order_and_mutable_fields() -> None:
    one = base(
        inputs=[
            {"path": "/in/a", "tags": ["x:1", "y:2"]},
            {"path": "/in/b", "tags": ["z:3", "knit#id:k1"]},
        ],
        outputs=[{"path": "/out/a", "tags": ["o:1", "p:2"]}, {"path": "/out/b", "tags": ["q:1"]}],
        log={"tags": ["l:1", "m:2"]},
        on_node={"may": ["a=1", "b=2"]},
    )
    two = base(
        inputs=[
            {"path": "/in/b/", "tags": ["knit#id:k1", "z:3"]},
            {"path": "/in/a", "tags": ["y:2", "x:1", "x:1"]},
        ],
        outputs=[{"path": "/out/b", "tags": ["q:1"]}, {"path": "/out/a", "tags": ["p:2", "o:1"]}],
        log={"tags": ["m:2", "l:1"]},
        on_node={"may": ["b=2", "a=1"]},
        active=False,
        resources={"cpu": 4, "memory": "8Gi"},
        annotations=["a=b"],
        service_account="other",
    )
    assert parse_plan_dict(one).identity_key() == parse_plan_dict(two).identity_key()


@pytest.mark.parametrize(
    "change",
    [
        {"image": "repo/train:v2"},
        {"entrypoint": ["python"]},
        {"args": ["--x"]},
        {"inputs": [{"path": "/in/data", "tags": ["type:other"]}]},
        {"inputs": [{"path": "/in/other", "tags": ["type:dataset"]}]},
        {"inputs": [{"path": "/in/data", "tags": ["type:dataset", "knit#id:k"]}]},
        {"outputs": [{"path": "/out/model", "tags": ["type:model", "extra:1"]}]},
        {"outputs": []},
        {"log": {"tags": ["type:log"]}},
        {"on_node": {"must": ["a=1"]}},
        {"on_node": {"may": ["a=1"]}},
    ],
)
def test_identity_differs_when_an_identity_field_differs(change: dict) -> None:
    assert parse_plan_dict(base()).identity_key() != parse_plan_dict(base(**change)).identity_key()


def test_identity_on_node_list_matters() -> None:
    may = parse_plan_dict(base(on_node={"may": ["a=1"]}))
    prefer = parse_plan_dict(base(on_node={"prefer": ["a=1"]}))
    assert may.identity_key() != prefer.identity_key()


def test_empty_entrypoint_is_absent() -> None:
    assert parse_plan_dict(base(entrypoint=[], args=None)) == parse_plan_dict(base())


def test_identity_first_knitfab_tag_changed() -> None:
    spec = parse_plan_yaml(FIRST_TRAIN_YAML)
    other = parse_plan_yaml(FIRST_TRAIN_YAML.replace('"mode:training"', '"mode:validation"'))
    assert spec.identity_key() != other.identity_key()
    assert len(spec.identity_key()) == 64


# --- top level and unknown keys -----------------------------------------------------------------------------------


def test_typo_resouces_refused_with_hint() -> None:
    text = FIRST_TRAIN_YAML.replace("resources:", "resouces:")
    with pytest.raises(InvalidInput) as info:
        parse_plan_yaml(text)
    assert "unknown key 'resouces' (did you mean 'resources'?)" in str(info.value)


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (
            base(inputs=[{"path": "/in", "tags": ["a:b"], "tag": ["x:y"]}]),
            ["inputs[0]", "'tag'", "did you mean 'tags'"],
        ),
        (base(outputs=[{"pth": "/out", "tags": ["a:b"]}]), ["outputs[0]", "'pth'", "did you mean 'path'"]),
        (base(log={"tag": ["a:b"]}), ["log", "'tag'", "did you mean 'tags'"]),
        (base(on_node={"musst": ["a=b"]}), ["on_node", "'musst'", "did you mean 'must'"]),
        (base(zzz=1), ["unknown key 'zzz'", "known keys"]),
    ],
)
def test_unknown_keys_everywhere(data: dict, fragments: list[str]) -> None:
    refused(data, *fragments)


@pytest.mark.parametrize("data", [None, [], "image: x", 3])
def test_top_level_must_be_mapping(data: object) -> None:
    refused(data, "mapping", repr(data))


def test_yaml_errors() -> None:
    with pytest.raises(InvalidInput, match="not valid YAML"):
        parse_plan_yaml("image: [unclosed")
    with pytest.raises(InvalidInput, match="duplicate key 'image'"):
        parse_plan_yaml(FIRST_TRAIN_YAML + "image: other/x:v1\n")
    with pytest.raises(InvalidInput, match="mapping"):
        parse_plan_yaml("")


def test_yaml_merge_keys_still_work() -> None:
    text = "x: &t {path: /in/a, tags: ['a:b']}\n"
    with pytest.raises(InvalidInput, match="unknown key 'x'"):
        parse_plan_yaml(text)
    spec = parse_plan_yaml("image: r/x:v1\ninputs:\n  - <<: {path: /in/a, tags: ['a:b']}\n    path: /in/b\n")
    assert spec.inputs[0].path == "/in/b"


# --- image --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "localhost:30503/knitfab-first-train:v1.0",
        "repo:tag",
        "python:3.11-slim",
        "docker.io/library/python:3.11",
        "ghcr.io/org/sub/name_with__under:v1",
        "a.b-c/x-y.z:latest",
        "Registry/name:v1",
        "registry:5000/team/img:1",
        "[::1]:5000/img:v1",
        "img:v1@sha256:" + "0123456789abcdef" * 4,
        "img:" + "t" * 128,
    ],
)
def test_image_accepted(image: str) -> None:
    assert parse_plan_dict(base(image=image)).image == image


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("repo/name", "needs a tag"),
        ("localhost:30503/knitfab-first-train", "needs a tag"),
        ("repo/name:", "invalid tag"),
        (":v1", "needs a repository"),
        ("Repo:v1", "invalid repository component"),
        ("repo/Name:v1", "invalid repository component"),
        ("repo//name:v1", "invalid repository component"),
        ("repo/name-:v1", "invalid repository component"),
        ("repo/name:-v1", "invalid tag"),
        ("repo/name:v 1", "invalid tag"),
        ("img:" + "t" * 129, "invalid tag"),
        ("img:v1@sha256:abc", "invalid digest"),
        ("bad_host.com:x/img:v1", "invalid registry"),
        ("", "image must be a string"),
        (3, "image must be a string"),
    ],
)
def test_image_refused(image: object, reason: str) -> None:
    refused(base(image=image), "image:", shown(image), reason)


def test_image_required() -> None:
    data = base()
    del data["image"]
    refused(data, "image:", "None")


# --- entrypoint / args --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["entrypoint", "args"])
def test_entrypoint_and_args(key: str) -> None:
    assert getattr(parse_plan_dict(base(**{key: ["a", 1, 2.5]})), key) == ("a", "1", "2.5")
    refused(base(**{key: "python main.py"}), f"{key}:", "'python main.py'", "list")
    refused(base(**{key: ["a", True]}), f"{key}[1]", "True")
    refused(base(**{key: ["a", {"b": 1}]}), f"{key}[1]", "{'b': 1}")
    refused(base(**{key: ["a", None]}), f"{key}[1]", "None")


# --- inputs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", [None, []])
def test_at_least_one_input(inputs: object) -> None:
    refused(base(inputs=inputs), "inputs:", "at least one input", repr(inputs))


def test_inputs_must_be_list_of_mappings() -> None:
    refused(base(inputs={"path": "/in"}), "inputs:", "list")
    refused(base(inputs=["/in/x"]), "inputs[0]:", "mapping", "'/in/x'")


@pytest.mark.parametrize("tags", [None, [], "type:dataset"])
def test_input_needs_tags(tags: object) -> None:
    refused(base(inputs=[{"path": "/in/x", "tags": tags}]), "inputs[0].tags:")


def test_input_bad_tag_named_by_index() -> None:
    refused(base(inputs=[{"path": "/in/x", "tags": ["a:b", "nocolon"]}]), "inputs[0].tags[1]", "'nocolon'")
    refused(base(inputs=[{"path": "/in/x", "tags": ["a:b", ":v"]}]), "inputs[0].tags[1]", "':v'")
    refused(base(inputs=[{"path": "/in/x", "tags": ["a:b", 5]}]), "inputs[0].tags[1]", "5")


def test_tag_read_as_mapping_gets_a_hint() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_plan_yaml("image: r/x:v1\ninputs:\n  - path: /in\n    tags:\n      - type: dataset\n")
    assert "inputs[0].tags[0]" in str(info.value)
    assert "'type:dataset'" in str(info.value)


def test_input_pins() -> None:
    spec = parse_plan_dict(base(inputs=[{"path": "/in/x", "tags": ["knit#id:abc"]}]))
    assert spec.inputs[0].tags == () and spec.inputs[0].pin_knit_id == "abc"
    spec = parse_plan_dict(base(inputs=[{"path": "/in/x", "tags": ["knit#timestamp:2024-05-06T07:08:09.123+09:00"]}]))
    assert spec.inputs[0].pin_timestamp_ms == parse_rfc3339("2024-05-06T07:08:09.123+09:00")
    assert spec.inputs[0].all_tags() == [Tag("knit#timestamp", "2024-05-05T22:08:09.123+00:00")]


@pytest.mark.parametrize(
    ("tags", "fragments"),
    [
        (["knit#id:a", "knit#id:b"], ["inputs[0].tags[1]", "knit#id:b", "already pinned to knit#id 'a'"]),
        (
            ["knit#timestamp:2024-01-01T00:00:00Z", "knit#timestamp:2024-01-02T00:00:00Z"],
            ["inputs[0].tags[1]", "already pinned to knit#timestamp 2024-01-01T00:00:00+00:00"],
        ),
        (
            ["a:b", "knit#timestamp:yesterday"],
            ["inputs[0].tags[1]", "'knit#timestamp:yesterday'", "'yesterday' is not an RFC3339 time"],
        ),
        (["knit#transient:processing"], ["inputs[0].tags[0]", "knit#transient:processing", "not allowed on an input"]),
        (["knit#other:x"], ["inputs[0].tags[0]", "knit#other:x"]),
    ],
)
def test_input_pin_rules(tags: list[str], fragments: list[str]) -> None:
    refused(base(inputs=[{"path": "/in/x", "tags": tags}]), *fragments)


# --- paths --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/in/x", "/in/x"), ("/in/x/", "/in/x"), ("/in", "/in"), ("/a b/c.d/..e/.f", "/a b/c.d/..e/.f")],
)
def test_path_accepted(path: str, expected: str) -> None:
    assert parse_plan_dict(base(inputs=[{"path": path, "tags": ["a:b"]}])).inputs[0].path == expected
    data = base(inputs=[{"path": "/zzz", "tags": ["a:b"]}], outputs=[{"path": path, "tags": ["a:b"]}])
    assert parse_plan_dict(data).outputs[0].path == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("in/x", "absolute"),
        ("/", "root"),
        ("//", "root"),
        ("/in//x", "not clean"),
        ("/in/x//", "not clean"),
        ("/in/./x", "'.'"),
        ("/in/../x", "'..'"),
        ("/in/..", "'..'"),
        ("/in/.", "'.'"),
        ("", "non-empty"),
        (None, "non-empty"),
        (7, "non-empty"),
        ("/in/a\0b", "NUL"),
    ],
)
def test_path_refused(path: object, reason: str) -> None:
    refused(base(inputs=[{"path": path, "tags": ["a:b"]}]), "inputs[0].path:", repr(path), reason)
    refused(
        base(outputs=[{"path": "/out/ok", "tags": ["a:b"]}, {"path": path, "tags": ["a:b"]}]),
        "outputs[1].path:",
        repr(path),
        reason,
    )


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("/in/a", "/in/ab", False),
        ("/in/a", "/in/a/b", True),
        ("/in", "/in/a", True),
        ("/in/a", "/in/a", True),
        ("/in/a", "/out/a", False),
        ("/a/b/c", "/a/b", True),
        ("/a-b", "/a", False),
    ],
)
def test_mount_paths_conflict(a: str, b: str, conflict: bool) -> None:
    assert mount_paths_conflict(a, b) is conflict
    assert mount_paths_conflict(b, a) is conflict


def test_nested_mounts_refused_naming_both() -> None:
    refused(
        base(inputs=[{"path": "/in", "tags": ["a:b"]}, {"path": "/in/a", "tags": ["a:b"]}]),
        "inputs[1].path",
        "'/in/a'",
        "inputs[0].path",
        "'/in'",
        "nested inside",
    )
    refused(
        base(outputs=[{"path": "/in/data/", "tags": ["a:b"]}]),
        "outputs[0].path",
        "'/in/data'",
        "inputs[0].path",
        "same as",
    )
    refused(
        base(inputs=[{"path": "/mnt/a/b", "tags": ["a:b"]}], outputs=[{"path": "/mnt/a", "tags": ["a:b"]}]),
        "outputs[0].path",
        "'/mnt/a'",
        "inputs[0].path",
        "'/mnt/a/b'",
        "contains",
    )
    spec = parse_plan_dict(
        base(inputs=[{"path": "/in/a", "tags": ["a:b"]}], outputs=[{"path": "/in/ab", "tags": ["c:d"]}])
    )
    assert [o.path for o in spec.outputs] == ["/in/ab"]


# --- outputs and log ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("outputs", [None, []])
def test_no_outputs(outputs: object) -> None:
    assert parse_plan_dict(base(outputs=outputs)).outputs == ()
    data = base()
    del data["outputs"]
    assert parse_plan_dict(data).outputs == ()


def test_output_rules() -> None:
    refused(base(outputs={"path": "/o"}), "outputs:", "list")
    refused(base(outputs=[{"path": "/o", "tags": ["a:b", "knit#id:x"]}]), "outputs[0].tags[1]", "knit#id:x")
    refused(base(outputs=[{"tags": ["a:b"]}]), "outputs[0].path:", "None")


def test_log_rules() -> None:
    assert parse_plan_dict(base(log=None)).log is None
    assert parse_plan_dict(base(log={"tags": ["type:log", "type:log"]})).log == LogSpec((Tag("type", "log"),))
    refused(base(log=["type:log"]), "log:", "mapping", "['type:log']")
    refused(base(log={"tags": ["knit#transient:failed"]}), "log.tags[0]", "knit#transient:failed")


# --- active -------------------------------------------------------------------------------------------------------


def test_active() -> None:
    assert parse_plan_dict(base()).active is True
    assert parse_plan_dict(base(active=None)).active is True
    assert parse_plan_dict(base(active=False)).active is False
    refused(base(active="yes"), "active:", "'yes'")
    refused(base(active=1), "active:", "1")


# --- resources ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (None, {"cpu": "1", "memory": "1Gi"}),
        ({}, {"cpu": "1", "memory": "1Gi"}),
        ({"cpu": 2}, {"cpu": "2", "memory": "1Gi"}),
        ({"memory": "512Mi"}, {"cpu": "1", "memory": "512Mi"}),
        ({"cpu": 0.5, "memory": "2e3"}, {"cpu": "0.5", "memory": "2e3"}),
        ({"cpu": "500m", "nvidia.com/gpu": 1}, {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}),
        ({"ephemeral-storage": "10G"}, {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "10G"}),
        ({"hugepages-2Mi": "1.5Gi", "cpu": "+1"}, {"cpu": "+1", "memory": "1Gi", "hugepages-2Mi": "1.5Gi"}),
        ({"memory": "1E-3", "cpu": ".5"}, {"cpu": ".5", "memory": "1E-3"}),
    ],
)
def test_resources_accepted(resources: object, expected: dict) -> None:
    assert parse_plan_dict(base(resources=resources)).resources == expected


@pytest.mark.parametrize(
    ("resources", "fragments"),
    [
        ({"memory": "1GB"}, ["resources.memory:", "'1GB'"]),
        ({"memory": "lots"}, ["resources.memory:", "'lots'"]),
        ({"cpu": -1}, ["resources.cpu:", "-1"]),
        ({"cpu": True}, ["resources.cpu:", "True"]),
        ({"cpu": None}, ["resources.cpu:", "None"]),
        ({"cpu": ""}, ["resources.cpu:", "''"]),
        ({"cpu": float("inf")}, ["resources.cpu:", "inf"]),
        ({"bad name!": "1"}, ["resources.bad name!:", "'bad name!'"]),
        ({"Bad_Domain/gpu": "1"}, ["resources.Bad_Domain/gpu:", "'Bad_Domain/gpu'"]),
        ({1: "1"}, ["resources.1:", "1"]),
        (["cpu=1"], ["resources:", "mapping", "['cpu=1']"]),
    ],
)
def test_resources_refused(resources: object, fragments: list[str]) -> None:
    refused(base(resources=resources), *fragments)


def test_parse_resource_helper() -> None:
    assert parse_resource("memory", 1024) == ("memory", "1024")
    with pytest.raises(InvalidInput, match=r"^resources\.memory: '1 Gi'"):
        parse_resource("memory", "1 Gi")
    with pytest.raises(InvalidInput, match=r"^-s: "):
        parse_resource("cpu", "x", field="-s")


# --- on_node ------------------------------------------------------------------------------------------------------


def test_on_node_accepted() -> None:
    spec = parse_plan_dict(
        base(on_node={"may": ["a=1", "a=1"], "prefer": None, "must": ["example.com/gpu-type=A100_x.y"]})
    )
    assert spec.on_node == OnNode(may=(NodeLabel("a", "1"),), must=(NodeLabel("example.com/gpu-type", "A100_x.y"),))
    assert parse_plan_dict(base(on_node=None)).on_node.is_empty()


@pytest.mark.parametrize(
    ("on_node", "fragments"),
    [
        ({"must": ["nolabel"]}, ["on_node.must[0]", "'nolabel'", "no '='"]),
        ({"must": ["a=1", "=v"]}, ["on_node.must[1]", "'=v'"]),
        ({"may": ["bad key=v"]}, ["on_node.may[0]", "'bad key'"]),
        ({"prefer": ["k=" + "v" * 64]}, ["on_node.prefer[0]", "'" + "v" * 64 + "'"]),
        ({"prefer": ["k=-v"]}, ["on_node.prefer[0]", "'-v'"]),
        ({"must": ["k" * 64 + "=v"]}, ["on_node.must[0]", "k" * 64]),
        ({"must": ["Bad.Prefix/k=v"]}, ["on_node.must[0]", "'Bad.Prefix'"]),
        ({"must": ["/k=v"]}, ["on_node.must[0]", "prefix"]),
        ({"must": [3]}, ["on_node.must[0]", "3"]),
        ({"must": "a=1"}, ["on_node.must:", "'a=1'", "list"]),
        (["a=1"], ["on_node:", "mapping", "['a=1']"]),
    ],
)
def test_on_node_refused(on_node: object, fragments: list[str]) -> None:
    refused(base(on_node=on_node), *fragments)


def test_parse_node_label_helper() -> None:
    assert parse_node_label(" k = v ") == NodeLabel("k", "v")
    with pytest.raises(InvalidInput, match=r"^on_node: node label 'x'"):
        parse_node_label("x")


# --- service_account ----------------------------------------------------------------------------------------------


def test_service_account() -> None:
    assert parse_plan_dict(base(service_account="knit-worker.v1")).service_account == "knit-worker.v1"
    assert parse_plan_dict(base(service_account=None)).service_account is None
    assert validate_service_account("sa") == "sa"
    for bad in ["Upper", "under_score", "-lead", "", "a" * 254, 5]:
        refused(base(service_account=bad), "service_account:", shown(bad))
        with pytest.raises(InvalidInput, match="^service_account: "):
            validate_service_account(bad)


# --- annotations --------------------------------------------------------------------------------------------------


def test_annotations() -> None:
    spec = parse_plan_dict(base(annotations=["b=x=y", "a=", "example.com/note = hello world ", "b=last"]))
    assert spec.annotations == (
        Annotation("a", ""),
        Annotation("b", "last"),
        Annotation("b", "x=y"),
        Annotation("example.com/note", "hello world"),
    )
    assert parse_annotation("k=v=w") == Annotation("k", "v=w")
    assert parse_plan_dict(base(annotations=None)).annotations == ()


@pytest.mark.parametrize(
    ("annotations", "fragments"),
    [
        (["noequals"], ["annotations[0]", "'noequals'", "no '='"]),
        (["ok=1", "=v"], ["annotations[1]", "'=v'"]),
        (["bad key=v"], ["annotations[0]", "'bad key'"]),
        (["UPPER.com/k=v"], ["annotations[0]", "'UPPER.com'"]),
        ([{"k": "v"}], ["annotations[0]", "{'k': 'v'}"]),
        ("k=v", ["annotations:", "'k=v'", "list"]),
    ],
)
def test_annotations_refused(annotations: object, fragments: list[str]) -> None:
    refused(base(annotations=annotations), *fragments)


# --- direct construction ------------------------------------------------------------------------------------------


def test_direct_construction_normalises() -> None:
    spec = PlanSpec(
        image="r/x:v1",
        inputs=(InputSpec("/in", (Tag("b", "1"), Tag("a", "1"))),),
        resources={"nvidia.com/gpu": "1"},
        annotations=(Annotation("z", "1"), Annotation("a", "1")),
    )
    assert spec.resources == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert spec.inputs[0].tags == (Tag("a", "1"), Tag("b", "1"))
    assert spec.annotations == (Annotation("a", "1"), Annotation("z", "1"))
    assert parse_plan_dict(spec.to_dict()) == spec


def test_parse_does_not_mutate_input() -> None:
    data = base(resources={"cpu": 1}, annotations=["a=b"])
    snapshot = copy.deepcopy(data)
    parse_plan_dict(data)
    assert data == snapshot


# --- properties ---------------------------------------------------------------------------------------------------

_component = st.text(
    alphabet=st.characters(blacklist_characters="/\u2028\u2029", blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
_paths = (
    st.lists(_component, min_size=1, max_size=5)
    .map(lambda parts: "/" + "/".join(parts))
    .filter(lambda path: path.split("/")[1] not in ("proc", "sys", "dev"))
)
_simple_paths = st.lists(st.sampled_from(["a", "b", "ab", "c"]), min_size=1, max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)


@given(_paths)
def test_normalised_paths_accepted_and_idempotent(path: str) -> None:
    assert normalize_mount_path(path) == path
    assert normalize_mount_path(path + "/") == path
    assert normalize_mount_path(normalize_mount_path(path + "/")) == path


@given(_paths, _paths)
def test_conflict_symmetric(a: str, b: str) -> None:
    assert mount_paths_conflict(a, b) == mount_paths_conflict(b, a)
    assert mount_paths_conflict(a, a)


@given(_simple_paths, _simple_paths)
def test_conflict_is_component_prefix(a: str, b: str) -> None:
    expected = a == b or b.startswith(a + "/") or a.startswith(b + "/")
    assert mount_paths_conflict(a, b) is expected
    data = base(inputs=[{"path": a, "tags": ["x:1"]}], outputs=[{"path": b, "tags": ["y:1"]}])
    if expected:
        refused(data, "outputs[0].path", "inputs[0].path")
    else:
        assert parse_plan_dict(data).outputs[0].path == b


_tag_text = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=5)
_tags = st.lists(st.tuples(_tag_text, _tag_text).map(lambda kv: f"{kv[0]}:{kv[1]}"), min_size=1, max_size=4)


@given(_tags, _tags, st.randoms())
def test_identity_invariant_under_shuffles(in_tags: list[str], out_tags: list[str], rnd) -> None:
    data = base(
        inputs=[{"path": "/in/a", "tags": in_tags}, {"path": "/in/b", "tags": out_tags}],
        outputs=[{"path": "/out", "tags": out_tags}],
    )
    shuffled = copy.deepcopy(data)
    rnd.shuffle(shuffled["inputs"])
    for item in shuffled["inputs"] + shuffled["outputs"]:
        rnd.shuffle(item["tags"])
    one, two = parse_plan_dict(data), parse_plan_dict(shuffled)
    assert one.identity_key() == two.identity_key()
    assert parse_plan_dict(one.to_dict()) == one
