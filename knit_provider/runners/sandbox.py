"""The bubblewrap command line for one Run, and host-side look-ups of paths inside it.

The sandbox root is bwrap's own (a fresh tmpfs, thrown away with the sandbox), never ``--bind / /``: the host's
system directories and the Python environment are bound read-only at their own paths, the image's COPY'd files
read-only at their destinations, the Run's inputs read-only and outputs writable. Nothing else of the host is
writable. A destination inside a read-only system directory that does not exist there (``COPY x /usr/local/bin/``)
gets the directory "shadowed": a tmpfs over it with its entries bound back, then made read-only again.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knit_provider.runners.base import Mount
from knit_provider.runners.dockerfile import ContextFiles

__all__ = ["SYSTEM_DIRS", "Sandbox", "build_sandbox", "python_dirs"]

SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _under(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


def _depth(path: str) -> int:
    return path.rstrip("/").count("/")


def python_dirs() -> list[str]:
    """The interpreter running us and its environment (venv, base install), so ``python`` in the sandbox is ours
    with the project's packages."""
    executable = sys.executable or ""
    raw = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(executable)) if executable else ""]
    if executable:
        raw.append(os.path.dirname(os.path.realpath(executable)))
    return list(dict.fromkeys(p for r in raw if r for p in (os.path.abspath(r), os.path.realpath(r))))


@dataclass
class Sandbox:
    """bwrap's options (everything before the program) and the sandbox -> host path table behind them."""

    args: list[str] = field(default_factory=list)
    table: list[tuple[str, str]] = field(default_factory=list)  # (sandbox prefix, host prefix), later wins

    def host_path(self, path: str) -> Path | None:
        """Where a sandbox path lives on the host, or None (bwrap's tmpfs root, /proc, /dev, /tmp)."""
        path = posixpath.normpath(path)
        best: tuple[int, str] | None = None
        for inner, outer in self.table:
            if _under(path, inner) and (best is None or len(inner) >= best[0]):
                best = (len(inner), outer + path[len(inner) :] if inner != "/" else outer + path)
        return Path(best[1]) if best else None


class _Builder:
    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.identity: list[str] = []  # read-only binds of a host directory at its own path

    def add(self, *args: str) -> None:
        self.sandbox.args.extend(args)

    def bind(self, source: str, dest: str, *, read_only: bool = True) -> None:
        self.add("--ro-bind" if read_only else "--bind", source, dest)
        self.sandbox.table.append((dest, source))

    def system(self, dirs: Iterable[str], extra: Iterable[str]) -> None:
        dirs = list(dirs)
        real = [d for d in dirs if os.path.isdir(d) and not os.path.islink(d)]
        for d in real:
            self.bind(d, d)
            self.identity.append(d)
        for d in dirs:  # merged /usr: /bin -> usr/bin stays a symlink when its target is bound already
            if not os.path.islink(d):
                continue
            target = os.path.realpath(d)
            if any(_under(target, r) for r in self.identity):
                self.add("--symlink", os.readlink(d), d)
                self.sandbox.table.append((d, d))
            elif os.path.isdir(target):
                self.bind(target, d)
        for d in sorted(extra, key=_depth):
            if os.path.isdir(d) and not any(_under(d, r) for r in self.identity):
                self.bind(d, d)
                self.identity.append(d)

    def canonical(self, path: str) -> tuple[str, bool]:
        """(path with the host's symlinks resolved where it exists, whether it exists inside an identity bind)."""
        existing = path
        while existing != "/" and not os.path.lexists(existing):
            existing = posixpath.dirname(existing)
        resolved = os.path.realpath(existing)
        full = posixpath.normpath(resolved + path[len(existing) :]) if existing != "/" else path
        inside = any(_under(resolved, r) for r in self.identity)
        return full, inside and existing == path

    def shadow_for(self, path: str) -> str | None:
        """The read-only directory to shadow so ``path`` (absent there) can be created, if any."""
        full, exists = self.canonical(path)
        if exists or not any(_under(full, r) for r in self.identity):
            return None
        parent = posixpath.dirname(full)
        while not os.path.isdir(parent):
            parent = posixpath.dirname(parent)
        return parent

    def shadow(self, directory: str) -> None:
        self.add("--tmpfs", directory)
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                inner = posixpath.join(directory, entry.name)
                if entry.is_symlink():
                    self.add("--symlink", os.readlink(inner), inner)
                else:
                    self.add("--ro-bind-try", inner, inner)


