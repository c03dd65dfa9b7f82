"""Rules that keep an upload inside its own directory.

Every entry of an upload (a directory walk or a tar stream) passes through these checks before it is written,
and the whole staged tree passes :func:`check_tree_links` before it becomes visible, so a Data can never name,
link to, or write through a path outside itself. Errors are :class:`InvalidInput` naming the offending entry.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Container, Iterable
from pathlib import Path

from knit_provider.core.errors import InvalidInput

ROOT = "."
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def refuse(entry: str, reason: str) -> InvalidInput:
    """The error for a refused entry; ``field`` names the entry so adapters can point at it."""
    return InvalidInput(reason, field=f"upload entry {entry!r}")


def _escapes(relpath: str) -> bool:
    """True when a lexically normalised relative path climbs above its root."""
    norm = posixpath.normpath(relpath)
    return norm == ".." or norm.startswith("../")


def check_member_name(name: str) -> str:
    """Return ``name`` as a normalised relative POSIX path, or refuse it.

    ``"."`` (what ``tar -C dir .`` writes for the top directory) is returned as ``"."``: the Data's root.
    Backslashes are kept as ordinary characters, but a name that would climb out or be absolute when they are
    read as separators (``..\\x``, ``\\etc``, ``C:\\x``) is refused too: such archives target Windows extractors.
    """
    if not isinstance(name, str) or name == "":
        raise refuse(str(name), "empty entry name")
    if "\0" in name:
        raise refuse(name, "entry name contains a NUL byte")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise refuse(name, "absolute entry names are not allowed (names must be relative to the upload)")
    if ".." in name.split("/"):
        raise refuse(name, "a '..' component would leave the upload directory")
    if ".." in re.split(r"[\\/]", name):
        raise refuse(name, "a '..' component (with '\\' as separator) would leave the upload directory")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts) if parts else ROOT


def check_link_target(member: str, target: str) -> None:
    """Allow a symlink only if ``target``, read from the link's own directory, stays inside the tree.

    This is the lexical rule; :func:`check_tree_links` adds the physical one (links through links) once the
    whole tree is staged.
    """
    if not target:
        raise refuse(member, "symlink with an empty target")
    if "\0" in target:
        raise refuse(member, "symlink target contains a NUL byte")
    if target.startswith(("/", "\\")) or _DRIVE.match(target):
        raise refuse(member, f"symlink to an absolute path {target!r} is not allowed")
    base = posixpath.dirname(member) if member != ROOT else ""
    for candidate in (target, target.replace("\\", "/")):
        if _escapes(posixpath.join(base, candidate)):
            raise refuse(member, f"symlink target {target!r} points outside the upload")


def check_hardlink_target(member: str, target: str, regular_files: Container[str]) -> str:
    """A tar hard link must name a regular file already extracted from the same archive; returns its name."""
    try:
        name = check_member_name(target)
    except InvalidInput:
        raise refuse(member, f"hard link to {target!r} points outside the upload") from None
    if name not in regular_files:
        raise refuse(member, f"hard link to {target!r}, which is not an earlier regular file of the upload")
    return name


def check_file_type(member: str, mode: int) -> str:
    """Classify an ``lstat`` mode as ``"d"``, ``"f"`` or ``"l"``; devices, FIFOs and sockets are refused."""
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISLNK(mode):
        return "l"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise refuse(member, "device files are not allowed")
    if stat.S_ISFIFO(mode):
        raise refuse(member, "FIFOs (named pipes) are not allowed")
    if stat.S_ISSOCK(mode):
        raise refuse(member, "sockets are not allowed")
    raise refuse(member, "unsupported file type")


def check_tree_links(root: Path, links: Iterable[str] | None = None) -> None:
    """Refuse any symlink under ``root`` whose physical resolution leaves ``root``.

    The lexical rule misses chains such as ``x -> .`` plus ``l -> x/..``: each stays inside on paper, but the
    kernel resolves ``x/..`` to the parent of the tree. ``realpath`` follows the chain as the kernel would.
    ``links`` (relative paths of the symlinks) spares a walk when the caller already has one.
    """
    real_root = os.path.realpath(root)
    if links is None:
        links = [
            os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            for dirpath, dirnames, filenames in os.walk(root)
            for name in dirnames + filenames
            if os.path.islink(os.path.join(dirpath, name))
        ]
    for rel in links:
        full = os.path.join(root, rel)
        resolved = os.path.realpath(full)
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            raise refuse(rel, f"symlink target {os.readlink(full)!r} resolves outside the upload")
