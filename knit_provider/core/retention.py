"""Retention: which Data to purge (``knit data purge --where``, declared policies applied by ``knit_retention``).

A ``Selection`` says which Data go, by any of:

- ``tags``: Data carrying all of them (user tags);
- ``transient``: ``failed`` (only Data whose Run failed), ``no`` (only usable Data), or ``both``;
- ``keep_last N`` ``per KEY...``: in each group of Data with the same values of the ``per`` tag keys (a missing
  key is a value of its own; of a key carried with several values, the smallest counts), the N newest (by
  ``knit#timestamp``, then knit id) are kept and the older ones selected;
- ``older_than``: only Data timestamped longer ago than that (``30d``, ``12h``, ``1h30m``);
- ``superseded``: only Data that some Run used and that no unfinished Run uses any more.

The *population* is the Data matching ``tags`` and ``transient`` whose Run has finished and which were not purged
yet; ``keep_last`` ranks it; ``older_than`` and ``superseded`` then narrow what is not kept. Whatever is selected,
Data that are inputs of unfinished Runs (or being downloaded) are never purged: they are reported as protected.
A selection must say at least one of these things: one that would purge every Data is refused.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.tags import Tag, parse_user_tags
from knit_provider.core.timefmt import parse_duration

TRANSIENT_CHOICES = ("both", "no", "failed")
_DAYS = re.compile(r"(\d+)d(.*)")
_DAY_MS = 24 * 3600 * 1000
POLICY_KEYS = ("name", "tags", "transient", "keep_last", "per", "older_than", "superseded")


def parse_age(text: object, *, field: str = "older_than") -> int:
    """``30d``, ``12h``, ``1d12h``, ``90m``, ``45s`` as milliseconds."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"must be an age such as 30d, 12h or 1h30m, not {shown(text)}", field=field)
    raw = text.strip()
    days = _DAYS.fullmatch(raw)
    if days is None:
        return parse_duration(raw, field=field)
    rest = days.group(2)
    return int(days.group(1)) * _DAY_MS + (parse_duration(rest, field=field) if rest else 0)


@dataclass(frozen=True)
class Selection:
    tags: tuple[Tag, ...] = ()
    transient: str = "both"
    keep_last: int | None = None
    per: tuple[str, ...] = ()
    older_than_ms: int | None = None
    older_than: str | None = None  # as written, for reports
    superseded: bool = False

    def __post_init__(self) -> None:
        if self.transient not in TRANSIENT_CHOICES:
            raise InvalidInput(
                f"must be one of {', '.join(TRANSIENT_CHOICES)}, not {shown(self.transient)}", field="transient"
            )
        if self.keep_last is not None and self.keep_last < 0:
            raise InvalidInput(f"must be 0 or more, not {self.keep_last}", field="keep_last")
        if self.per and self.keep_last is None:
            raise InvalidInput("per groups Data for keep_last: give keep_last too", field="per")
        if not (self.tags or self.transient != "both" or self.keep_last is not None or self.older_than_ms is not None
                or self.superseded):  # fmt: skip
            raise InvalidInput(
                "select by at least one of tags, transient, keep_last, older_than or superseded "
                "(a selection of nothing would purge every Data)",
                field="where",
            )

    @classmethod
    def parse(
        cls,
        *,
        tags: Sequence[str] = (),
        transient: str = "both",
        keep_last: int | None = None,
        per: Sequence[str] = (),
        older_than: str | None = None,
        superseded: bool = False,
    ) -> Selection:
        keys = []
        for index, key in enumerate(per):
            if not isinstance(key, str) or not key.strip() or ":" in key:
                raise InvalidInput(f"a tag key, not {shown(key)}", field=f"per[{index}]")
            keys.append(key.strip())
        return cls(
            tags=tuple(parse_user_tags(tags, field="tags")),
            transient=transient,
            keep_last=keep_last,
            per=tuple(dict.fromkeys(keys)),
            older_than_ms=parse_age(older_than) if older_than is not None else None,
            older_than=older_than,
            superseded=superseded,
        )

    def as_json(self) -> dict:
        shown_ = {"tags": [str(t) for t in self.tags], "transient": self.transient}
        if self.keep_last is not None:
            shown_ |= {"keep_last": self.keep_last, "per": list(self.per)}
        if self.older_than is not None:
            shown_["older_than"] = self.older_than
        if self.superseded:
            shown_["superseded"] = True
        return shown_


