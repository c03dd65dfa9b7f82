"""Data use cases: push (upload), find, show, tag, and reading content back out."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from knit_provider.catalog import data as catalog_data
from knit_provider.catalog import paging
from knit_provider.catalog import purge as catalog_purge
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.views import data_details
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.paging import Page, check_limit, neighbours, parse_cursor
from knit_provider.core.tags import KEY_NAME, Tag, parse_tag, parse_user_tags
from knit_provider.core.timefmt import now_ms, time_window
from knit_provider.service.context import Knit
from knit_provider.service.reading import reading
from knit_provider.storage import ContentInfo
from knit_provider.storage.tree import CHUNK

Progress = Callable[[int], None]
TRANSIENT_CHOICES = {"both": "both", "yes": "yes", "true": "yes", "no": "no", "false": "no", "purged": "purged"}


def _register(knit: Knit, knit_ids: Sequence[str], tags: Sequence[Sequence[Tag]], infos: Sequence[ContentInfo]) -> list:
    """Record content already in the store, all in one transaction (so several Data appear together and their
    Runs are projected together); on any failure remove the content, so no half Data remains."""
    try:
        with knit.write() as conn:
            created: list[str] = []
            for knit_id, data_tags, info in zip(knit_ids, tags, infos, strict=True):
                created += catalog_data.register_upload(
                    conn, knit_id, data_tags, checksum=info.checksum, size=info.size
                )[1]
    except BaseException:
        for knit_id in knit_ids:
            knit.store.delete(knit_id)
        raise
    knit.runs_waiting(created)
    with read_tx(knit.engine) as conn:
        return data_details(conn, list(knit_ids))


def _with_name(tags: list[Tag], name: str | None) -> list[Tag]:
    """``tags`` plus ``name:<name>`` (once), for ``push -n``."""
    if not name:
        return tags
    name_tag = Tag(KEY_NAME, name)
    return [t for t in tags if t != name_tag] + [name_tag]


def push_dir(
    knit: Knit,
    source: Path | str,
    tags: Sequence[str] = (),
    *,
    name: bool = False,
    follow_links: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Upload a directory as new Data (a done Run of ``knit#uploaded``); ``name`` adds ``name:<dirname>``."""
    return push_dirs(knit, [source], tags, name=name, follow_links=follow_links, progress=progress)[0]


def push_dirs(
    knit: Knit,
    sources: Sequence[Path | str],
    tags: Sequence[str] = (),
    *,
    name: bool = False,
    follow_links: bool = False,
    progress: Progress | None = None,
) -> list[dict]:
    """Upload directories as new Data, all or nothing (``knit data push DIR...``): every tree is checked before
    anything is copied, and a failure anywhere keeps none of them. ``follow_links`` (``-L``) stores what symbolic
    links point to instead of the links."""
    paths = [Path(s) for s in sources]
    user_tags = parse_user_tags(tags)
    for path in paths:
        if not path.is_dir():
            raise InvalidInput(f"not a directory: {path}", field="source")
    all_tags = [_with_name(user_tags, p.resolve().name if name else None) for p in paths]  # checked before copying
    knit_ids = [str(uuid.uuid4()) for _ in paths]
    infos = knit.store.import_dirs(paths, knit_ids, progress=progress, follow_links=follow_links)
    return _register(knit, knit_ids, all_tags, infos)


def push_tar(
    knit: Knit,
    stream: BinaryIO,
    tags: Sequence[str] = (),
    *,
    progress: Progress | None = None,
    sha256: str | None = None,
    max_bytes: int | None = None,
) -> dict:
    """Upload a (gzipped) tar stream as new Data; unsafe members are refused before anything is kept.

    With ``sha256`` (hex), the whole stream must hash to it (a transfer check for uploads over the network):
    on a mismatch the unpacked content is removed and no Data is registered. ``max_bytes`` (the REST API's
    ``[knit] max_upload_bytes``) bounds its unpacked size: past it, unpacking stops and nothing is kept.
    """
    user_tags = parse_user_tags(tags)
    knit_id = str(uuid.uuid4())
    infos = _checked(
        knit,
        stream,
        sha256,
        [knit_id],
        lambda body: [knit.store.import_tar(body, knit_id, progress=progress, max_bytes=max_bytes)],
    )
    return _register(knit, [knit_id], [user_tags], infos)[0]


