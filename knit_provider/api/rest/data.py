"""Data under ``/api/data``, at Knitfab's paths: find, upload (streamed tar), download (streamed tar.gz), tag,
purge (``DELETE``: Knitfab 2.0 has ``knit data purge``; its REST path was not found, so the resource's DELETE).

Beyond Knitfab: tags go with the upload (``?tag=K:V``, one transaction, so no untagged Data ever exists), the
upload's transfer check is a SHA-256 in a header sent before the body (``X-Checksum-Sha256: <hex>`` or RFC 9530
``Content-Digest: sha-256=:<base64>:``; ASGI servers drop request trailers, where Knitfab's client puts an MD5),
and ``/api/data/{id}/detail`` gives one Data's JSON (Knitfab's ``GET /api/data/{id}`` is the download).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

import anyio.to_thread
from fastapi import Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from knit_provider.api.knit import KnitDep
from knit_provider.api.rest.common import (
    DELETE_RUNS,
    READ,
    TRIGGER,
    DryRunQuery,
    UploadLimitDep,
    documented,
    resource_router,
)
from knit_provider.api.rest.listing import CursorQuery, LimitQuery, page_response, paged, streamed_list
from knit_provider.api.rest.models import Data, TagChange, tag_texts
from knit_provider.api.rest.streams import BodyReader, from_writer
from knit_provider.core.errors import InvalidInput
from knit_provider.service import data as data_service
from knit_provider.service import previews
from knit_provider.service.reading import check_readable

router = resource_router("/data", "data")

TagsQuery = Annotated[list[str], Query(description="A tag `key:value` (repeatable; all must match)")]
_DIGEST = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):", re.IGNORECASE)
UPLOAD_BODY = {
    "required": True,
    "description": "A tar archive of the Data's directory (plain, gzip, bzip2 or xz), streamed",
    "content": {
        media: {"schema": {"type": "string", "format": "binary"}} for media in ("application/gzip", "application/x-tar")
    },
}


@router.get("", summary="Find Data", **documented(list[Data]), dependencies=READ)
def find_data(
    request: Request,
    knit: KnitDep,
    tag: TagsQuery = [],  # noqa: B006 - FastAPI copies defaults
    transient: Annotated[
        str, Query(description="both, yes (processing, failed or purged), no (ready to use) or purged")
    ] = "both",
    since: Annotated[str | None, Query(description="RFC 3339: timestamped at or after")] = None,
    duration: Annotated[str | None, Query(description="with since: a window such as 2h or 30m")] = None,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """``knit data find``: Data carrying all tags (system tags such as ``knit#id:ID`` allowed). With ``limit``
    (and ``cursor``): one page, newest first, its neighbours in the ``Link`` header; without: every match,
    oldest first, streamed."""
    if paged(limit, cursor):
        page = data_service.find_page(
            knit, tag, transient=transient, since=since, duration=duration, limit=limit, cursor=cursor
        )
        return page_response(request, page)
    return streamed_list(data_service.find_iter(knit, tag, transient=transient, since=since, duration=duration))


def expected_sha256(x_checksum_sha256: str | None, content_digest: str | None) -> str | None:
    """The hex SHA-256 the client announced, from either header; both must agree when both are sent."""
    digests = []
    if x_checksum_sha256 is not None:
        digests.append(x_checksum_sha256.strip().lower())
    if content_digest is not None:
        found = _DIGEST.search(content_digest)
        if found is None:
            raise InvalidInput("Content-Digest carries no sha-256=:<base64>: entry", field="checksum")
        try:
            digests.append(base64.b64decode(found.group(1), validate=True).hex())
        except binascii.Error:
            raise InvalidInput("Content-Digest's sha-256 is not valid base64", field="checksum") from None
    if len(set(digests)) > 1:
        raise InvalidInput("X-Checksum-Sha256 and Content-Digest disagree", field="checksum")
    return digests[0] if digests else None


@router.post(
    "",
    summary="Upload Data (a streamed tar or tar.gz)",
    **documented(Data, "The new Data"),
    dependencies=TRIGGER,
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_data(
    request: Request,
    knit: KnitDep,
    max_bytes: UploadLimitDep,
    tag: TagsQuery = [],  # noqa: B006
    x_checksum_sha256: Annotated[str | None, Header(description="hex SHA-256 of the whole body")] = None,
    content_digest: Annotated[str | None, Header(description="RFC 9530, e.g. sha-256=:<base64>:")] = None,
    dry_run: DryRunQuery = False,
    name: Annotated[list[str], Query(description="with dry_run: one Data per name, tagged name:<value>")] = [],  # noqa: B006
) -> dict:
    """``knit data push``: the body is unpacked as it arrives; a path escaping the tree (``..``, absolute, a link
    out), a device, a checksum mismatch or an unpacked size past ``[knit] max_upload_bytes`` (413) refuses the
    whole upload and nothing is kept. The new Data's Runs are created in the same transaction and their DagRuns
    started a moment later by the api-server's starter thread (``api.starting``), else by the generator.

    ``dry_run=true`` (``knit data push --dry-run``): nothing is uploaded (the body is ignored); the report says
    which Runs Data with these tags (one per ``name``, each adding ``name:<value>``) would create."""
    body = BodyReader(request.stream())
    if dry_run:
        await body.drain()
        names = [n or None for n in name] or [None]
        return await anyio.to_thread.run_sync(lambda: previews.push(knit, tag, names=names))
    try:
        sha256 = expected_sha256(x_checksum_sha256, content_digest)
        pushed = await anyio.to_thread.run_sync(
            lambda: data_service.push_tar(knit, body, tag, sha256=sha256, max_bytes=max_bytes)
        )
    except Exception:
        await body.drain()
        raise
    return pushed


@router.post(
    "/batch",
    summary="Upload several Data at once, all or nothing (a streamed tar of directories 0/ .. N-1/)",
    **documented(list[Data], "The new Data, in part order"),
    dependencies=TRIGGER,
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_batch(
    request: Request,
    knit: KnitDep,
    max_bytes: UploadLimitDep,
    parts: Annotated[int, Query(ge=1, le=10_000, description="How many Data: the directories 0/ to parts-1/")],
    tag: TagsQuery = [],  # noqa: B006
    name: Annotated[list[str], Query(description="name:<value> for each part, in order (empty: none)")] = [],  # noqa: B006
    x_checksum_sha256: Annotated[str | None, Header(description="hex SHA-256 of the whole body")] = None,
    content_digest: Annotated[str | None, Header(description="RFC 9530, e.g. sha-256=:<base64>:")] = None,
) -> list[dict]:
    """``knit data push DIR1 DIR2...`` (beyond Knitfab): every part is checked as an upload of its own, and
    if any is refused, or the checksum differs, none is kept; all are registered in one transaction."""
    body = BodyReader(request.stream())
    try:
        if name and len(name) != parts:
            raise InvalidInput(f"{len(name)} names for {parts} parts (give one per part, or none)", field="name")
        names = [n or None for n in name] or [None] * parts
        sha256 = expected_sha256(x_checksum_sha256, content_digest)
        pushed = await anyio.to_thread.run_sync(
            lambda: data_service.push_tar_parts(knit, body, tag, names=names, sha256=sha256, max_bytes=max_bytes)
        )
    except Exception:
        await body.drain()
        raise
    return pushed


@router.get("/{knit_id}/detail", summary="One Data", **documented(Data), dependencies=READ)
def show_data(knit_id: str, knit: KnitDep) -> dict:
    """One Data's JSON (as ``knit data find -t knit#id:ID`` shows it)."""
    return data_service.show(knit, knit_id)


@router.get(
    "/{knit_id}",
    summary="Download a Data's content (tar.gz, streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}}},
    dependencies=READ,
)
async def download_data(knit_id: str, knit: KnitDep) -> StreamingResponse:
    """``knit data pull``: the tree as tar.gz, written as it is read (a transfer cut short ends the stream
    without its final chunk, so clients see an incomplete download, never a short valid one). A purged Data is
    a 410; ``knit data purge`` waits while a download is in progress."""
    # a missing Data is a 404 and a purged one a 410, not a broken stream
    await anyio.to_thread.run_sync(check_readable, knit, knit_id)
    return StreamingResponse(
        from_writer(lambda out: data_service.export_tar(knit, knit_id, out)),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{knit_id}.tar.gz"'},
    )


@router.put("/{knit_id}", summary="Edit a Data's tags", **documented(Data), dependencies=TRIGGER)
def tag_data(knit_id: str, change: TagChange, knit: KnitDep, dry_run: DryRunQuery = False) -> dict:
    """``knit data tag``: removals (tags, then keys) before additions, atomically; new matches create Runs.
    ``dry_run=true``: the tags, nominations and Runs it would make, nothing written."""
    if dry_run:
        return previews.tag(
            knit, knit_id, add=tag_texts(change.add), remove=tag_texts(change.remove), remove_keys=change.remove_key
        )
    return data_service.tag(
        knit, knit_id, add=tag_texts(change.add), remove=tag_texts(change.remove), remove_keys=change.remove_key
    )


@router.delete(
    "/{knit_id}", summary="Purge a Data's content (Knitfab 2.0)", **documented(Data), dependencies=DELETE_RUNS
)
def purge_data(knit_id: str, knit: KnitDep) -> dict:
    """``knit data purge``: the bytes are deleted; tags, Run and lineage stay, and the Data gets
    ``knit#transient:purged`` (never nominated or downloaded again; Runs that used it cannot be retried). Refused
    (409, naming the blocker) while the Run that makes it or a Run that uses it is unfinished, or while it is being
    downloaded. Purging a purged Data changes nothing. Access: DAG-run delete, as removing a Run."""
    return data_service.purge(knit, knit_id)
