"""Tags that differ only slightly, for "did you mean": one missing or misspelled tag and nothing runs, silently.

Two tags are *similar* when, once case is folded and whitespace removed (``Mode: Training`` is ``mode:training``),
they are equal or one edit apart: one character inserted, deleted or replaced, or two neighbours swapped
(``trainig``, ``traning``, ``trianing``). The whole ``key:value`` text is compared, so a misspelled key is found
as well as a misspelled value.

Looking up many missing tags among one Data's few tags must be cheap (``knit explain`` checks every Plan input):
``SimilarIndex`` keys the Data's tags by their deletion variants (the folded text with one character removed, and
the text itself). Two texts one edit apart always share a variant, so a lookup is a handful of dict probes, and
the exact test confirms each candidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from knit_provider.core.tags import Tag


def fold(text: str) -> str:
    """Case folded, whitespace removed: what "differs only by case or spacing" compares."""
    return "".join(text.casefold().split())


def within_one_edit(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with at most one character inserted, deleted, replaced, or two neighbours swapped."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]


def similar(a: Tag, b: Tag) -> bool:
    """Different tags that are alike: equal but for case or spacing, or one edit apart."""
    return a != b and within_one_edit(fold(str(a)), fold(str(b)))


@lru_cache(maxsize=65_536)
def variants(tag: Tag) -> frozenset[str]:
    """The folded text of ``tag`` and each text one deletion away from it (cached: Plan input tags repeat)."""
    text = fold(str(tag))
    return frozenset({text, *(text[:i] + text[i + 1 :] for i in range(len(text)))})


class SimilarIndex:
    """The tags one Data carries, ready to answer "which of them is like this tag?" for many tags."""

    def __init__(self, tags: Iterable[Tag]) -> None:
        #: every variant of the indexed tags: a tag sharing none of them is like none of them
        self.keys: frozenset[str] = frozenset()
        self._by_variant: dict[str, set[Tag]] = {}
        for tag in tags:
            for variant in variants(tag):
                self._by_variant.setdefault(variant, set()).add(tag)
        self.keys = frozenset(self._by_variant)

    def like(self, wanted: Tag) -> list[Tag]:
        """The indexed tags similar to ``wanted`` (not ``wanted`` itself), sorted."""
        found: set[Tag] = set()
        for variant in variants(wanted):
            found |= self._by_variant.get(variant, set())
        return sorted(t for t in found if similar(wanted, t))