def push_tar_parts(
    knit: Knit,
    stream: BinaryIO,
    tags: Sequence[str] = (),
    *,
    names: Sequence[str | None],
    progress: Progress | None = None,
    sha256: str | None = None,
    max_bytes: int | None = None,
) -> list[dict]:
    """Upload several Data in one tar stream, all or nothing: its directories ``0/`` to ``N-1/`` become N Data
    (N = ``len(names)``), each tagged with ``tags`` and, when ``names[i]`` is set, ``name:<names[i]>``;
    ``max_bytes`` bounds them together."""
    if not names:
        raise InvalidInput("a several-Data upload needs at least one part", field="name")
    user_tags = parse_user_tags(tags)
    knit_ids = [str(uuid.uuid4()) for _ in names]
    infos = _checked(
        knit,
        stream,
        sha256,
        knit_ids,
        lambda body: knit.store.import_tar_parts(body, knit_ids, progress=progress, max_bytes=max_bytes),
    )
    return _register(knit, knit_ids, [_with_name(user_tags, n) for n in names], infos)


def _checked(
    knit: Knit,
    stream: BinaryIO,
    sha256: str | None,
    knit_ids: Sequence[str],
    unpack: Callable[[BinaryIO], list[ContentInfo]],
) -> list[ContentInfo]:
    """``unpack(stream)``, then, with ``sha256``, the whole stream's digest checked (the content removed if wrong)."""
    hashing = _HashingReader(stream, _expected_sha256(sha256)) if sha256 is not None else None
    infos = unpack(hashing or stream)
    if hashing is not None:
        try:
            hashing.verify()
        except BaseException:
            for knit_id in knit_ids:
                knit.store.delete(knit_id)
            raise
    return infos


def _expected_sha256(text: str) -> str:
    digest = text.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidInput(f"not a hex SHA-256 digest: {text!r}", field="checksum")
    return digest


class _HashingReader:
    """Hashes what the archive reader consumes; ``verify`` reads the rest (bytes after the tar's end too)."""

    def __init__(self, raw: BinaryIO, expected: str) -> None:
        self._raw = raw
        self._expected = expected
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hash.update(data)
        return data

    def verify(self) -> None:
        while self.read(CHUNK):
            pass
        actual, expected = self._hash.hexdigest(), self._expected
        if actual != expected:
            raise InvalidInput(
                f"checksum mismatch: the upload's SHA-256 is {actual}, the client sent {expected}; nothing was kept",
                field="checksum",
            )


def show(knit: Knit, knit_id: str) -> dict:
    with read_tx(knit.engine) as conn:
        found = data_details(conn, [knit_id])
    if not found:
        raise NotFound(f"data not found: {knit_id}")
    return found[0]


def _data_query(tags: Sequence[str], transient: str, since: str | None, duration: str | None):
    """The arguments of ``knit data find`` checked (before anything is read), as ``conn -> DataSearch or None``."""
    if transient not in TRANSIENT_CHOICES:
        raise InvalidInput(f"unknown --transient value: {transient} (both, yes, no or purged)", field="transient")
    parsed = [parse_tag(t, field=f"tag[{i}]") for i, t in enumerate(tags)]
    since_ms, until_ms = time_window(since, duration)
    return lambda conn: catalog_data.data_query(
        conn, parsed, transient=TRANSIENT_CHOICES[transient], since_ms=since_ms, until_ms=until_ms
    )


def find_iter(
    knit: Knit,
    tags: Sequence[str] = (),
    *,
    transient: str = "both",
    since: str | None = None,
    duration: str | None = None,
) -> Iterator[dict]:
    """``knit data find`` as a stream: every match, oldest first (Knitfab's order), read in batches from one
    snapshot, so a list of 100,000 Data costs the memory of one batch. Bad arguments fail here, at the call;
    the catalog is read as the items are taken."""
    query_of = _data_query(tags, transient, since, duration)

    def stream() -> Iterator[dict]:
        with paging.snapshot_tx(knit.engine) as conn:
            search = query_of(conn)
            if search is None:
                return
            for ids in catalog_data.data_id_batches(conn, search):
                yield from data_details(conn, ids)

    return stream()


