"""Issue 12: the rules where Knitfab's CLI and its own tests decide (core level; entry points in tests/cli, api)."""

from __future__ import annotations

import time

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.core.plan_spec import Annotation, parse_plan_dict, parse_plan_yaml
from knit_provider.core.tags import Tag, parse_tag, parse_user_tags
from knit_provider.core.timefmt import parse_rfc3339

pytestmark = pytest.mark.compat


def plan(**changes: object) -> dict:
    data: dict = {"image": "repo/train:v1", "inputs": [{"path": "/in/data", "tags": ["type:dataset"]}]}
    data.update(changes)
    return data


# ---- K4: outputs and the log may carry no tag ------------------------------------------------------------------


def test_outputs_and_log_without_tags_are_accepted() -> None:
    spec = parse_plan_yaml(
        "image: repo/x:v1\ninputs:\n  - path: /in/a\n    tags: [type:a]\n"
        "outputs:\n  - path: /out/empty\n    tags: []\n  - path: /out/none\nlog: {}\n"
    )
    assert [(o.path, o.tags) for o in spec.outputs] == [("/out/empty", ()), ("/out/none", ())]
    assert spec.log is not None and spec.log.tags == ()
    assert parse_plan_dict(spec.to_dict()) == spec
    assert parse_plan_dict(plan(log={"tags": []})).log.tags == ()


def test_a_tagless_log_is_part_of_identity() -> None:
    without_log = parse_plan_dict(plan())
    tagless_log = parse_plan_dict(plan(log={}))
    assert without_log.identity_key() != tagless_log.identity_key()
    assert tagless_log.identity_key() == parse_plan_dict(plan(log={"tags": []})).identity_key()


def test_inputs_still_need_a_tag() -> None:
    with pytest.raises(InvalidInput, match=r"^inputs\[0\]\.tags: needs at least one tag"):
        parse_plan_dict(plan(inputs=[{"path": "/in/x", "tags": []}]))


