"""inotify watches on an explicit list of folders, through watchfiles' Rust core: the backend
where the raw one (``inotifywatch``, Linux only) is not available.

watchfiles' recursive mode watches every folder below a root, excluded ones included: on a
Synology share every media folder has an ``@eaDir`` with a folder per file, which more than
doubles the watches and can hit the kernel's limit. So we list the folders ourselves
(skipping excluded names, symlinks and what is inside a ``.mediaforgeignore`` folder) and
watch each one non-recursively; new folders are added by re-arming. Listing and arming run
in a thread (20,000 folders took half a second, too long to block the event loop), and a
re-arm builds the new watch before the old one closes, so no event falls between them.
watchfiles hides a kernel queue overflow: the watcher can only suspect one (``stalled_s``,
a burst near the queue's size).

watchfiles has no public API for this: ``RustNotify`` is its documented but private core
(``watchfiles._rust_notify``), so pyproject pins watchfiles to the minor version this was
checked against, and tests/unit/test_watchfiles_contract.py checks what we rely on: the
constructor's arguments, ``watch()``'s arguments and answers, ``close()`` and the errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from watchfiles._rust_notify import RustNotify

from mediaforged.sources.watchapi import STALL_S, Batch, Change, list_folders

__all__ = ["FolderWatch"]

_TIMEOUT_MS = 2000  # how often the waiting thread comes back (and sees a stop)


def _arm(folders: Iterable[bytes]) -> tuple[RustNotify, set[bytes]]:
    # A folder removed since it was listed would fail the whole arm: keep those that exist.
    existing = {f for f in folders if os.path.isdir(f)}
    # ignore_permission_denied=False: with True, watchfiles also swallows the watch-limit
    # error (measured). Unreadable folders are not listed, so they are not in the list.
    return RustNotify([os.fsdecode(f) for f in existing], False, False, 0, False, False), existing


class FolderWatch:
    """The watches of one root; ``changes()`` waits for the next batch of events."""

    def __init__(self, root: bytes, excluded: Callable[[bytes], object]) -> None:
        self._root = root
        self._excluded = excluded
        self._folders: set[bytes] = set()
        self.undecodable: list[bytes] = []
        self.reports_overflow = False
        self._notify: RustNotify | None = None
        self._stop = threading.Event()
        self._waiting: asyncio.Future[Any] | None = None

    @property
    def folders(self) -> int:
        return len(self._folders)

    async def arm(self) -> None:
        folders, self.undecodable = await asyncio.to_thread(
            list_folders, self._root, self._excluded
        )
        self._notify, self._folders = await asyncio.to_thread(_arm, folders)

    async def add(self, new_folders: list[bytes]) -> list[bytes]:
        """Watch new folders (and every folder inside them); returns the folders added."""
        found: list[bytes] = []
        for folder in new_folders:
            listed, undecodable = await asyncio.to_thread(list_folders, folder, self._excluded)
            found += [f for f in listed if f not in self._folders]
            self.undecodable += undecodable
        if not found:
            return []
        fresh, armed = await asyncio.to_thread(_arm, self._folders | set(found))
        await self._close_current()  # only now: the new watches were armed first
        self._notify, self._folders = fresh, armed
        return found

    async def changes(self, debounce_ms: int, step_ms: int) -> Batch:
        """The next batch of changes, or an empty one after a stall; raises what watchfiles
        raises (a non-UTF-8 file name ends the watch with WatchfilesRustInternalError)."""
        while True:
            notify = self._notify
            assert notify is not None, "arm() first"
            waiting: asyncio.Future[Any] = asyncio.ensure_future(
                asyncio.to_thread(notify.watch, debounce_ms, step_ms, _TIMEOUT_MS, self._stop)
            )
            self._waiting = waiting
            began = time.clock_gettime(time.CLOCK_BOOTTIME)  # counts a suspend too
            result = await asyncio.shield(waiting)
            self._waiting = None
            # The wait never lasts much longer than its timeout, unless we did not run.
            overrun = time.clock_gettime(time.CLOCK_BOOTTIME) - began - _TIMEOUT_MS / 1000
            stalled = overrun - debounce_ms / 1000
            stalled = stalled if stalled > STALL_S else 0.0
            if isinstance(result, set):
                changes = [(Change(c), os.fsencode(p)) for c, p in result]
                return Batch(changes, stalled_s=stalled, events=len(changes))
            if result == "stop":
                raise asyncio.CancelledError
            if stalled:
                return Batch([], stalled_s=stalled)

    async def _close_current(self) -> None:
        if self._notify is None:
            return
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            # The thread is inside watch(): let it come back before closing under it.
            self._stop.set()
            with contextlib.suppress(BaseException):
                await waiting
            self._stop.clear()
        self._notify.close()
        self._notify = None

    async def close(self) -> None:
        self._stop.set()
        await self._close_current()
