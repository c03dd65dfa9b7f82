"""``knit data find`` / ``knit run find`` output, streamed: the JSON array is printed element by element, byte for
byte as ``emit`` prints a whole list, so 100,000 results cost the memory of one (and scripts see the same text).

``--limit N`` reads pages (newest first) until it has N; without it the whole list arrives as a stream (local: in
batches from one snapshot of the catalog; remote: parsed as the server's streamed answer arrives).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import click

from knit_provider.core.paging import MAX_LIMIT, Page

INDENT = "    "


def emit_stream(items: Iterator[object]) -> None:
    """Print ``items`` as ``emit(list(items))`` would, one element at a time. Nothing is printed before the first
    element (or the end) is known, so a command that fails at once prints no half array."""
    first = next(items, _END)
    if first is _END:
        click.echo("[]")
        return
    click.echo("[\n" + _element(first), nl=False)
    for item in items:
        click.echo(",\n" + _element(item), nl=False)
    click.echo("\n]")


_END = object()


def _element(item: object) -> str:
    return INDENT + json.dumps(item, indent=4, ensure_ascii=False).replace("\n", "\n" + INDENT)


def newest(find_page: Callable[..., Page], limit: int, **filters: object) -> Iterator[dict]:
    """Up to ``limit`` items, newest first, page after page (``MAX_LIMIT`` at a time)."""
    remaining, cursor = limit, None
    while remaining > 0:
        page = find_page(**filters, limit=min(remaining, MAX_LIMIT), cursor=cursor)
        yield from page.items[:remaining]
        remaining -= len(page.items)
        if page.next is None:
            return
        cursor = page.next