def find(
    knit: Knit,
    tags: Sequence[str] = (),
    *,
    transient: str = "both",
    since: str | None = None,
    duration: str | None = None,
) -> list[dict]:
    """Data carrying all ``tags`` (system tags allowed), filtered by transience and a time window, oldest first."""
    return list(find_iter(knit, tags, transient=transient, since=since, duration=duration))


def find_page(
    knit: Knit,
    tags: Sequence[str] = (),
    *,
    transient: str = "both",
    since: str | None = None,
    duration: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    count_up_to: int = 0,
) -> Page:
    """One page of ``find``'s matches, newest first (the REST API's and the pages' lists), from ``cursor`` on;
    with ``count_up_to``, the page also counts all matches up to that many."""
    query_of = _data_query(tags, transient, since, duration)
    size = check_limit(limit)
    position = parse_cursor(cursor, "data")
    with read_tx(knit.engine) as conn:
        search = query_of(conn)
        if search is None:
            return Page([], total=0 if count_up_to else None)
        keys, more = catalog_data.data_page_keys(conn, search, limit=size, cursor=position)
        items = data_details(conn, [k.ident for k in keys])
        total, capped = (None, False)
        if count_up_to:
            total, capped = paging.count_capped(conn, search.count_query, count_up_to)
    older, newer = neighbours("data", keys, more, position)
    return Page(items, next=older, prev=newer, total=total, total_capped=capped)


def tag(
    knit: Knit, knit_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), remove_keys: Sequence[str] = ()
) -> dict:
    """Edit user tags atomically: removals (tags, then keys) before additions; Runs may follow."""
    to_add = parse_user_tags(add, field="add")
    to_remove = parse_user_tags(remove, field="remove")
    keys = [k.strip() for k in remove_keys]
    with knit.write() as conn:
        created = catalog_data.edit_tags(conn, knit_id, add=to_add, remove=to_remove, remove_keys=keys)
    knit.runs_waiting(created)
    return show(knit, knit_id)


def export_tar(knit: Knit, knit_id: str, out: BinaryIO, *, progress: Progress | None = None) -> None:
    """Stream a Data's content as tar.gz (``knit data pull``); ``Gone`` once purged. Purge waits for it."""
    with reading(knit, knit_id):
        knit.store.export_tar(knit_id, out, progress=progress)


def extract(
    knit: Knit, knit_id: str, dest: Path | str, *, replace: bool = False, progress: Progress | None = None
) -> Path:
    """Copy a Data's content to ``DEST/<knit id>/`` (``knit data pull -x``); ``replace`` swaps an existing one."""
    with reading(knit, knit_id):
        return knit.store.extract_to(knit_id, Path(dest), replace=replace, progress=progress)


def content_size(knit: Knit, knit_id: str) -> int:
    """The bytes of a Data's files as recorded when it was committed (0 while a Run still writes it)."""
    with read_tx(knit.engine) as conn:
        size = catalog_data.recorded_size(conn, knit_id)
    return int(size or 0)


def purge(knit: Knit, knit_id: str) -> dict:
    """``knit data purge`` (Knitfab 2.0): delete a Data's bytes, keep its tags, Run and lineage.

    The catalog records it first (from then on the Data is ``knit#transient:purged``, never nominated, never
    served), then the bytes go; a crash between leaves bytes that ``knit admin doctor --fix`` (and the generator's
    sweep) or purging again removes. Refused, naming the blocker, while the Run that makes it or a Run that uses it
    has not finished, or while it is being downloaded. Purging a purged Data changes nothing.
    """
    with write_tx(knit.engine) as conn:
        catalog_purge.mark_purged(conn, knit_id, now_ms())
    knit.store.delete(knit_id)
    return show(knit, knit_id)
