"""Settle: hold each changed path until its size and mtime stood still for the settle time.

A NAS copy over SMB can take minutes; indexing a file half written would hash bytes that
are about to change. What settles goes to the indexer; what vanished or is now a folder is
told to the writer (gone) or to the folder scans (a new folder, walked whole).

How long is "still" depends on what the watch saw (``Write``): a file closed after writing
(a local copy ended) needs only a short stillness; one still held open by its writer (an
SMB client pausing between chunks) waits up to ``HELD_OPEN_S``; and a file that changes
again soon after it was indexed waits twice as long each time, up to ``BACKOFF_MAX_S``
(as Baloo does), so a slow copy is hashed once or twice, not at every pause.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections import OrderedDict
from enum import Enum
from typing import NamedTuple, Protocol

from mediaforged.catalog.writer import CatalogWriter, Observation
from mediaforged.fs.guard import FsGuard, FsTimeout
from mediaforged.pipeline.indexer import Indexer, IndexRequest
from mediaforged.state import DaemonState, Job, JobKind, RootState

__all__ = ["BACKOFF_MAX_S", "CLOSED_STILL_S", "HELD_OPEN_S", "FolderScans", "Settler", "Write"]

CLOSED_STILL_S = 0.5  # closed after writing: still this long (an mtime set just after) is enough
HELD_OPEN_S = 60.0  # written and not closed: its writer may go on; index after this stillness
BACKOFF_MAX_S = 60.0  # the longest wait of a file that keeps changing after it was indexed
_RECENT_S = 60.0  # a change this soon after an index doubles the file's wait
_RECENT_MAX = 20_000  # files remembered for the backoff (the oldest are forgotten first)


class Write(Enum):
    """What the watch knows of a file's writer (only the raw inotify backend knows)."""

    UNKNOWN = "unknown"
    WRITING = "writing"  # IN_MODIFY, no IN_CLOSE_WRITE since
    CLOSED = "closed"  # IN_CLOSE_WRITE, not written since


class FolderScans(Protocol):
    """Who walks a folder the settler cannot judge path by path (the reconciler), and whose
    per-root guards bound every look at a root (a hung mount must not stall settling)."""

    def request(self, root: RootState, folder: bytes | None, reason: JobKind) -> Job: ...

    def fs(self, root: RootState) -> FsGuard: ...


class _Signature(NamedTuple):
    """What must stand still for a file to be settled."""

    size: int
    mtime_ns: int
    ino: int


class _Waiting(NamedTuple):
    """A path waiting to settle."""

    root: RootState
    added: bool  # a watch saw it created (a new folder is walked whole)
    seen: _Signature | None  # at the last check; None: not looked at yet
    since: float  # monotonic time it has looked like ``seen``
    write: Write = Write.UNKNOWN
    backoff: float = 0.0  # changed soon after its last index: wait at least this long


class Settler:
    """Paths waiting for their size and mtime to stand still; bounded (back-pressure)."""

    def __init__(
        self,
        state: DaemonState,
        indexer: Indexer,
        writer: CatalogWriter,
        reconciler: FolderScans,
        *,
        settle_seconds: float,
        limit: int,
    ) -> None:
        self._state = state
        self._indexer = indexer
        self._writer = writer
        self._reconciler = reconciler
        self.settle_seconds = settle_seconds  # a reload may change it
        self._limit = limit
        self._pending: dict[bytes, _Waiting] = {}
        # Recently indexed files: path -> (monotonic time of the index, the wait it had).
        self._recent: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, path: object) -> bool:  # `why`: is this path waiting to settle?
        return path in self._pending

    async def add(
        self, root: RootState, path: bytes, added: bool, write: Write = Write.UNKNOWN
    ) -> None:
        async with self._room:
            await self._room.wait_for(lambda: len(self._pending) < self._limit)
        now = time.monotonic()
        old = self._pending.get(path)
        if old is not None:
            backoff = old.backoff
            write = old.write if write is Write.UNKNOWN else write
        else:
            backoff = self._backoff(path, now)
        self._pending[path] = _Waiting(
            root, added or (old is not None and old.added), None, now, write, backoff
        )
        self._wake.set()

    def _backoff(self, path: bytes, now: float) -> float:
        recent = self._recent.get(path)
        if recent is None or now - recent[0] > _RECENT_S:
            return 0.0
        return min(max(recent[1], self.settle_seconds) * 2, BACKOFF_MAX_S)

    def _wait_for(self, entry: _Waiting) -> float:
        """How long ``entry`` must stand still before it is indexed."""
        if entry.write is Write.CLOSED:
            base = min(self.settle_seconds, CLOSED_STILL_S)
        elif entry.write is Write.WRITING:
            base = max(self.settle_seconds, HELD_OPEN_S)
        else:
            base = self.settle_seconds
        return max(base, entry.backoff)

    def _indexed(self, path: bytes, now: float, waited: float) -> None:
        self._recent.pop(path, None)
        self._recent[path] = (now, waited)
        while len(self._recent) > _RECENT_MAX:
            self._recent.popitem(last=False)
        while self._recent:
            oldest, (at, _waited) = next(iter(self._recent.items()))
            if now - at <= _RECENT_S:
                break
            del self._recent[oldest]

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await self._check()
            await asyncio.sleep(min(max(self.settle_seconds / 4, 0.05), CLOSED_STILL_S / 2))

    async def _check(self) -> None:
        paths, stats = await self._look()
        now = time.monotonic()
        for path, st in zip(paths, stats, strict=True):
            entry = self._pending.get(path)
            if entry is None:
                continue
            root, added, seen, since = entry[:4]
            if path == root.key:
                # The root itself was removed or replaced: the reconcile decides whether it is
                # offline; it never marks the whole library missing.
                del self._pending[path]
                self._reconciler.request(root, None, JobKind.WATCH_ROOT)
                continue
            if st is None or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                # Gone, or now a symlink, FIFO or device: whatever was catalogued here is missing.
                del self._pending[path]
                await self._writer.put(Observation("gone", root.id, path))
                continue
            if stat.S_ISDIR(st.st_mode):
                del self._pending[path]
                if added:
                    self._reconciler.request(root, path, JobKind.WATCH_DIR)
                continue
            signature = _Signature(st.st_size, st.st_mtime_ns, st.st_ino)
            wait = self._wait_for(entry)
            if signature != seen:
                self._pending[path] = entry._replace(seen=signature, since=now)
                if wait > 0:
                    continue
            elif now - since < wait:
                continue
            del self._pending[path]
            self._indexed(path, now, wait)
            await self._indexer.put(IndexRequest(root, path, st))
        async with self._room:
            self._room.notify_all()

    async def _look(self) -> tuple[list[bytes], list[os.stat_result | None]]:
        """The lstat of every waiting path, a root at a time through its guard; a root that
        hangs keeps its paths waiting (its reconcile reports it offline)."""
        by_root: dict[int, tuple[RootState, list[bytes]]] = {}
        for path, entry in self._pending.items():
            if not entry.root.paused:  # a paused root's paths wait here (bounded)
                by_root.setdefault(entry.root.id, (entry.root, []))[1].append(path)
        paths: list[bytes] = []
        stats: list[os.stat_result | None] = []
        for root, waiting in by_root.values():
            try:
                found = await self._reconciler.fs(root).call(_lstat_many, waiting)
            except FsTimeout:
                continue
            paths += waiting
            stats += found
        return paths, stats


def _lstat_many(paths: list[bytes]) -> list[os.stat_result | None]:
    out: list[os.stat_result | None] = []
    for path in paths:
        try:
            out.append(os.lstat(path))
        except OSError:
            out.append(None)
    return out
