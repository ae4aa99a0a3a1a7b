"""Raw inotify watches on an explicit list of folders (Linux), through inotify_simple.

Why not watchfiles here (measured, README "Watching"): a read of a file whose name is not
UTF-8 ends its watch, it hides a queue overflow, and it has no public API for a folder list.
The kernel's events are read as they are: names are bytes (inotify_simple decodes them with
``os.fsdecode``, which ``os.fsencode`` undoes exactly), ``IN_Q_OVERFLOW`` says events were
dropped, and the mask asks for no opens, reads or closes without writing, so a media server
reading the share (or our own hashing) wakes nobody.

One inotify instance per root, kept for the watch's life: a new folder gets its watch on the
same descriptor (no re-arm, nothing falls between two instances). The reading runs in a
thread (a storm of 50,000 files is parsed off the event loop), which a pipe wakes to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import threading
import time
from collections.abc import Callable, Iterable

from inotify_simple import INotify, flags

from mediaforged.sources.watchapi import STALL_S, Batch, Change, list_folders

__all__ = ["MASK", "InotifyWatch"]

MASK = (
    flags.CREATE
    | flags.DELETE
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.CLOSE_WRITE  # a local write ended: the file can be indexed at once
    | flags.MODIFY  # still being written (no close yet)
    | flags.ATTRIB  # touch, chmod, an mtime set after a copy
    | flags.DELETE_SELF
    | flags.MOVE_SELF
    | flags.ONLYDIR  # a folder replaced by a file since it was listed is not watched
    | flags.DONT_FOLLOW  # nor a folder replaced by a symlink
    | flags.EXCL_UNLINK  # no events from files already unlinked
)
_GONE = flags.DELETE | flags.MOVED_FROM
_NEW = flags.CREATE | flags.MOVED_TO
_SELF = flags.DELETE_SELF | flags.MOVE_SELF | flags.UNMOUNT
_POLL_MS = 1000  # a wait longer than this plus STALL_S means we were not running
_MAX_EVENTS = 100_000  # per batch: bounds the memory of one wake-up in a storm


class InotifyWatch:
    """The watches of one root; ``changes()`` waits for the next batch of events."""

    reports_overflow = True

    def __init__(self, root: bytes, excluded: Callable[[bytes], object]) -> None:
        self._root = root
        self._excluded = excluded
        self.undecodable: list[bytes] = []  # every name can be watched
        self._ino: INotify | None = None
        self._lock = threading.Lock()  # the maps, shared by the reading thread and add()
        self._wds: dict[int, bytes] = {}
        self._paths: dict[bytes, int] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._waiting: asyncio.Future[Batch | None] | None = None

    @property
    def folders(self) -> int:
        return len(self._paths)

    async def arm(self) -> None:
        folders, _ = await asyncio.to_thread(list_folders, self._root, self._excluded, False)
        self._ino = INotify()
        await asyncio.to_thread(self._watch, folders)
        if self._root not in self._paths:
            raise FileNotFoundError(f"{os.fsdecode(self._root)} cannot be watched")

    async def add(self, new_folders: list[bytes]) -> list[bytes]:
        """Watch new folders (and every folder inside them); returns the folders added."""
        found: list[bytes] = []
        for folder in new_folders:
            listed, _ = await asyncio.to_thread(list_folders, folder, self._excluded, False)
            found += [f for f in listed if f not in self._paths]
        return await asyncio.to_thread(self._watch, found) if found else []

    def _watch(self, folders: Iterable[bytes]) -> list[bytes]:
        assert self._ino is not None, "arm() first"
        added = []
        with self._lock:
            for folder in folders:
                try:
                    wd = self._ino.add_watch(folder, MASK)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:  # the watcher falls back to polling on it
                        raise OSError(exc.errno, "OS file watch limit reached") from exc
                    continue  # gone, replaced or unreadable since it was listed
                old = self._wds.get(wd)
                if old is not None and old != folder:  # a folder renamed: the inode's watch
                    self._paths.pop(old, None)
                self._wds[wd], self._paths[folder] = folder, wd
                added.append(folder)
        return added

    async def changes(self, debounce_ms: int, step_ms: int) -> Batch:
        """The next batch of changes (or an empty one after a stall); once the root itself
        was removed or moved (its DELETED was in the last batch), FileNotFoundError."""
        if self._root not in self._paths:
            raise FileNotFoundError(f"{os.fsdecode(self._root)} was removed or moved")
        waiting = asyncio.ensure_future(asyncio.to_thread(self._read, debounce_ms, step_ms))
        self._waiting = waiting
        batch = await asyncio.shield(waiting)  # cancelled: close() waits for the thread
        self._waiting = None
        if batch is None:
            raise asyncio.CancelledError
        return batch

    def _read(self, debounce_ms: int, step_ms: int) -> Batch | None:
        """In a thread: wait for events (None once stopped), then gather a debounced batch."""
        ino = self._ino
        assert ino is not None, "arm() first"
        poller = select.poll()
        poller.register(ino.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        stalled = 0.0
        while True:
            began = time.clock_gettime(time.CLOCK_BOOTTIME)  # counts a suspend too
            ready = {fd for fd, _ in poller.poll(_POLL_MS)}
            overrun = time.clock_gettime(time.CLOCK_BOOTTIME) - began - _POLL_MS / 1000
            if overrun > STALL_S:
                stalled = overrun
            if self._wake_r in ready:
                return None
            if ino.fileno() in ready:
                break
            if stalled:
                return Batch([], stalled_s=stalled)
        events = list(ino.read(timeout=0))
        deadline = time.monotonic() + debounce_ms / 1000
        while len(events) < _MAX_EVENTS and time.monotonic() < deadline:
            more = ino.read(timeout=step_ms)
            if not more:
                break
            events += more
        return self._batch(events, stalled)

    def _batch(self, events: list[tuple[int, int, int, str]], stalled: float) -> Batch:
        changes: dict[bytes, Change] = {}
        closed: set[bytes] = set()
        writing: set[bytes] = set()
        overflowed = False
        with self._lock:
            for wd, mask, _cookie, name in events:
                if mask & flags.Q_OVERFLOW:
                    overflowed = True
                    continue
                folder = self._wds.get(wd)
                if folder is None:
                    continue  # a watch already dropped
                if mask & (flags.IGNORED | _SELF):
                    if folder == self._root:  # the root itself went away or moved
                        changes[folder] = Change.DELETED
                    self._forget(folder)
                    continue
                path = folder + b"/" + os.fsencode(name) if name else folder
                before = changes.pop(path, None)  # re-inserted: the order is the last change's
                if mask & _GONE:
                    if mask & flags.ISDIR:
                        self._forget(path)  # its watch would keep reporting the old path
                    changes[path] = Change.DELETED
                    closed.discard(path)
                    writing.discard(path)
                elif mask & _NEW:
                    changes[path] = Change.ADDED
                else:
                    changes[path] = Change.ADDED if before is Change.ADDED else Change.MODIFIED
                    if mask & flags.CLOSE_WRITE:
                        closed.add(path)
                        writing.discard(path)
                    elif mask & flags.MODIFY:
                        writing.add(path)
                        closed.discard(path)
        return Batch(
            list((c, p) for p, c in changes.items()),
            frozenset(closed),
            frozenset(writing),
            overflowed,
            stalled,
            len(events),
        )

    def _forget(self, top: bytes) -> None:
        """Drop the watches of ``top`` and every folder below it (the lock is held)."""
        assert self._ino is not None
        below = top + b"/"
        for folder in [f for f in self._paths if f == top or f.startswith(below)]:
            wd = self._paths.pop(folder)
            self._wds.pop(wd, None)
            with contextlib.suppress(OSError):  # already gone with its folder
                self._ino.rm_watch(wd)

    async def close(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            with contextlib.suppress(BaseException):  # the thread comes back within a poll
                await waiting
        if self._ino is not None:
            self._ino.close()
            self._ino = None
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