# ---- K5: on_node values may not be empty -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["may", "prefer", "must"])
def test_on_node_empty_value_is_refused_naming_the_field(mode: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^on_node\.{mode}\[1\]: node label 'label=' has an empty value"):
        parse_plan_dict(plan(on_node={mode: ["a=b", "label="]}))


# ---- K6: identical pins merge, different pins are refused ------------------------------------------------------


def test_identical_pins_merge() -> None:
    spec = parse_plan_dict(plan(inputs=[{"path": "/in/x", "tags": ["knit#id:abc", "type:a", "knit#id:abc"]}]))
    assert spec.inputs[0].pin_knit_id == "abc" and [str(t) for t in spec.inputs[0].tags] == ["type:a"]
    same_instant = ["knit#timestamp:2024-05-06T07:08:09.123+09:00", "knit#timestamp:2024-05-05T22:08:09.123Z"]
    spec = parse_plan_dict(plan(inputs=[{"path": "/in/x", "tags": same_instant}]))
    assert spec.inputs[0].pin_timestamp_ms == parse_rfc3339("2024-05-05T22:08:09.123Z")


def test_different_pins_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^inputs\[0\]\.tags\[1\]: 'knit#id:b': the input is already pinned"):
        parse_plan_dict(plan(inputs=[{"path": "/in/x", "tags": ["knit#id:a", "knit#id:b"]}]))
    other_instant = ["knit#timestamp:2024-05-06T07:08:09+09:00", "knit#timestamp:2024-05-06T07:08:09Z"]
    with pytest.raises(InvalidInput, match=r"^inputs\[0\]\.tags\[1\]: .*already pinned to knit#timestamp"):
        parse_plan_dict(plan(inputs=[{"path": "/in/x", "tags": other_instant}]))


# ---- K7: annotations keep every value of a key -----------------------------------------------------------------


def test_annotations_keep_several_values_of_one_key() -> None:
    spec = parse_plan_dict(plan(annotations=["key=b", "key=a", "other=x", "key=a"]))
    assert spec.annotations == (Annotation("key", "a"), Annotation("key", "b"), Annotation("other", "x"))
    assert spec.to_dict()["annotations"] == ["key=a", "key=b", "other=x"]


# ---- K8: --since as Knitfab reads it ---------------------------------------------------------------------------


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch):
    """This process's local time zone is Asia/Tokyo (UTC+9, no daylight saving) for the test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-04", "2026-12-03T15:00:00Z"),
        ("2026-12-04T18", "2026-12-04T09:00:00Z"),
        ("2026-12-04 18", "2026-12-04T09:00:00Z"),
        ("2026-12-04T18:44", "2026-12-04T09:44:00Z"),
        ("2026-12-04 18:44:18", "2026-12-04T09:44:18Z"),
        ("2026-12-04T18:44:18.5", "2026-12-04T09:44:18.5Z"),
        ("2026-12-04Z", "2026-12-04T00:00:00Z"),
        ("2026-12-04+09:00", "2026-12-03T15:00:00Z"),
        ("2026-12-04T18Z", "2026-12-04T18:00:00Z"),
        ("2026-12-04 18:44-01:30", "2026-12-04T20:14:00Z"),
        ("2026-12-04T18:44:18.123456789+00:00", "2026-12-04T18:44:18.123Z"),
    ],
)
def test_since_reads_knitfabs_loose_rfc3339_and_local_time(tokyo, text: str, utc: str) -> None:
    from knit_provider.core.timefmt import parse_loose_time

    assert parse_loose_time(text) == parse_rfc3339(utc)


@pytest.mark.parametrize("text", ["2026-12", "2026-12-04T1", "2026-12-04T18:4", "2026-13-01", "yesterday", "18:44"])
def test_since_refuses_what_knitfab_refuses(text: str) -> None:
    from knit_provider.core.timefmt import parse_loose_time

    with pytest.raises(InvalidInput, match=r"^since: not a (valid date or time|time like YYYY-mm-dd)"):
        parse_loose_time(text, field="since")


def test_time_window_takes_loose_times_and_duration_alone_is_a_usage_error(tokyo) -> None:
    from knit_provider.core.errors import UsageError
    from knit_provider.core.timefmt import time_window

    assert time_window("2026-12-04", "24h") == (
        parse_rfc3339("2026-12-03T15:00:00Z"),
        parse_rfc3339("2026-12-04T15:00:00Z"),
    )
    with pytest.raises(UsageError, match="--duration needs --since"):
        time_window(None, "1h")


# ---- K9: run find's statuses -----------------------------------------------------------------------------------


def test_run_find_statuses_are_knitfabs() -> None:
    from knit_provider.core.errors import UsageError
    from knit_provider.core.lifecycle import RunStatus, parse_status_filter

    assert parse_status_filter(" Running ") is RunStatus.RUNNING
    for bad in ("invalidated", "nonsense", ""):
        with pytest.raises(UsageError) as err:
            parse_status_filter(bad)
        assert "deactivated, waiting, ready, starting, running, completing, aborting, done, failed)" in str(err.value)


# ---- K10: --image needs a repository ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "repository", "tag"),
    [
        ("repo/train", "repo/train", None),
        ("repo/train:v1", "repo/train", "v1"),
        ("localhost:5000/team/train:v1", "localhost:5000/team/train", "v1"),
        ("localhost:5000/team/train", "localhost:5000/team/train", None),
        ("train:", "train", None),
    ],
)
def test_image_filter(text: str, repository: str, tag: str | None) -> None:
    from knit_provider.core.k8s_names import parse_image_filter

    assert parse_image_filter(text) == (repository, tag)


@pytest.mark.parametrize("text", [":v1.0", "repo/:v1", "", "a\0b:v1"])
def test_image_filter_without_repository_is_a_usage_error(text: str) -> None:
    from knit_provider.core.errors import UsageError
    from knit_provider.core.k8s_names import parse_image_filter

    with pytest.raises(UsageError, match=r"^image: "):
        parse_image_filter(text)


# ---- K12: empty tag values -------------------------------------------------------------------------------------


def test_a_tag_may_have_an_empty_value() -> None:
    assert parse_tag("k2:") == Tag("k2", "") and str(Tag("k2", "")) == "k2:"
    assert parse_tag(" k2 :  ") == Tag("k2", "")
    assert parse_user_tags(["k2:", "k2:"]) == [Tag("k2", "")]
    spec = parse_plan_dict(
        plan(inputs=[{"path": "/in/x", "tags": ["k2:"]}], outputs=[{"path": "/out", "tags": ["k3:"]}])
    )
    assert spec.inputs[0].tags == (Tag("k2", ""),) and spec.outputs[0].tags == (Tag("k3", ""),)


def test_an_empty_key_stays_an_error() -> None:
    for text in (":v", " : v", ":"):
        with pytest.raises(InvalidInput, match="empty key"):
            parse_tag(text)
