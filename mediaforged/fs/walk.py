"""The walk of a root (or of the folders that changed), on directory descriptors.

Each folder is opened relative to its parent's descriptor with ``O_NOFOLLOW`` and listed
with ``os.scandir(fd)``, so a folder swapped for a symlink while the walk runs is seen as
the link it now is (and skipped), never as a way out of the root. Paths stay bytes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mediaforged.fs.safepath import (
    DirChain,
    FileProblem,
    lstat_under,
    open_dir_under,
    problem_from_oserror,
)

__all__ = ["IGNORE_MARKER", "WalkStats", "quick_folders", "walk_folders"]

IGNORE_MARKER = b".mediaforgeignore"
_MARKER_NAME = os.fsdecode(IGNORE_MARKER)  # scandir(fd) gives str names
_CHILD_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


class _Open:
    """A listed folder's descriptor, kept until the subfolders found in it are opened."""

    __slots__ = ("fd", "pending")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = 0

    def release(self) -> None:
        self.pending -= 1
        if self.pending <= 0 and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _open_top(root: bytes, top: bytes, stats: WalkStats) -> int | None:
    try:
        return open_dir_under(root, top)
    except FileProblem as problem:
        if problem.code == "symlink":
            stats.skipped_symlinks += 1
        elif problem.code != "not_directory":
            stats.unreadable_dirs.append(top)
            stats.errors.append((top, problem.message))
        return None


_Pending = tuple[bytes, "_Open | None", str, int]  # folder, parent, name, mtime_ns


class _Lister:
    """What one walk shares between the folders it lists."""

    def __init__(
        self,
        excluded: Callable[[bytes], object],
        stats: WalkStats,
        skip_dir: Callable[[bytes], bool] | None,
        top_key: tuple[int, int],
    ) -> None:
        self.excluded = excluded
        self.stats = stats
        self.skip_dir = skip_dir
        self.seen_dirs = {top_key}
        self.stack: list[_Pending] = []

    def list(self, folder: bytes, here: _Open) -> list[tuple[bytes, os.stat_result]] | None:
        """One folder's regular files; its subfolders go on the stack (None: unreadable)."""
        stats = self.stats
        try:
            with os.scandir(here.fd) as it:
                entries = list(it)
        except OSError as exc:
            stats.unreadable_dirs.append(folder)
            stats.errors.append((folder, problem_from_oserror(exc, folder).message))
            return None
        stats.listed.append(folder)
        if any(entry.name == _MARKER_NAME for entry in entries):
            stats.ignored_dirs.append(folder)
            return []
        files: list[tuple[bytes, os.stat_result]] = []
        prefix = folder + b"/"
        fsencode, excluded, skip_dir = os.fsencode, self.excluded, self.skip_dir
        S_ISREG, S_ISDIR, S_ISLNK = stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK
        for entry in entries:
            name = fsencode(entry.name)  # the raw bytes back (surrogateescape)
            if excluded(name):
                stats.excluded += 1
                continue
            try:
                st = entry.stat(follow_symlinks=False)  # fstatat on the folder's descriptor
            except OSError:
                continue  # vanished between listing and stat: nothing to catalog
            mode = st.st_mode
            if S_ISREG(mode):
                files.append((prefix + name, st))
            elif S_ISDIR(mode):
                key = (st.st_dev, st.st_ino)
                path = prefix + name
                if key not in self.seen_dirs and not (skip_dir is not None and skip_dir(path)):
                    self.seen_dirs.add(key)
                    here.pending += 1
                    self.stack.append((path, here, entry.name, st.st_mtime_ns))
            elif S_ISLNK(mode):
                stats.skipped_symlinks += 1
            else:
                stats.skipped_special += 1
        return files


def walk_folders(
    top: bytes,
    excluded: Callable[[bytes], object],
    stats: WalkStats,
    cancelled: Callable[[], bool] | None = None,
    *,
    root: bytes,
    dir_mtimes: dict[bytes, int] | None = None,
    skip_dir: Callable[[bytes], bool] | None = None,
) -> Iterator[list[tuple[bytes, os.stat_result]]]:
    """Yield, folder by folder, the (path, lstat) of every regular file below ``top``.

    ``top`` is reached from ``root`` without following a link, and so is every folder
    below it: a symlink loop or a link out of the root costs nothing; folders are also
    remembered by (dev, inode) so a bind-mount loop ends too.
    One list per folder keeps the per-file cost of a warm reconcile low (it is mostly
    this loop). A folder holding ``.mediaforgeignore`` is skipped with all it contains.
    ``dir_mtimes`` receives the mtime of every folder listed (taken before the listing,
    so a change during it shows next time); ``skip_dir`` leaves out known subfolders (the
    quick reconcile lists only what changed).
    """
    top_fd = _open_top(root, top, stats)
    if top_fd is None:
        return
    held: list[_Open] = [_Open(top_fd)]  # closed at the end, however the walk ends
    try:
        top_st = os.fstat(top_fd)
        lister = _Lister(excluded, stats, skip_dir, (top_st.st_dev, top_st.st_ino))
        stack = lister.stack
        stack.append((top, None, "", top_st.st_mtime_ns))
        while stack:
            if cancelled is not None and cancelled():
                return
            folder, parent, name, mtime_ns = stack.pop()
            here = held[0] if parent is None else _open_child(parent, name, folder, stats)
            if here is None:
                continue
            if parent is not None:
                held.append(here)
            stats.dirs += 1
            files = lister.list(folder, here)
            if files is not None and dir_mtimes is not None:
                dir_mtimes[folder] = mtime_ns
            if here.pending == 0:
                here.release()
            if files:
                stats.files += len(files)
                yield files
    finally:
        for opened in held:
            if opened.fd >= 0:
                os.close(opened.fd)
                opened.fd = -1


def _open_child(parent: _Open, name: str, folder: bytes, stats: WalkStats) -> _Open | None:
    try:
        fd = os.open(name, _CHILD_FLAGS, dir_fd=parent.fd)
    except OSError as exc:
        if _is_link(parent.fd, name):  # swapped for a link since it was listed
            stats.skipped_symlinks += 1
        else:
            stats.unreadable_dirs.append(folder)
            stats.errors.append((folder, problem_from_oserror(exc, folder).message))
        return None
    finally:
        parent.release()
    return _Open(fd)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _changed_folders(root: bytes, dir_mtimes: dict[bytes, int]) -> tuple[list[bytes], list[bytes]]:
    """The folders whose mtime moved since the last walk, and those that are gone (a folder
    now reached only through a symlink is gone: its files are no longer below the root)."""
    changed: list[bytes] = []
    gone: list[bytes] = []
    with DirChain() as chain:  # the folders come in walk order: parents stay open
        for folder, mtime_ns in dir_mtimes.items():
            try:
                st = lstat_under(root, folder, chain)
            except FileProblem:
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
    *,
    root: bytes,
) -> Iterator[list[tuple[bytes, os.stat_result]]]:
    """Like ``walk_folders``, but list only the folders whose mtime moved since the last
    walk, and walk whole the folders that are new. Adding, removing or renaming a file
    changes its folder's mtime; rewriting a file in place does not (the full reconcile
    catches that). Gone folders are dropped from ``dir_mtimes`` and put in ``stats``."""
    changed, gone = _changed_folders(root, dir_mtimes)
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
            root=root,
            dir_mtimes=dir_mtimes,
            skip_dir=dir_mtimes.__contains__,
        )
