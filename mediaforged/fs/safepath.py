"""Reaching a path below a root without following a link at any component.

Every folder on the way is opened relative to its parent's descriptor with
``O_NOFOLLOW | O_DIRECTORY``, starting from the root's own directory (the root's path is
the administrator's and is taken as it is). A symlink swapped in anywhere below the root,
even while a walk or a read is under way, makes the open fail instead of leading out of
the root: ``lstat`` on a path, by contrast, follows every link but the last.

``DirChain`` keeps the descriptors of the last folder reached, so a batch of files in one
folder costs one ``openat`` each, as a plain ``open`` would. These functions block.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Sequence
from types import TracebackType
from typing import BinaryIO

__all__ = [
    "FILE_FLAGS",
    "DirChain",
    "FileProblem",
    "display_path",
    "isdir_under",
    "lstat_under",
    "open_dir_under",
    "open_stream",
    "open_under",
    "problem_from_oserror",
    "relative_parts",
]

# No O_NOATIME: it fails with EPERM on files the daemon does not own (most of a library).
FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class FileProblem(Exception):
    """A per-file failure with a stable code; it is recorded on the item, never fatal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def display_path(path: bytes) -> str:
    """Readable text for a raw path; undecodable bytes show as \\xNN escapes."""
    return path.decode("utf-8", "backslashreplace")


def problem_from_oserror(exc: OSError, path: bytes) -> FileProblem:
    shown = display_path(path)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileProblem("vanished", f"{shown} vanished")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileProblem("permission_denied", f"permission denied reading {shown}")
    if exc.errno == errno.ELOOP:
        return FileProblem("not_regular", f"{shown} is a symlink; symlinks are not followed")
    return FileProblem("io_error", f"cannot read {shown}: {exc.strerror or exc}")


def relative_parts(root: bytes, path: bytes) -> list[bytes]:
    """The names from ``root`` down to ``path``; ``not_under_root`` for a path outside it or
    one with ``.``, ``..`` or an empty name (paths are compared as written, never resolved)."""
    if path == root:
        return []
    prefix = root.rstrip(b"/") + b"/"
    if not path.startswith(prefix):
        raise FileProblem(
            "not_under_root", f"{display_path(path)} is not inside {display_path(root)}"
        )
    parts = path[len(prefix) :].split(b"/")
    if any(p in (b"", b".", b"..") for p in parts):
        raise FileProblem(
            "not_under_root", f"{display_path(path)} is not a plain path below its root"
        )
    return parts


def _open_root(root: bytes) -> int:
    try:
        return os.open(root, _ROOT_FLAGS)
    except OSError as exc:
        raise problem_from_oserror(exc, root) from None


def _open_subdir(parent_fd: int, name: bytes, shown: bytes) -> int:
    """``name`` in the folder ``parent_fd`` as a directory, never through a link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise problem_from_oserror(exc, shown) from None
    try:  # why not a directory: only on failure, so it costs nothing on the way down
        mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
    except OSError as exc:
        raise problem_from_oserror(exc, shown) from None
    if stat.S_ISLNK(mode):
        raise FileProblem(
            "symlink", f"{display_path(shown)} is a symlink; symlinks are not followed"
        )
    raise FileProblem("not_directory", f"{display_path(shown)} is not a folder")


class DirChain:
    """Open descriptors of a root and the folders down to the one reached last."""

    def __init__(self) -> None:
        self._root: bytes | None = None
        self._parts: list[bytes] = []
        self._fds: list[int] = []  # the root's, then one per name in _parts

    def folder_fd(self, root: bytes, parts: Sequence[bytes]) -> int:
        """The descriptor of root/parts; valid until the next call or ``close``."""
        if root != self._root:
            self.close()
            self._fds = [_open_root(root)]
            self._root = root
        keep = 0
        limit = min(len(parts), len(self._parts))
        while keep < limit and self._parts[keep] == parts[keep]:
            keep += 1
        while len(self._parts) > keep:  # leave the folders not on the new way
            self._parts.pop()
            os.close(self._fds.pop())
        for name in parts[keep:]:
            shown = b"/".join([root, *self._parts, name])
            self._fds.append(_open_subdir(self._fds[-1], name, shown))
            self._parts.append(name)
        return self._fds[-1]

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._root, self._parts, self._fds = None, [], []

    def __enter__(self) -> DirChain:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_dir_under(root: bytes, path: bytes) -> int:
    """A new descriptor of the folder ``path`` (the caller closes it)."""
    with DirChain() as chain:
        return os.dup(chain.folder_fd(root, relative_parts(root, path)))


def lstat_under(root: bytes, path: bytes, chain: DirChain | None = None) -> os.stat_result:
    """``os.lstat(path)`` without following a link on the way: ``symlink`` if a folder on
    the way is one. The last name is not followed either (a link there is S_ISLNK)."""
    parts = relative_parts(root, path)
    if not parts:
        try:
            return os.stat(root)
        except OSError as exc:
            raise problem_from_oserror(exc, root) from None
    own = chain is None
    chain = chain or DirChain()
    try:
        parent = chain.folder_fd(root, parts[:-1])
        return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    except OSError as exc:
        raise problem_from_oserror(exc, path) from None
    finally:
        if own:
            chain.close()


def isdir_under(root: bytes, path: bytes) -> bool:
    """Whether ``path`` is a folder reached from ``root`` without a link."""
    try:
        return stat.S_ISDIR(lstat_under(root, path).st_mode)
    except FileProblem:
        return False


def open_under(root: bytes, path: bytes, chain: DirChain | None = None) -> int:
    """A descriptor of the regular file ``path`` (the caller closes it). FIFOs, devices and
    sockets are never read: ``O_NONBLOCK`` keeps a FIFO's open from waiting, and the fstat
    check refuses what is not a regular file."""
    parts = relative_parts(root, path)
    if not parts:
        raise FileProblem("not_regular", f"{display_path(path)} is a folder")
    own = chain is None
    chain = chain or DirChain()
    try:
        parent = chain.folder_fd(root, parts[:-1])
        fd = os.open(parts[-1], FILE_FLAGS, dir_fd=parent)
    except OSError as exc:
        raise problem_from_oserror(exc, path) from None
    finally:
        if own:
            chain.close()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileProblem("not_regular", f"{display_path(path)} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_stream(root: bytes, path: bytes) -> BinaryIO:
    """``open_under`` as a buffered binary file whose ``name`` is the path (mutagen and
    Pillow look at the name's extension)."""
    raw = io.FileIO(open_under(root, path), "rb", closefd=True)
    raw.name = os.fsdecode(path)
    return io.BufferedReader(raw)
