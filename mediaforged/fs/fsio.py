"""Safe file-system access: the walk and the hashing, both on raw ``bytes`` paths.

Paths stay bytes end to end because names need not be UTF-8. Nothing here follows a
symlink, and nothing opens a FIFO, socket or device: files are opened with
``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat`` before a byte is read.
These functions block; callers run them in threads.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from mediaforged.fs.mediatype import SNIFF_BYTES, sniff

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
# No O_NOATIME: it fails with EPERM on files the daemon does not own (most of a library).
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class FileProblem(Exception):
    """A per-file failure with a stable code; it is recorded on the item, never fatal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


def display_path(path: bytes) -> str:
    """Readable text for a raw path; undecodable bytes show as \\xNN escapes."""
    return path.decode("utf-8", "backslashreplace")


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


def _problem_from_oserror(exc: OSError, path: bytes) -> FileProblem:
    shown = display_path(path)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileProblem("vanished", f"{shown} vanished")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileProblem("permission_denied", f"permission denied reading {shown}")
    if exc.errno == errno.ELOOP:
        return FileProblem("not_regular", f"{shown} is a symlink; symlinks are not followed")
    return FileProblem("io_error", f"cannot read {shown}: {exc.strerror or exc}")


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
) -> HashResult:
    """SHA-256 and content type of one regular file, or FileProblem saying why not.

    ``expected`` is the lstat the caller decided on: if the opened file is not that file
    any more, the caller's view is stale. A file that changes while it is read is reported
    as ``changed_during_read`` rather than stored with the hash of bytes that no longer exist.
    ``cancelled`` is polled between reads so that shutdown never waits on a huge file.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _problem_from_oserror(exc, path) from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise FileProblem("not_regular", f"{display_path(path)} is not a regular file")
        if expected is not None and not _same_file(before, expected):
            raise FileProblem("changed_during_read", f"{display_path(path)} changed before read")
        digest = hashlib.sha256()
        head = b""
        if before.st_size <= READ_SIZE:
            # Small files (most of a library): one read, no buffer juggling.
            # Loop to EOF: network file systems may return short reads.
            data = os.read(fd, READ_SIZE + 1)
            head = data[:SNIFF_BYTES]
            while data:
                digest.update(data)
                if on_read is not None:
                    on_read(len(data))
                data = os.read(fd, READ_SIZE + 1)
        else:
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
        after = os.fstat(fd)
    except OSError as exc:
        raise _problem_from_oserror(exc, path) from None
    finally:
        os.close(fd)
    if not _same_file(before, after):
        raise FileProblem("changed_during_read", f"{display_path(path)} changed while read")
    try:
        now = os.lstat(path)
    except OSError as exc:
        raise _problem_from_oserror(exc, path) from None
    if (now.st_dev, now.st_ino) != (after.st_dev, after.st_ino):
        # Deleted or replaced while it was read (an open file can still be read to the
        # end): these bytes are no longer at this path.
        raise FileProblem("vanished", f"{display_path(path)} was replaced or deleted while read")
    mime_type, media_type = sniff(head, os.path.basename(path))
    return HashResult(digest.hexdigest(), mime_type, media_type, FileStat.of(after))


@dataclass(slots=True)
class WalkStats:
    files: int = 0
    dirs: int = 0
    skipped_special: int = 0  # FIFOs, sockets, devices
    skipped_symlinks: int = 0
    excluded: int = 0
    # Folders that could not be listed: catalogued items inside them are not "missing".
    unreadable_dirs: list[bytes] = field(default_factory=list)
    errors: list[tuple[bytes, str]] = field(default_factory=list)
    listed: list[bytes] = field(default_factory=list)  # folders whose files were all seen
    ignored_dirs: list[bytes] = field(default_factory=list)  # holding .mediaforgeignore
    gone_dirs: list[bytes] = field(default_factory=list)  # known folders that vanished


IGNORE_MARKER = b".mediaforgeignore"


def walk_folders(
    top: bytes,
    excluded: Callable[[bytes], object],
    stats: WalkStats,
    cancelled: Callable[[], bool] | None = None,
    *,
    dir_mtimes: dict[bytes, int] | None = None,
    skip_dir: Callable[[bytes], bool] | None = None,
) -> Iterator[list[tuple[bytes, os.stat_result]]]:
    """Yield, folder by folder, the (path, lstat) of every regular file below ``top``.

    Symlinks are never followed, so a symlink loop or a link out of the root costs
    nothing; folders are also remembered by (dev, inode) so a bind-mount loop ends too.
    One list per folder keeps the per-file cost of a warm reconcile low (it is mostly
    this loop). A folder holding ``.mediaforgeignore`` is skipped with all it contains.
    ``dir_mtimes`` receives the mtime of every folder listed (taken before the listing,
    so a change during it shows next time); ``skip_dir`` leaves out known subfolders (the
    quick reconcile lists only what changed).
    """
    seen_dirs: set[tuple[int, int]] = set()
    try:
        top_st = os.lstat(top)
    except OSError as exc:
        stats.unreadable_dirs.append(top)
        stats.errors.append((top, _problem_from_oserror(exc, top).message))
        return
    if not stat.S_ISDIR(top_st.st_mode):
        return
    stack = [(top, top_st.st_mtime_ns)]
    seen_dirs.add((top_st.st_dev, top_st.st_ino))
    S_ISREG, S_ISDIR, S_ISLNK = stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK
    while stack:
        if cancelled is not None and cancelled():
            return
        folder, mtime_ns = stack.pop()
        stats.dirs += 1
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            stats.unreadable_dirs.append(folder)
            stats.errors.append((folder, _problem_from_oserror(exc, folder).message))
            continue
        stats.listed.append(folder)
        if dir_mtimes is not None:
            dir_mtimes[folder] = mtime_ns
        if any(entry.name == IGNORE_MARKER for entry in entries):
            stats.ignored_dirs.append(folder)
            continue
        files: list[tuple[bytes, os.stat_result]] = []
        for entry in entries:
            name: bytes = entry.name  # bytes in, bytes out
            if excluded(name):
                stats.excluded += 1
                continue
            path: bytes = entry.path
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat: nothing to catalog
            mode = st.st_mode
            if S_ISREG(mode):
                files.append((path, st))
            elif S_ISDIR(mode):
                key = (st.st_dev, st.st_ino)
                if key not in seen_dirs and not (skip_dir is not None and skip_dir(path)):
                    seen_dirs.add(key)
                    stack.append((path, st.st_mtime_ns))
            elif S_ISLNK(mode):
                stats.skipped_symlinks += 1
            else:
                stats.skipped_special += 1
        if files:
            stats.files += len(files)
            yield files


def _changed_folders(dir_mtimes: dict[bytes, int]) -> tuple[list[bytes], list[bytes]]:
    """The folders whose mtime moved since the last walk, and those that are gone."""
    changed: list[bytes] = []
    gone: list[bytes] = []
    for folder, mtime_ns in dir_mtimes.items():
        try:
            st = os.lstat(folder)
        except OSError:
            gone.append(folder)
            continue
        if not stat.S_ISDIR(st.st_mode):
            gone.append(folder)
        elif st.st_mtime_ns != mtime_ns:
            changed.append(folder)
    return changed, gone


def quick_folders(
    dir_mtimes: dict[bytes, int],
    excluded: Callable[[bytes], object],
    stats: WalkStats,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[list[tuple[bytes, os.stat_result]]]:
    """Like ``walk_folders``, but list only the folders whose mtime moved since the last
    walk, and walk whole the folders that are new. Adding, removing or renaming a file
    changes its folder's mtime; rewriting a file in place does not (the full reconcile
    catches that). Gone folders are dropped from ``dir_mtimes`` and put in ``stats``."""
    changed, gone = _changed_folders(dir_mtimes)
    for folder in gone:
        dir_mtimes.pop(folder, None)
    stats.gone_dirs.extend(gone)
    for folder in changed:
        if folder not in dir_mtimes:
            continue  # below a folder that vanished meanwhile
        # The folder itself (shallow) plus any subfolder it did not have before (whole).
        yield from walk_folders(
            folder,
            excluded,
            stats,
            cancelled,
            dir_mtimes=dir_mtimes,
            skip_dir=dir_mtimes.__contains__,
        )
