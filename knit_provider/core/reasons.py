"""Why a Data is (not) nominated to a Plan input, and why its Plan does (not) run on it: the reasons, derived.

Explanations are never stored guesses (DESIGN.md section 6): each reason here is one clause of the nomination
rule (``core.matching``: the producing Run is done, the Data carries every input tag, the pins match) or of
projection (an inactive Plan's Runs are created ``deactivated``; a Plan needs Data on every input; a combination
never runs twice), tested the same way, on the same facts the catalog nominates from. So "no reason" is exactly
"nominated", and a test holds the catalog's nominations to that.

Each ``Reason`` has a stable ``code`` (for programs), the facts behind it (``details``) and one sentence for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from knit_provider.core.matching import pins_match
from knit_provider.core.similar import SimilarIndex, variants
from knit_provider.core.tags import KEY_ID, KEY_TIMESTAMP, KEY_TRANSIENT, Tag, sort_tags
from knit_provider.core.timefmt import format_ms

#: the Data is not usable: its Run has not finished, failed, or its bytes were purged
TRANSIENT = "transient"
#: the Data lacks some of the input's tags
MISSING_TAGS = "missing-tags"
#: the input pins a ``knit#id`` or ``knit#timestamp`` the Data does not have
PIN_MISMATCH = "pin-mismatch"
#: the Plan is inactive: its Runs are created (and wait) ``deactivated``
PLAN_INACTIVE = "plan-inactive"
#: another input of the Plan has no nominated Data: no combination exists yet
WAITS_FOR_INPUT = "waits-for-input"
#: every combination with this Data already had a Run (whatever its status): none runs twice
HAD_RUN = "had-run"

_TRANSIENT_WHY = {
    "processing": "the Run that makes it has not finished yet",
    "failed": "the Run that made it failed, and failed Data are never used",
    "purged": "its content was purged (knit data purge), and purged Data are never used",
}


class Reason(NamedTuple):
    code: str
    message: str
    details: Mapping[str, object] = {}

    def as_json(self) -> dict:
        return {"reason": self.code, **self.details, "message": self.message}


class DataTags:
    """One Data's user tags, ready to explain many inputs: what the Data has instead of each missing tag (its
    look-alikes, or its tags with the same key) is worked out once per tag, as Plan inputs repeat tags."""

    def __init__(self, user_tags: Iterable[Tag]) -> None:
        self.tags = frozenset(user_tags)
        #: the tags as text: a set of strings answers "has it?" without hashing a Tag each time
        self.texts = frozenset(str(t) for t in self.tags)
        self._similar = SimilarIndex(self.tags)
        self._by_key: dict[str, list[Tag]] = {}
        for tag in sort_tags(self.tags):
            self._by_key.setdefault(tag.key, []).append(tag)
        self._alike: dict[str, tuple[list[Tag], list[dict], str | None]] = {}
        self._instead: dict[str, tuple[list[dict], str | None]] = {}

    def alike(self, missing: Tag, text: str | None = None) -> tuple[list[Tag], list[dict], str | None]:
        """For one tag the Data lacks (``text`` is ``str(missing)``, the cache's key): the Data's tags like it,
        as did-you-mean entries, and the note for the message (None when there is none)."""
        text = str(missing) if text is None else text
        found = self._alike.get(text)
        if found is None:
            alike = [] if self._similar.keys.isdisjoint(variants(missing)) else self._similar.like(missing)
            found = (
                alike,
                [{"missing": text, "has": str(t)} for t in alike],
                f"it has {' and '.join(map(str, alike))}, which differs only slightly: did you mean {text}?"
                if alike
                else None,
            )
            self._alike[text] = found
        return found

    def instead(self, missing: Tag, text: str | None = None) -> tuple[list[dict], str | None]:
        """For one tag the Data lacks: the Data's other tags under its key (its look-alikes aside), as entries,
        and the note for the message. Asked only of near misses: elsewhere it would be noise."""
        text = str(missing) if text is None else text
        found = self._instead.get(text)
        if found is None:
            alike = self.alike(missing, text)[0]
            same_key = [t for t in self._by_key.get(missing.key, ()) if t not in alike]
            found = (
                [{"missing": text, "has": str(t)} for t in same_key],
                f"it has {', '.join(map(str, same_key))} instead" if same_key else None,
            )
            self._instead[text] = found
        return found

    @property
    def variant_keys(self) -> frozenset[str]:
        """Every ``core.similar`` variant of the Data's tags: an input whose tags have none of them shares nothing
        with the Data, nor has a look-alike of its tags (``knit explain`` answers most inputs so, at one set test)."""
        return self._similar.keys


def lacking_all(texts: Sequence[str]) -> dict:
    """``missing_tags(...).as_json()`` for an input whose every tag the Data lacks with nothing alike (no variant
    in ``DataTags.variant_keys``): it depends on the input's tags alone, so a Plan input keeps it; on a catalog of
    a thousand Plans most inputs are such."""
    return {
        "reason": MISSING_TAGS,
        "missing": list(texts),
        "didYouMean": [],
        "instead": [],
        "message": lacks_message(texts),
    }


def lacks_message(texts: Sequence[str]) -> str:
    return f"the Data lacks {', '.join(texts)}"


def missing_tags(
    missing: Sequence[Tag], data: DataTags, *, shares: bool = True, texts: Sequence[str] | None = None
) -> Reason:
    """The input tags the Data lacks (sorted), each with the Data's tags like it (``didYouMean``) and, when the
    Data ``shares`` a tag with the input (a near miss), with the tags it has under a missing tag's key
    (``instead``). For an input it shares nothing with (most inputs of a large catalog), that would be noise.
    ``texts``, the tags' ``str``, saves formatting them again."""
    guesses: list[dict] = []
    instead: list[dict] = []
    notes = []
    texts = [str(t) for t in missing] if texts is None else list(texts)
    for tag, text in zip(missing, texts, strict=True):
        _, alike, note = data.alike(tag, text)
        if alike:
            guesses += alike
        if shares:
            same_key, same_key_note = data.instead(tag, text)
            if same_key:
                instead += same_key
            note = note or same_key_note
        if note:
            notes.append(note)
    message = lacks_message(texts) + (f" ({'; '.join(notes)})" if notes else "")
    return Reason(MISSING_TAGS, message, {"missing": texts, "didYouMean": guesses, "instead": instead})


def lacking(input_tags: Sequence[Tag], data: DataTags, texts: Sequence[str] | None = None) -> Reason | None:
    """The missing-tags reason for an input wanting ``input_tags`` (sorted; ``texts`` their ``str``), or None when
    the Data carries them all."""
    texts = [str(t) for t in input_tags] if texts is None else texts
    has = data.texts
    if has.issuperset(texts):
        return None
    missing = [(tag, text) for tag, text in zip(input_tags, texts, strict=True) if text not in has]
    return missing_tags(
        [tag for tag, _ in missing], data, shares=len(missing) < len(texts), texts=[text for _, text in missing]
    )


def nomination_reasons(
    *,
    input_tags: Iterable[Tag],
    pin_knit_id: str | None,
    pin_timestamp_ms: int | None,
    knit_id: str,
    data: DataTags,
    transient: str | None,
    timestamp_ms: int | None,
    input_texts: Sequence[str] | None = None,
) -> list[Reason]:
    """Every clause of the nomination rule the Data fails for one input; empty exactly when it is nominated.

    ``input_tags`` are the input's user tags, sorted (``input_texts`` their ``str``, when known); ``transient``
    is the Data's ``knit#transient`` value (None once its Run is done and it was not purged).
    """
    reasons: list[Reason] = []
    if transient is not None:
        why = _TRANSIENT_WHY.get(transient, "it is not ready to use")
        reasons.append(Reason(TRANSIENT, f"the Data is {KEY_TRANSIENT}:{transient}: {why}", {"transient": transient}))
    lacks = lacking(tuple(input_tags), data, input_texts)
    if lacks is not None:
        reasons.append(lacks)
    if pin_knit_id is not None and not pins_match(pin_knit_id, None, knit_id=knit_id, timestamp_ms=timestamp_ms):
        reasons.append(
            Reason(
                PIN_MISMATCH,
                f"the input is pinned to {KEY_ID}:{pin_knit_id}, and this Data is {knit_id}",
                {"pin": f"{KEY_ID}:{pin_knit_id}", "has": f"{KEY_ID}:{knit_id}"},
            )
        )
    if pin_timestamp_ms is not None and not pins_match(
        None, pin_timestamp_ms, knit_id=knit_id, timestamp_ms=timestamp_ms
    ):
        pin = f"{KEY_TIMESTAMP}:{format_ms(pin_timestamp_ms)}"
        has = f"{KEY_TIMESTAMP}:{format_ms(timestamp_ms)}" if timestamp_ms is not None else None
        reasons.append(
            Reason(
                PIN_MISMATCH,
                f"the input is pinned to {pin}, and this Data's is "
                + (has.split(":", 1)[1] if has else "not set yet (its Run has not finished)"),
                {"pin": pin, "has": has},
            )
        )
    return reasons


def plan_inactive(plan_id: str) -> Reason:
    return Reason(
        PLAN_INACTIVE,
        f"the Plan is inactive: its Runs are created deactivated and wait until `knit plan active yes {plan_id}`",
        {"planId": plan_id},
    )


def waits_for_input(path: str, tags: Sequence[str], *, nominated_here: bool) -> Reason:
    """Another input of the Plan has no nominated Data, so no combination exists yet."""
    lead = "the Plan waits" if nominated_here else "the Plan also waits"
    return Reason(
        WAITS_FOR_INPUT,
        f"{lead} for Data on {path} ({', '.join(tags)}): no Data is nominated there",
        {"path": path, "tags": list(tags)},
    )


def had_run(runs: Sequence[Mapping[str, str]], total: int) -> Reason:
    """Every combination holding the Data already had a Run: a combination never runs twice, whatever that Run's
    status (tombstones of ``knit run rm`` included)."""
    shown = ", ".join(
        f"{r['runId']} ({r['status']}{': a tombstone of knit run rm' if r['status'] == 'invalidated' else ''})"
        for r in runs
    )
    more = f" and {total - len(runs)} more" if total > len(runs) else ""
    return Reason(
        HAD_RUN,
        f"every combination with this Data already had a Run: {shown}{more}; a combination never runs twice "
        "(knit run retry runs a done or failed one again)",
        {"runs": [dict(r) for r in runs], "runCount": total},
    )
