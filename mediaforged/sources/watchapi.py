"""What a folder-watch backend gives the watcher, whichever backend it is.

Two backends implement it: ``inotifywatch`` (raw inotify through inotify_simple, on Linux)
and ``folderwatch`` (watchfiles' Rust core, elsewhere). Both watch an explicit list of
folders (``list_folders``) and answer ``changes()`` with a ``Batch`` of bytes paths.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from enum import IntEnum
from typing import NamedTuple, Protocol

from mediaforged.fs.fsio import IGNORE_MARKER

__all__ = ["STALL_S", "Batch", "Change", "FolderWatcher", "list_folders"]

# A wait that overran its timeout by this much did not run meanwhile (SIGSTOP, a suspend, a
# machine starved for CPU); a 2-core NAS under load overruns by tens of milliseconds.
STALL_S = 2.0


class Change(IntEnum):
    """What happened to a path (the values are watchfiles' ``Change``)."""

    ADDED = 1
    MODIFIED = 2
    DELETED = 3


class Batch(NamedTuple):
    """One wake-up of a watch: the changes seen, in order, and what they cannot tell."""

    changes: list[tuple[Change, bytes]]
    # Files closed after writing and not written since (IN_CLOSE_WRITE): a local write ended.
    closed: frozenset[bytes] = frozenset()
    # Files written and not closed since (IN_MODIFY): a writer still holds them open.
    writing: frozenset[bytes] = frozenset()
    overflowed: bool = False  # the kernel dropped events (IN_Q_OVERFLOW)
    # Seconds the wait overran its timeout: the process was stopped (SIGSTOP) or the machine
    # slept, and nobody read the kernel's queue meanwhile.
    stalled_s: float = 0.0
    events: int = 0  # raw events read (a burst near the kernel's queue size is suspect)


class FolderWatcher(Protocol):
    """The watches of one root."""

    undecodable: list[bytes]  # folders that cannot be watched (name not UTF-8)
    reports_overflow: bool  # True: an overflow is reported, not only suspected

    @property
    def folders(self) -> int: ...

    async def arm(self) -> None: ...

    async def add(self, new_folders: list[bytes]) -> list[bytes]: ...

    async def changes(self, debounce_ms: int, step_ms: int) -> Batch: ...

    async def close(self) -> None: ...


def list_folders(
    top: bytes, excluded: Callable[[bytes], object], utf8_only: bool = True
) -> tuple[list[bytes], list[bytes]]:
    """The folders to watch below ``top`` (itself included), and, with ``utf8_only``, those
    left out because their path is not valid UTF-8 (watchfiles takes str paths)."""
    watch: list[bytes] = []
    undecodable: list[bytes] = []
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        if utf8_only:
            try:
                folder.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.append(folder)  # and its subtree: every path below has this name
                continue
        try:
            st = os.lstat(folder)
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue  # gone or unreadable: the reconcile reports it
        if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        watch.append(folder)
        if any(e.name == IGNORE_MARKER for e in entries):
            continue  # watched (so that the marker's removal is seen), but not entered
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir and not excluded(entry.name):
                stack.append(entry.path)
    return watch, undecodable
