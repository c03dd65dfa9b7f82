"""A directory tree read through file descriptors, so a checked path and a used path cannot disagree.

Opening ``root/sub/f`` by its path follows whatever ``sub`` is at that instant: a directory checked a moment ago
may have become a symlink to ``/etc``. Here the root is opened once, and every entry is opened relative to its
parent's descriptor, one component at a time, never following a symbolic link (``O_NOFOLLOW``), so what is read is
always what the walk saw, or the read fails. With ``follow_links`` (``knit data push -L``) links are followed on
purpose: their targets are read as regular files and directories, and a link leading back into one of its own
enclosing directories is refused as a loop.

A ``label`` (the source path as the user wrote it) turns failures of the source itself (an unreadable file, an
entry that vanished or changed kind while it was read) into one-line ``InvalidInput`` errors naming the path.
Without it (trees inside the store) ``OSError`` stays what it is.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from knit_provider.core.errors import InvalidInput
from knit_provider.storage.safety import check_file_type, check_link_target, check_member_name, refuse

Entry = tuple[str, str, str]  # (relative POSIX path, kind "d"/"f"/"l", symlink target or "")

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO swapped in cannot hang the open


class SourceTree:
    """The tree under ``root`` (itself may be a symlink to a directory); a context manager holding its descriptor."""

    def __init__(self, root: str | os.PathLike[str], *, label: str | None = None, follow_links: bool = False) -> None:
        self.label = label
        self.follow_links = follow_links
        self._nofollow = 0 if follow_links else os.O_NOFOLLOW
        self._cached: tuple[str, int] | None = None
        try:
            self._root_fd = os.open(root, _DIR)
        except OSError as err:
            if label is not None and err.errno in (errno.ENOTDIR, errno.ENOENT):
                raise InvalidInput(f"not a directory: {label}", field="source") from None
            raise self._failure("", err) from None

    # ---- descriptors -------------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def __enter__(self) -> SourceTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dir_fd(self, rel_dir: str) -> int:
        """The directory ``rel_dir`` (``""``: the root), opened component by component; the last one is cached,
        since a walk and a copy visit the entries of one directory together."""
        if not rel_dir:
            return self._root_fd
        if self._cached is not None and self._cached[0] == rel_dir:
            return self._cached[1]
        fd = os.dup(self._root_fd)
        done: list[str] = []
        try:
            for part in rel_dir.split("/"):
                done.append(part)
                child = os.open(part, _DIR | self._nofollow, dir_fd=fd)
                os.close(fd)
                fd = child
        except OSError as err:
            os.close(fd)
            raise self._failure("/".join(done), err) from None
        if self._cached is not None:
            os.close(self._cached[1])
        self._cached = (rel_dir, fd)
        return fd

    def _failure(self, rel: str, err: OSError) -> Exception:
        """``err`` while reading entry ``rel`` of the source, as the one-line error a user should see."""
        if self.label is None:
            return err
        where = os.path.join(self.label, rel) if rel else self.label
        if err.errno == errno.ENOENT:
            reason = f"{where} vanished while it was being pushed; nothing was kept"
        elif err.errno in (errno.ELOOP, errno.ENOTDIR) and not self.follow_links:
            reason = f"{where} became a symbolic link or changed kind while it was being pushed; nothing was kept"
        elif err.errno in (errno.EACCES, errno.EPERM):
            reason = f"cannot read {where}: permission denied"
        else:
            reason = f"cannot read {where}: {err.strerror or err}"
        return InvalidInput(reason, field="source")

    # ---- reading -----------------------------------------------------------------------------------------------

    def walk(self, *, validate: bool) -> list[Entry]:
        """Every entry under the root, each directory before its contents, children sorted by name.

        With ``validate`` each entry goes through the upload rules (names, types, link targets) and the first bad
        one raises; without it (trees already in the store) special files are skipped silently.
        """
        out: list[Entry] = []
        pending: list[tuple[str, frozenset[tuple[int, int]]]] = [("", frozenset([self._identity("")]))]
        while pending:
            rel_dir, enclosing = pending.pop()
            subdirs = []
            for name, mode, target, identity in self._children(rel_dir, check_readable=validate):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if validate:
                    check_member_name(rel)
                    kind = check_file_type(rel, mode)
                elif stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                    kind = check_file_type(rel, mode)
                else:
                    continue
                if validate and kind == "l":
                    check_link_target(rel, target)
                if kind == "d" and identity in enclosing:
                    raise refuse(rel, "symbolic link loop: it leads back to a directory that encloses it")
                out.append((rel, kind, target))
                if kind == "d":
                    subdirs.append((rel, enclosing | {identity}))
            pending.extend(reversed(subdirs))
        return out

    def _identity(self, rel_dir: str) -> tuple[int, int]:
        st = os.fstat(self._dir_fd(rel_dir))
        return (st.st_dev, st.st_ino)

    def _children(self, rel_dir: str, *, check_readable: bool) -> list[tuple[str, int, str, tuple[int, int]]]:
        """(name, mode, link target, (dev, inode)) of each entry of ``rel_dir``; links resolved when following.

        ``check_readable``: a regular file this process may not read is refused now, before anything is copied.
        """
        fd = self._dir_fd(rel_dir)
        found = []
        try:
            with os.scandir(fd) as it:
                names = sorted(entry.name for entry in it)
        except OSError as err:
            raise self._failure(rel_dir, err) from None
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                target = ""
                if stat.S_ISLNK(st.st_mode):
                    if self.follow_links:
                        st = self._follow(fd, name, rel)
                    else:
                        target = os.readlink(name, dir_fd=fd)
            except OSError as err:
                raise self._failure(rel, err) from None
            if check_readable and stat.S_ISREG(st.st_mode) and not os.access(name, os.R_OK, dir_fd=fd):
                raise self._failure(rel, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
            found.append((name, st.st_mode, target, (st.st_dev, st.st_ino)))
        return found

    def _follow(self, fd: int, name: str, rel: str) -> os.stat_result:
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=True)
        except FileNotFoundError:
            raise refuse(rel, f"symbolic link to {os.readlink(name, dir_fd=fd)!r}, which does not exist") from None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise refuse(rel, "symbolic link loop: it never resolves") from None
            raise

    def open_file(self, rel: str) -> BinaryIO:
        """The regular file ``rel`` for reading; refused if it is no longer one."""
        parent, _, name = rel.rpartition("/")
        fd_dir = self._dir_fd(parent)
        try:
            fd = os.open(name, _FILE | self._nofollow, dir_fd=fd_dir)
        except OSError as err:
            raise self._failure(rel, err) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise refuse(rel, "changed into a non-regular file while it was being read")
        return open(fd, "rb", buffering=0)

    def readlink(self, rel: str, expected: str) -> str:
        """The target of the symlink ``rel``, refused unless it is still ``expected`` (what the walk checked)."""
        parent, _, name = rel.rpartition("/")
        try:
            target = os.readlink(name, dir_fd=self._dir_fd(parent))
        except OSError as err:
            if err.errno == errno.EINVAL:  # no longer a symlink
                raise refuse(rel, "changed kind while it was being read") from None
            raise self._failure(rel, err) from None
        if target != expected:
            raise refuse(rel, f"symlink target changed to {target!r} while it was being read")
        return target

    def lstat(self, rel: str) -> os.stat_result:
        """``rel``'s own status (its target's when following links)."""
        if not rel:
            return os.fstat(self._root_fd)
        parent, _, name = rel.rpartition("/")
        try:
            return os.stat(name, dir_fd=self._dir_fd(parent), follow_symlinks=self.follow_links)
        except OSError as err:
            raise self._failure(rel, err) from None
