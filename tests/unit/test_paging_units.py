"""Cursors (opaque, strict, bound to their list) and the streamed JSON array of ``knit ... find`` (the same bytes
as printing the whole list at once)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from knit_provider.cli.listing import emit_stream
from knit_provider.core.errors import InvalidInput
from knit_provider.core.paging import Cursor, Key, check_limit, neighbours, parse_cursor

pytestmark = pytest.mark.scale


def test_a_cursor_round_trips_and_is_bound_to_its_kind() -> None:
    cursor = Cursor("data", "older", Key(1_700_000_000_123, "0b5c-ü"))
    token = cursor.encode()
    assert "=" not in token and "/" not in token and "+" not in token, "safe in a URL as is"
    assert parse_cursor(token, "data") == cursor
    assert parse_cursor(None, "data") is None and parse_cursor("", "data") is None
    for wrong in ("@@@", "bm9wZQ", "a" * 300, Cursor("run", "older", Key(1, "x")).encode()):
        with pytest.raises(InvalidInput, match="^cursor: not a cursor of the data list"):
            parse_cursor(wrong, "data")


def test_limits() -> None:
    assert check_limit(None) == 100 and check_limit("7") == 7 and check_limit(1000) == 1000
    for bad in (0, 1001, "x", "-1", True):
        with pytest.raises(InvalidInput, match="^limit: "):
            check_limit(bad)


def test_neighbours_of_first_middle_last_and_empty_pages() -> None:
    keys = [Key(3, "c"), Key(2, "b")]
    assert neighbours("data", keys, False, None) == (None, None)
    older, newer = neighbours("data", keys, True, None)
    assert parse_cursor(older, "data") == Cursor("data", "older", Key(2, "b")) and newer is None
    after = Cursor("data", "older", Key(4, "d"))
    older, newer = neighbours("data", keys, False, after)
    assert older is None and parse_cursor(newer, "data") == Cursor("data", "newer", Key(3, "c"))
    before = Cursor("data", "newer", Key(1, "a"))
    older, newer = neighbours("data", keys, False, before)
    assert parse_cursor(older, "data").key == Key(2, "b") and newer is None, "reached the newest"
    assert neighbours("data", [], False, after) == (None, Cursor("data", "newer", Key(4, "d")).encode())


@pytest.mark.parametrize("items", [[], [{"a": 1}], [{"k": 'ü\n"x"', "l": [1, {"m": None}]}, {}, [], "s", 3]])
def test_the_streamed_array_is_the_text_emit_prints(items: list) -> None:
    @click.command()
    def show() -> None:
        emit_stream(iter(items))

    printed = CliRunner().invoke(show).stdout
    assert printed == json.dumps(items, indent=4, ensure_ascii=False) + "\n"
