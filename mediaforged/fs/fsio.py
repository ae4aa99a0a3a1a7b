"""Safe file-system access: the walk (``walk``) and the hashing, both on raw ``bytes`` paths.

Paths stay bytes end to end because names need not be UTF-8. Nothing here follows a
symlink at any component of a path (``safepath`` opens each folder on the way relative to
its parent's descriptor), and nothing opens a FIFO, socket or device: files are opened
with ``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat`` before a byte is read.
These functions block; callers run them in threads.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from mediaforged.fs.mediatype import SNIFF_BYTES, sniff_open
from mediaforged.fs.safepath import (
    FILE_FLAGS,
    DirChain,
    FileProblem,
    display_path,
    problem_from_oserror,
    relative_parts,
)
from mediaforged.fs.walk import IGNORE_MARKER, WalkStats, quick_folders, walk_folders

__all__ = [
    "IGNORE_MARKER",
    "FileProblem",
    "FileStat",
    "HashResult",
    "StatLike",
    "WalkStats",
    "display_path",
    "exclusion_matcher",
    "hash_file",
    "quick_folders",
    "under",
    "walk_folders",
]

READ_SIZE = 1 << 20  # 1 MiB reads: hashlib releases the GIL on large updates


class StatLike(Protocol):
    """The four fields the catalog keeps of a stat: os.stat_result and FileStat have them."""

    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...


class FileStat(NamedTuple):
    """A compact stat: what crosses the process boundary to and from the hash workers."""

    st_size: int
    st_mtime_ns: int
    st_dev: int
    st_ino: int

    @classmethod
    def of(cls, st: StatLike) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class HashResult:
    sha256: str
    mime_type: str
    media_type: str
    st: StatLike  # the file's fstat, identical before and after the read


def under(prefix: bytes) -> tuple[bytes, bytes]:
    """Bounds (low, high) such that low <= p < high holds for every path p inside prefix/."""
    return prefix + b"/", prefix + b"0"  # "0" is the byte after "/"


def exclusion_matcher(patterns: Iterable[str]) -> Callable[[bytes], object]:
    """One compiled regex for all glob patterns, matched against a raw file or folder name;
    the result is truthy for an excluded name (the bound ``match``: no wrapper per call)."""
    parts = [os.fsencode(fnmatch.translate(p)) for p in patterns]
    if not parts:
        return lambda _name: None
    return re.compile(b"|".join(b"(?:" + p + b")" for p in parts), re.DOTALL).match


_local = threading.local()


def _buffer() -> memoryview:
    """A read buffer per thread: allocating 1 MiB per file would cost more than the read."""
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(READ_SIZE))
    return view


def _same_file(a: StatLike, b: StatLike) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino, a.st_dev) == (
        b.st_size,
        b.st_mtime_ns,
        b.st_ino,
        b.st_dev,
    )


def hash_file(
    path: bytes,
    expected: StatLike | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_read: Callable[[int], None] | None = None,
    *,
    root: bytes,
    chain: DirChain | None = None,
) -> HashResult:
    """SHA-256 and content type of one regular file, or FileProblem saying why not.

    The file is reached from ``root`` without following a link (``safepath``); ``chain``
    lets a batch reuse the folder descriptors of the file before it.
    ``expected`` is the lstat the caller decided on: if the opened file is not that file
    any more, the caller's view is stale. A file that changes while it is read is reported
    as ``changed_during_read`` rather than stored with the hash of bytes that no longer exist.
    ``cancelled`` is polled between reads so that shutdown never waits on a huge file.
    """
    if chain is None:
        with DirChain() as own:
            return hash_file(path, expected, cancelled, on_read, root=root, chain=own)
    parts = relative_parts(root, path)
    if not parts:
        raise FileProblem("not_regular", f"{display_path(path)} is a folder")
    folder = chain.folder_fd(root, parts[:-1])
    try:
        fd = os.open(parts[-1], FILE_FLAGS, dir_fd=folder)
    except OSError as exc:
        raise problem_from_oserror(exc, path) from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise FileProblem("not_regular", f"{display_path(path)} is not a regular file")
        if expected is not None and not _same_file(before, expected):
            raise FileProblem("changed_during_read", f"{display_path(path)} changed before read")
        head = _digest(fd, before.st_size, digest := hashlib.sha256(), cancelled, on_read)
        after = os.fstat(fd)
        # Audio or video by the container's own stream headers, read while the file is open.
        mime_type, media_type = sniff_open(fd, head, os.path.basename(path))
    except OSError as exc:
        raise problem_from_oserror(exc, path) from None
    finally:
        os.close(fd)
    if not _same_file(before, after):
        raise FileProblem("changed_during_read", f"{display_path(path)} changed while read")
    try:
        now = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise problem_from_oserror(exc, path) from None
    if (now.st_dev, now.st_ino) != (after.st_dev, after.st_ino):
        # Deleted or replaced while it was read (an open file can still be read to the
        # end): these bytes are no longer at this path.
        raise FileProblem("vanished", f"{display_path(path)} was replaced or deleted while read")
    return HashResult(digest.hexdigest(), mime_type, media_type, FileStat.of(after))


def _digest(
    fd: int,
    size: int,
    digest: Any,
    cancelled: Callable[[], bool] | None,
    on_read: Callable[[int], None] | None,
) -> bytes:
    """Feed the file to ``digest``; its first bytes (for sniffing the type)."""
    head = b""
    if size <= READ_SIZE:
        # Small files (most of a library): one read, no buffer juggling.
        # Loop to EOF: network file systems may return short reads.
        data = os.read(fd, READ_SIZE + 1)
        head = data[:SNIFF_BYTES]
        while data:
            digest.update(data)
            if on_read is not None:
                on_read(len(data))
            data = os.read(fd, READ_SIZE + 1)
        return head
    view = _buffer()
    with open(fd, "rb", buffering=0, closefd=False) as stream:
        while True:
            n = stream.readinto(view)
            if not n:
                break
            if not head:
                head = bytes(view[: min(n, SNIFF_BYTES)])
            digest.update(view[:n])
            if on_read is not None:
                on_read(n)
            if cancelled is not None and cancelled():
                raise FileProblem("cancelled", "hashing was cancelled")
    return head
