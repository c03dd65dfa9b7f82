"""The pages' CSS, JS and icon, shipped in the package (no CDN): a fixed set, read once, served behind auth."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

STATIC = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

router = APIRouter()


@cache
def _files() -> dict[str, bytes]:
    """Only the files shipped beside this module: a name can never reach outside the folder."""
    return {p.name: p.read_bytes() for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES}


def version_of(name: str) -> str:
    """A short content hash, so a new release's CSS/JS is never served from a stale browser cache."""
    return hashlib.sha256(_files().get(name, b"")).hexdigest()[:12]


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    content = _files().get(name)
    if content is None:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return Response(
        content,
        media_type=MEDIA_TYPES[Path(name).suffix],
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
