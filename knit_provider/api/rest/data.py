"""Data under ``/api/data``, at Knitfab's paths: find, upload (streamed tar), download (streamed tar.gz), tag.

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
from fastapi import BackgroundTasks, Header, Query, Request
from fastapi.responses import StreamingResponse

from knit_provider.api.rest.common import READ, TRIGGER, KnitDep, documented, resource_router
from knit_provider.api.rest.models import Data, TagChange, tag_texts
from knit_provider.api.rest.starting import start_new_runs
from knit_provider.api.rest.streams import BodyReader, from_writer
from knit_provider.core.errors import InvalidInput
from knit_provider.service import data as data_service

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
    knit: KnitDep,
    tag: TagsQuery = [],  # noqa: B006 - FastAPI copies defaults
    transient: Annotated[str, Query(description="both, yes (not finished done) or no (ready to use)")] = "both",
    since: Annotated[str | None, Query(description="RFC 3339: timestamped at or after")] = None,
    duration: Annotated[str | None, Query(description="with since: a window such as 2h or 30m")] = None,
) -> list[dict]:
    """``knit data find``: Data carrying all tags (system tags such as ``knit#id:ID`` allowed)."""
    return data_service.find(knit, tag, transient=transient, since=since, duration=duration)


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
    background: BackgroundTasks,
    knit: KnitDep,
    tag: TagsQuery = [],  # noqa: B006
    x_checksum_sha256: Annotated[str | None, Header(description="hex SHA-256 of the whole body")] = None,
    content_digest: Annotated[str | None, Header(description="RFC 9530, e.g. sha-256=:<base64>:")] = None,
) -> dict:
    """``knit data push``: the body is unpacked as it arrives; a path escaping the tree (``..``, absolute, a link
    out), a device or a checksum mismatch refuses the whole upload and nothing is kept. The new Data's Runs are
    created in the same transaction and their DagRuns started right after the response (else by the generator)."""
    body = BodyReader(request.stream())
    try:
        sha256 = expected_sha256(x_checksum_sha256, content_digest)
        pushed = await anyio.to_thread.run_sync(lambda: data_service.push_tar(knit, body, tag, sha256=sha256))
    except Exception:
        await body.drain()
        raise
    start_new_runs(request, background, knit)
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
    without its final chunk, so clients see an incomplete download, never a short valid one)."""
    await anyio.to_thread.run_sync(data_service.show, knit, knit_id)  # a missing Data is a 404, not a broken stream
    return StreamingResponse(
        from_writer(lambda out: data_service.export_tar(knit, knit_id, out)),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{knit_id}.tar.gz"'},
    )


@router.put("/{knit_id}", summary="Edit a Data's tags", **documented(Data), dependencies=TRIGGER)
def tag_data(knit_id: str, change: TagChange, knit: KnitDep, request: Request, background: BackgroundTasks) -> dict:
    """``knit data tag``: removals (tags, then keys) before additions, atomically; new matches create Runs."""
    tagged = data_service.tag(
        knit, knit_id, add=tag_texts(change.add), remove=tag_texts(change.remove), remove_keys=change.remove_key
    )
    start_new_runs(request, background, knit)
    return tagged
