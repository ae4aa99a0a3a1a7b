"""Settle: hold each changed path until its size and mtime stood still for the settle time.

A NAS copy over SMB can take minutes; indexing a file half written would hash bytes that
are about to change. What settles goes to the indexer; what vanished or is now a folder is
told to the writer (gone) or to the folder scans (a new folder, walked whole).
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from typing import NamedTuple, Protocol

from mediaforged.catalog.writer import CatalogWriter, Observation
from mediaforged.pipeline.indexer import Indexer, IndexRequest
from mediaforged.state import DaemonState, Job, JobKind, RootState

__all__ = ["FolderScans", "Settler"]


class FolderScans(Protocol):
    """Who walks a folder the settler cannot judge path by path (the reconciler)."""

    def request(self, root: RootState, folder: bytes | None, reason: JobKind) -> Job: ...


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
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, path: object) -> bool:  # `why`: is this path waiting to settle?
        return path in self._pending

    async def add(self, root: RootState, path: bytes, added: bool) -> None:
        async with self._room:
            await self._room.wait_for(lambda: len(self._pending) < self._limit)
        old = self._pending.get(path)
        self._pending[path] = _Waiting(
            root, added or (old is not None and old.added), None, time.monotonic()
        )
        self._wake.set()

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await self._check()
            await asyncio.sleep(min(max(self.settle_seconds / 4, 0.05), 0.5))

    async def _check(self) -> None:
        # A paused root's paths wait here (bounded) until it is resumed.
        paths = [p for p, entry in self._pending.items() if not entry.root.paused]
        stats = await asyncio.to_thread(_lstat_many, paths)
        now = time.monotonic()
        for path, st in zip(paths, stats, strict=True):
            entry = self._pending.get(path)
            if entry is None:
                continue
            root, added, seen, since = entry
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
            if signature != seen:
                self._pending[path] = _Waiting(root, added, signature, now)
                if self.settle_seconds > 0:
                    continue
            elif now - since < self.settle_seconds:
                continue
            del self._pending[path]
            await self._indexer.put(IndexRequest(root, path, st))
        async with self._room:
            self._room.notify_all()


def _lstat_many(paths: list[bytes]) -> list[os.stat_result | None]:
    out: list[os.stat_result | None] = []
    for path in paths:
        try:
            out.append(os.lstat(path))
        except OSError:
            out.append(None)
    return out
