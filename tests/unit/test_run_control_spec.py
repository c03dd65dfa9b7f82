"""Run control in plan YAML (beyond Knitfab): ``timeout`` and ``retries`` are parsed and checked field by field,
round-trip through the plan's dict, and are not part of a Plan's identity."""

from __future__ import annotations

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.core.plan_spec import parse_plan_yaml
from knit_provider.core.run_control import RunControl, format_duration, timed_out_message

pytestmark = pytest.mark.run_control
BASE = "image: r/a:v1\ninputs: [{path: /in, tags: ['t:a']}]\n"


def test_timeout_and_retries_parse_and_round_trip() -> None:
    spec = parse_plan_yaml(BASE + "timeout: 2h\nretries: {count: 2, delay: 30s}\n")
    assert spec.control == RunControl(timeout_s=7200.0, retries=2, retry_delay_s=30.0)
    assert spec.to_dict()["timeout"] == "2h" and spec.to_dict()["retries"] == {"count": 2, "delay": "30s"}
    assert parse_plan_yaml(BASE + "retries: 3\n").control == RunControl(retries=3)
    assert parse_plan_yaml(BASE + "timeout: 90\n").control.timeout_s == 90.0
    assert parse_plan_yaml(BASE).control == RunControl() and "timeout" not in parse_plan_yaml(BASE).to_dict()


def test_they_are_not_part_of_a_plans_identity() -> None:
    plain = parse_plan_yaml(BASE)
    controlled = parse_plan_yaml(BASE + "timeout: 5m\nretries: 1\n")
    assert plain.identity_key() == controlled.identity_key()


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("timeout: -1\n", "timeout", "longer than nothing"),
        ("timeout: soon\n", "timeout", "duration"),
        ("timeout: true\n", "timeout", "duration"),
        ("retries: 1000\n", "retries", "0 to 100"),
        ("retries: {cnt: 1}\n", "retries", "unknown key 'cnt'"),
        ("retries: {delay: 5s}\n", "retries", "needs a count"),
        ("retries: {count: 1, delay: later}\n", "retries.delay", "duration"),
        ("retries: {count: -1}\n", "retries.count", "0 to 100"),
    ],
)
def test_bad_values_are_refused_naming_the_field(text: str, field: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        parse_plan_yaml(BASE + text)
    assert refused.value.field == field


def test_defaults_fill_what_a_plan_leaves_unset() -> None:
    defaults = RunControl(timeout_s=60.0, retries=1, retry_delay_s=5.0)
    assert RunControl(retries=3).with_defaults(defaults) == RunControl(timeout_s=60.0, retries=3, retry_delay_s=5.0)
    assert RunControl().with_defaults(RunControl()).retry_count == 0
    assert RunControl().retry_delay == 30.0


def test_durations_are_written_as_plan_yaml_writes_them() -> None:
    assert [format_duration(s) for s in (7200, 90, 3, 0.25, 3661)] == ["2h", "1m30s", "3s", "250ms", "1h1m1s"]
    assert timed_out_message(7200) == "timed out after 2h"
