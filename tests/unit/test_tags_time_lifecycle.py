"""Unit tests: tag parsing, Knitfab's time layout, and the Run lifecycle table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knit_provider.core.errors import IllegalTransition, InvalidInput
from knit_provider.core.lifecycle import LIVE, TERMINAL, TRANSITIONS, RunStatus, check_transition, parse_status
from knit_provider.core.tags import Tag, parse_tag, parse_user_tags, sort_tags
from knit_provider.core.timefmt import format_ms, parse_duration, parse_rfc3339


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("type:model", "type", "model"),
        (" type : model ", "type", "model"),
        ("url:http://x:8080/", "url", "http://x:8080/"),
    ],
)
def test_parse_tag_splits_at_first_colon_and_trims(text: str, key: str, value: str) -> None:
    assert parse_tag(text) == Tag(key, value)


@pytest.mark.parametrize(("text", "fragment"), [("novalue", "no ':'"), (":v", "empty key"), (" :v", "empty key")])
def test_parse_tag_refuses_malformed(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as err:
        parse_tag(text, field="tags[0]")
    assert "tags[0]" in str(err.value) and repr(text) in str(err.value)


def test_user_tags_refuse_system_tags_and_deduplicate() -> None:
    assert parse_user_tags(["a:1", "a:1", "b:2"]) == [Tag("a", "1"), Tag("b", "2")]
    with pytest.raises(InvalidInput, match="system tag 'knit#id:x'") as err:
        parse_user_tags(["a:1", "knit#id:x"], field="add")
    assert "add[1]" in str(err.value)


def test_sort_tags_orders_by_key_then_value() -> None:
    tags = [Tag("mode", "x"), Tag("knit#id", "1"), Tag("format", "y"), Tag("a", "2"), Tag("a", "1")]
    assert [str(t) for t in sort_tags(tags)] == ["a:1", "a:2", "format:y", "knit#id:1", "mode:x"]


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1700000000123, "2023-11-14T22:13:20.123+00:00"),
        (1700000000120, "2023-11-14T22:13:20.12+00:00"),
        (1700000000000, "2023-11-14T22:13:20+00:00"),
    ],
)
def test_format_ms_uses_knitfab_layout(ms: int, text: str) -> None:
    assert format_ms(ms) == text


def test_parse_rfc3339_accepts_offsets_and_z() -> None:
    assert parse_rfc3339("2023-11-14T22:13:20.123Z") == 1700000000123
    assert parse_rfc3339("2023-11-15T07:13:20.123+09:00") == 1700000000123
    assert parse_rfc3339("2023-11-14") == parse_rfc3339("2023-11-14T00:00:00Z")


@pytest.mark.parametrize("text", ["yesterday", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z"])
def test_parse_rfc3339_refuses_bad_times(text: str) -> None:
    with pytest.raises(InvalidInput, match="since"):
        parse_rfc3339(text, field="since")


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_time_round_trip(ms: int) -> None:
    assert parse_rfc3339(format_ms(ms)) == ms


def test_parse_duration_go_style() -> None:
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("250ms") == 250
    assert parse_duration("1.5h") == 5_400_000
    for bad in ("", "10", "1d", "h1"):
        with pytest.raises(InvalidInput, match="duration"):
            parse_duration(bad)


ALLOWED = {
    ("deactivated", "waiting"), ("deactivated", "aborting"),
    ("waiting", "deactivated"), ("waiting", "ready"), ("waiting", "aborting"),
    ("ready", "starting"), ("ready", "running"), ("ready", "completing"), ("ready", "aborting"),
    ("starting", "running"), ("starting", "completing"), ("starting", "aborting"),
    ("running", "completing"), ("running", "aborting"),
    ("completing", "done"), ("aborting", "failed"),
}  # fmt: skip


@pytest.mark.parametrize("current", list(RunStatus))
@pytest.mark.parametrize("target", list(RunStatus))
def test_lifecycle_table_is_exactly_knitfabs(current: RunStatus, target: RunStatus) -> None:
    if (current.value, target.value) in ALLOWED:
        check_transition("r1", current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"r1: cannot go from {current.value} to {target.value}"):
            check_transition("r1", current, target)


def test_terminal_and_live_partition_statuses() -> None:
    assert {RunStatus.DONE, RunStatus.FAILED, RunStatus.INVALIDATED} == TERMINAL
    assert set(RunStatus) == LIVE | TERMINAL and not LIVE & TERMINAL
    assert all(not TRANSITIONS[s] for s in TERMINAL)


def test_parse_status_names_the_choices() -> None:
    assert parse_status(" Done ") is RunStatus.DONE
    with pytest.raises(InvalidInput, match="unknown run status 'finished'"):
        parse_status("finished")