def build_sandbox(
    *,
    files: ContextFiles,
    mounts: Sequence[Mount],
    workdir: str,
    system_dirs: Iterable[str] = SYSTEM_DIRS,
    extra_dirs: Iterable[str] | None = None,
) -> Sandbox:
    """The sandbox for one Run: root, interpreter, COPY'd files, the Run's mounts, in that order (later on top)."""
    b = _Builder()
    # the private /tmp first: an interpreter that lives under the host's /tmp (a venv in a fresh clone) is bound
    # on top of it below, instead of being hidden by it
    b.add("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")
    b.system(system_dirs, python_dirs() if extra_dirs is None else extra_dirs)

    binds: list[tuple[str, str, bool, bool]] = []  # (host source, sandbox dest, read only, keep a symlink)
    for copy in files.copies:
        if not copy.contents:
            binds.append((str(copy.source), copy.dest, True, False))
            continue
        b.sandbox.table.append((copy.dest, str(copy.source)))
        with os.scandir(copy.source) as entries:  # entry by entry: the directory itself stays writable, as in Docker
            for entry in sorted(entries, key=lambda e: e.name):
                binds.append((entry.path, posixpath.join(copy.dest, entry.name), True, True))
    binds.extend((str(m.source), posixpath.normpath(m.target), m.read_only, False) for m in mounts)

    wanted_dirs = [workdir or "/", *files.dirs]
    for _, dest, _, _ in binds:
        parent = posixpath.dirname(dest)
        while parent != "/":
            wanted_dirs.append(parent)
            parent = posixpath.dirname(parent)
    shadows: set[str] = set()
    for path in [*wanted_dirs, *(dest for _, dest, _, _ in binds)]:
        if (shadow := b.shadow_for(path)) is not None:
            shadows.add(shadow)
    for directory in sorted(shadows, key=_depth):
        b.shadow(directory)
    for directory in sorted(set(wanted_dirs), key=_depth):  # 0755, where bwrap would make parents 0700
        full, exists = b.canonical(directory)
        if full != "/" and not exists and not any(_under(full, d) for d in ("/tmp", "/proc", "/dev")):
            b.add("--perms", "0755", "--dir", full)
    for source, dest, read_only, keep_link in binds:
        if keep_link and os.path.islink(source):
            b.add("--symlink", os.readlink(source), dest)  # a symlink in a COPY'd directory stays a symlink
            continue
        b.bind(source, b.canonical(dest)[0] if b.shadow_for(dest) else dest, read_only=read_only)
    for directory in sorted(shadows, key=_depth, reverse=True):
        b.add("--remount-ro", directory)
    return b.sandbox


def find_program(
    sandbox: Sandbox, program: str, path_env: str, workdir: str
) -> tuple[str | None, Path | None, list[str]]:
    """Look ``program`` up as execvp would inside the sandbox, on the host side of its binds.

    Returns (sandbox path, host path, candidates looked at); the host path is None when not found, and the sandbox
    path is set but not executable when a candidate exists without the execute bit.
    """
    cwd = workdir or "/"
    if "/" in program:
        candidates = [posixpath.normpath(posixpath.join(cwd, program))]
    else:
        candidates = [posixpath.normpath(posixpath.join(cwd, d or ".", program)) for d in path_env.split(":")]
    not_executable: str | None = None
    for candidate in candidates:
        host = sandbox.host_path(candidate)
        if host is None:
            continue
        with contextlib.suppress(OSError):
            if host.is_file():
                if os.access(host, os.X_OK):
                    return candidate, host, candidates
                not_executable = not_executable or candidate
    return not_executable, None, candidates