@dataclass(frozen=True)
class Policy:
    name: str
    selection: Selection


class Candidate(NamedTuple):
    """One Data of the population, with what the choice needs."""

    knit_id: str
    timestamp: int
    size: int | None
    group: tuple[str | None, ...] = ()
    used: bool = False  # some Run (not a tombstone) has it as an input
    in_use: str | None = None  # why it must stay: an unfinished Run uses it, or it is being downloaded


@dataclass
class Choice:
    selected: list[Candidate] = field(default_factory=list)
    protected: list[Candidate] = field(default_factory=list)
    kept_newest: int = 0
    population: int = 0


def choose(candidates: Iterable[Candidate], selection: Selection, now_ms: int) -> Choice:
    """Apply the selection to the population (see the module's docstring)."""
    population = list(candidates)
    choice = Choice(population=len(population))
    kept: set[str] = set()
    if selection.keep_last is not None:
        groups: dict[tuple, list[Candidate]] = defaultdict(list)
        for candidate in population:
            groups[candidate.group].append(candidate)
        for members in groups.values():
            members.sort(key=lambda c: (c.timestamp, c.knit_id), reverse=True)
            kept.update(c.knit_id for c in members[: selection.keep_last])
        choice.kept_newest = len(kept)
    cutoff = now_ms - selection.older_than_ms if selection.older_than_ms is not None else None
    for candidate in population:
        if candidate.knit_id in kept:
            continue
        if cutoff is not None and candidate.timestamp >= cutoff:
            continue
        if selection.superseded and not (candidate.used and candidate.in_use is None):
            continue
        (choice.protected if candidate.in_use else choice.selected).append(candidate)
    return choice


def parse_policies(document: Any, *, source: str) -> list[Policy]:
    """Policies from a loaded YAML/JSON document: ``{policies: [...]}`` or a list, each a mapping of
    ``POLICY_KEYS``; errors name the source and the policy."""
    if document is None:
        return []
    items = document.get("policies") if isinstance(document, Mapping) else document
    if isinstance(document, Mapping) and set(document) - {"policies"}:
        raise InvalidInput(f"{source}: unknown key(s) {', '.join(map(shown, set(document) - {'policies'}))}")
    if not isinstance(items, list):
        raise InvalidInput(f"{source}: expected a list of policies (or 'policies:' holding one)")
    policies: list[Policy] = []
    for index, item in enumerate(items):
        where = f"{source}: policy {index + 1}"
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{where}: must be a mapping of {', '.join(POLICY_KEYS)}")
        unknown = set(item) - set(POLICY_KEYS)
        if unknown:
            raise InvalidInput(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}: needs a name")
        where = f"{source}: policy {name.strip()!r}"
        if any(p.name == name.strip() for p in policies):
            raise InvalidInput(f"{where}: two policies have this name")
        try:
            selection = Selection.parse(
                tags=_strings(item.get("tags", []), "tags"),
                transient=str(item.get("transient", "both")),
                keep_last=_count(item.get("keep_last")),
                per=_strings(item.get("per", []), "per"),
                older_than=None if item.get("older_than") is None else str(item["older_than"]),
                superseded=_flag(item.get("superseded", False)),
            )
        except InvalidInput as err:
            raise InvalidInput(f"{where}: {err}") from None
        policies.append(Policy(name.strip(), selection))
    return policies


def _strings(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"must be a list of strings, not {shown(value)}", field=field)
    return value


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"must be a whole number, not {shown(value)}", field="keep_last")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"must be true or false, not {shown(value)}", field="superseded")
    return value
