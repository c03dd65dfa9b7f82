"""How the REST lists answer: one page (``?limit=N[&cursor=C]``) or, without either, the whole list streamed.

- A page is a JSON array (the same items as the whole list), newest first, with its neighbours in headers:
  ``Link: <URL>; rel="next"`` (older items) and ``rel="prev"`` (newer items), RFC 8288, and the bare cursors in
  ``X-Next-Cursor`` / ``X-Prev-Cursor`` for clients that only want the token.
- Without ``limit`` and ``cursor`` the answer is Knitfab's: every match in Knitfab's order, as one JSON array. It is
  written as it is read (``service.*.find_iter``: batches from one snapshot), ``CHUNK`` bytes at a time through a
  bounded queue, so the api-server's memory stays flat however long the list and however slow the client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from knit_provider.api.rest.streams import started_writer
from knit_provider.core.paging import DEFAULT_LIMIT, MAX_LIMIT, Page

CHUNK = 64 * 1024

LimitQuery = Annotated[
    int | None,
    Query(description=f"a page of at most this many (1 to {MAX_LIMIT}), newest first; without it and `cursor`, "
          "the whole list in Knitfab's order, streamed"),
]  # fmt: skip
CursorQuery = Annotated[
    str | None,
    Query(description=f"the page after (or before) another: the `X-Next-Cursor` or `X-Prev-Cursor` a page "
          f"answered, or its `Link` header's URL (limit {DEFAULT_LIMIT} unless given)"),
]  # fmt: skip


def paged(limit: int | None, cursor: str | None) -> bool:
    """Whether the client asked for a page rather than the whole list."""
    return limit is not None or cursor is not None


def _encode(item: object) -> bytes:
    """As FastAPI's ``JSONResponse`` writes JSON (compact, UTF-8)."""
    return json.dumps(item, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def page_response(request: Request, page: Page) -> JSONResponse:
    links, headers = [], {}
    for rel, token, header in (("next", page.next, "X-Next-Cursor"), ("prev", page.prev, "X-Prev-Cursor")):
        if token is not None:
            links.append(f'<{request.url.include_query_params(cursor=token)}>; rel="{rel}"')
            headers[header] = token
    if links:
        headers["Link"] = ", ".join(links)
    return JSONResponse(page.items, headers=headers)


def write_array(items: Iterator[object], out: BinaryIO) -> None:
    """``items`` as one JSON array, written in chunks of about ``CHUNK`` bytes; the first chunk as soon as the
    first item is read (so a failure to read it can still be answered as an error)."""
    buffer = bytearray(b"[")
    for index, item in enumerate(items):
        if index:
            buffer += b","
        buffer += _encode(item)
        if index == 0 or len(buffer) >= CHUNK:
            out.write(bytes(buffer))
            buffer.clear()
    buffer += b"]"
    out.write(bytes(buffer))


def streamed_list(items: Iterator[object]) -> StreamingResponse:
    """The whole list as a JSON array, streamed. Reading is started here and its first item waited for: a
    failure before it is an error answer; a failure later cuts the response short (no valid array)."""
    return StreamingResponse(started_writer(lambda out: write_array(items, out)), media_type="application/json")
