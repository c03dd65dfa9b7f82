"""Upload bodies for the API tests: tar archives built in memory, and crafted unsafe ones."""

from __future__ import annotations

import io
import tarfile

from knit_provider.service import Knit

#: the image the standalone's image map resolves to a ``sh -c`` build context
SH_IMAGE = "knit-api/sh:1.0"


def tar_bytes(files: dict[str, bytes | str], *, gz: bool = True) -> bytes:
    """A tar(.gz) of regular files (``name -> content``), built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as archive:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with(entries: list[tarfile.TarInfo]) -> bytes:
    """A tar.gz of crafted entries (links, odd names); regular ones get empty content."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info in entries:
            archive.addfile(info, io.BytesIO(b"") if info.isreg() else None)
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def stored_ids(knit: Knit) -> set[str]:
    """The Data directories in the store (staging excluded)."""
    return {p.name for p in knit.store.root.iterdir() if not p.name.startswith(".")}


UNSAFE_UPLOADS = {
    "dot-dot": [entry("ok.txt"), entry("../escape.txt")],
    "absolute": [entry("/etc/knit-escape")],
    "symlink out": [entry("link", tarfile.SYMTYPE, "../../outside")],
    "absolute symlink": [entry("link", tarfile.SYMTYPE, "/etc/passwd")],
    "hard link out": [entry("hard", tarfile.LNKTYPE, "/etc/passwd")],
    "device": [entry("dev", tarfile.CHRTYPE)],
}
