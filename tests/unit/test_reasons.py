"""The reasons of ``knit explain`` (``core.reasons``, ``core.similar``): one test per reason, and "no reason" is
exactly the nomination rule of ``core.matching``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knit_provider.core import reasons as why
from knit_provider.core.matching import is_nominated
from knit_provider.core.plan_spec import InputSpec
from knit_provider.core.similar import similar, within_one_edit
from knit_provider.core.tags import Tag, parse_tag
from knit_provider.core.timefmt import format_ms

pytestmark = pytest.mark.explain

KNIT_ID = "0f3c0000-0000-4000-8000-000000000001"


def tags(*texts: str) -> frozenset[Tag]:
    return frozenset(parse_tag(t) for t in texts)


def reasons_for(input_tags=("type:dataset",), data_tags=("type:dataset",), *, transient=None, pin_id=None,
                pin_ts=None, timestamp=1_700_000_000_000) -> list[why.Reason]:  # fmt: skip
    return why.nomination_reasons(
        input_tags=sorted(tags(*input_tags)),
        pin_knit_id=pin_id,
        pin_timestamp_ms=pin_ts,
        knit_id=KNIT_ID,
        data=why.DataTags(tags(*data_tags)),
        transient=transient,
        timestamp_ms=timestamp,
    )


def test_a_data_carrying_every_tag_has_no_reason() -> None:
    assert reasons_for(("type:dataset", "mode:training"), ("type:dataset", "mode:training", "extra:1")) == []


@pytest.mark.parametrize(
    ("wanted", "written"),
    [
        ("mode:training", "mode:Training"),  # case
        ("project:first knitfab", "project:first  knitfab"),  # spacing
        ("project:firstknitfab", "project:first knitfab"),  # spacing
        ("mode:training", "mode:trainig"),  # one deletion
        ("mode:training", "mode:trainning"),  # one insertion
        ("mode:training", "mode:trainimg"),  # one replacement
        ("mode:training", "mode:trianing"),  # two neighbours swapped
        ("mode:training", "mdoe:training"),  # in the key
        ("Mode: Training", "mode:trainig"),  # case and spacing, then one edit
    ],
)
def test_a_missing_tag_names_the_look_alike_the_data_has(wanted: str, written: str) -> None:
    (reason,) = reasons_for(("type:dataset", wanted), ("type:dataset", written))
    assert reason.code == why.MISSING_TAGS
    assert reason.details["missing"] == [str(parse_tag(wanted))]
    assert reason.details["didYouMean"] == [{"missing": str(parse_tag(wanted)), "has": str(parse_tag(written))}]
    assert f"it has {parse_tag(written)}, which differs only slightly: did you mean {parse_tag(wanted)}?" in (
        reason.message
    )


@pytest.mark.parametrize("written", ["mode:trng", "mode:validation", "other:training", "mode:gniniart"])
def test_tags_two_edits_apart_are_no_look_alikes(written: str) -> None:
    assert not similar(parse_tag("mode:training"), parse_tag(written))
    (reason,) = reasons_for(("mode:training",), (written,))
    assert reason.details["didYouMean"] == []


def test_a_missing_tag_names_what_the_data_has_under_that_key() -> None:
    (reason,) = reasons_for(("type:dataset", "mode:training"), ("type:dataset", "mode:validation"))
    assert reason.details["instead"] == [{"missing": "mode:training", "has": "mode:validation"}]
    assert reason.message == "the Data lacks mode:training (it has mode:validation instead)"


def test_every_missing_tag_is_listed() -> None:
    (reason,) = reasons_for(("a:1", "b:2", "c:3"), ("a:1",))
    assert reason.details["missing"] == ["b:2", "c:3"] and reason.message == "the Data lacks b:2, c:3"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("processing", "has not finished yet"),
        ("failed", "failed Data are never used"),
        ("purged", "purged Data are never used"),
    ],
)
def test_a_transient_data_is_never_nominated(state: str, words: str) -> None:
    (reason,) = reasons_for(transient=state)
    assert reason.code == why.TRANSIENT and reason.details == {"transient": state}
    assert f"knit#transient:{state}" in reason.message and words in reason.message


def test_a_knit_id_pin_names_the_pinned_data() -> None:
    (reason,) = reasons_for(pin_id="someone-else")
    assert reason.code == why.PIN_MISMATCH
    assert reason.details == {"pin": "knit#id:someone-else", "has": f"knit#id:{KNIT_ID}"}
    assert reasons_for(pin_id=KNIT_ID) == []


def test_a_timestamp_pin_names_both_times() -> None:
    (reason,) = reasons_for(pin_ts=1_600_000_000_000, timestamp=1_700_000_000_000)
    assert reason.code == why.PIN_MISMATCH
    assert reason.details == {
        "pin": f"knit#timestamp:{format_ms(1_600_000_000_000)}",
        "has": f"knit#timestamp:{format_ms(1_700_000_000_000)}",
    }
    (unset,) = reasons_for(pin_ts=1_600_000_000_000, timestamp=None, transient="processing")[1:]
    assert unset.details["has"] is None and "not set yet" in unset.message


def test_several_reasons_hold_at_once() -> None:
    found = reasons_for(("mode:training",), ("mode:trainig",), transient="failed", pin_id="other")
    assert [r.code for r in found] == [why.TRANSIENT, why.MISSING_TAGS, why.PIN_MISMATCH]


def test_plan_level_reasons() -> None:
    inactive = why.plan_inactive("p1")
    assert inactive.code == why.PLAN_INACTIVE and "knit plan active yes p1" in inactive.message
    waiting = why.waits_for_input("/in/model", ["type:model"], nominated_here=True)
    assert waiting.code == why.WAITS_FOR_INPUT and waiting.details == {"path": "/in/model", "tags": ["type:model"]}
    assert waiting.message.startswith("the Plan waits for Data on /in/model (type:model)")
    ran = why.had_run([{"runId": "r1", "status": "done"}, {"runId": "r2", "status": "invalidated"}], 3)
    assert ran.code == why.HAD_RUN and ran.details["runCount"] == 3
    assert "r1 (done)" in ran.message and "r2 (invalidated: a tombstone" in ran.message and "1 more" in ran.message


def test_within_one_edit() -> None:
    assert within_one_edit("abc", "abc") and within_one_edit("abc", "abd") and within_one_edit("abc", "ab")
    assert within_one_edit("abc", "xabc") and within_one_edit("abcd", "abdc")
    assert not within_one_edit("abc", "cba") and not within_one_edit("abc", "a") and not within_one_edit("ab", "ba c")


_tag_texts = st.sampled_from(["a:1", "a:2", "b:1", "b:2", "c:1", "A:1", "a:11"])


@given(
    input_tags=st.frozensets(_tag_texts, min_size=1, max_size=3),
    data_tags=st.frozensets(_tag_texts, max_size=4),
    done=st.booleans(),
    pin_self=st.sampled_from([None, True, False]),
    pin_time=st.sampled_from([None, 5, 6]),
    timestamp=st.sampled_from([None, 5]),
)
def test_no_reason_is_exactly_the_nomination_rule(input_tags, data_tags, done, pin_self, pin_time, timestamp) -> None:
    pin_id = None if pin_self is None else (KNIT_ID if pin_self else "other")
    spec = InputSpec("/in", tuple(parse_tag(t) for t in input_tags), pin_id, pin_time)
    user = tags(*data_tags)
    found = why.nomination_reasons(
        input_tags=spec.tags, pin_knit_id=pin_id, pin_timestamp_ms=pin_time, knit_id=KNIT_ID,
        data=why.DataTags(user), transient=None if done else "processing", timestamp_ms=timestamp,
    )  # fmt: skip
    nominated = is_nominated(spec, knit_id=KNIT_ID, user_tags=user, done=done, timestamp_ms=timestamp)
    assert (found == []) == nominated


@given(input_tags=st.frozensets(_tag_texts, min_size=1, max_size=3), data_tags=st.frozensets(_tag_texts, max_size=4))
def test_the_quick_answer_for_an_input_sharing_nothing_is_the_derived_one(input_tags, data_tags) -> None:
    """``knit explain`` answers most inputs of a large catalog with ``lacking_all``: it must say what
    ``nomination_reasons`` would."""
    data = why.DataTags(tags(*data_tags))
    wanted = sorted(tags(*input_tags))
    if not data.tags.isdisjoint(wanted) or any(data.alike(t)[0] for t in wanted):
        return  # the Data shares a tag with the input, or has one like it
    (derived,) = why.nomination_reasons(
        input_tags=wanted, pin_knit_id=None, pin_timestamp_ms=None, knit_id=KNIT_ID, data=data, transient=None,
        timestamp_ms=None,
    )  # fmt: skip
    assert why.lacking_all([str(t) for t in wanted]) == derived.as_json()
