"""The comparison at the heart of a reconcile: a walk of the disk against a snapshot of the
catalog, in a thread, and what the walk tells about the paths it did not see.

An unchanged file costs one lstat and a dict lookup; new and changed files are handed to the
loop (and the indexer) in chunks; what is left in the snapshot after the walk was not seen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import NamedTuple

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.schema import media_items
from mediaforged.fs.fsio import WalkStats, display_path, under
from mediaforged.pipeline.indexer import Indexer, IndexRequest, MoveHint
from mediaforged.state import Job, RootState

__all__ = [
    "Found",
    "Known",
    "MoveSource",
    "Snapshot",
    "WalkDiff",
    "count_present",
    "excluded_path",
    "load_snapshot",
    "log_finished",
    "note_ignored",
    "unmounted",
    "vanished",
]

log = structlog.get_logger("mediaforged.reconcile")  # its lines are the reconcile's

_CHUNK = 512  # paths handed from the walker thread to the loop at a time


# NamedTuples: a million of them are built and compared in the walk, and a tuple is the
# cheapest record that still has field names.
class Known(NamedTuple):
    """What the catalog knows of a present item: the snapshot's value."""

    size: int
    mtime_ns: int
    dev: int
    inode: int
    item_id: int


class MoveSource(NamedTuple):
    """A catalogued item as a candidate source of a move, found by (dev, inode)."""

    path: bytes
    item_id: int
    size: int
    mtime_ns: int


class Found(NamedTuple):
    """A path the walk found new or changed, on its way to the indexer."""

    path: bytes
    st: os.stat_result
    hint: MoveHint | None
    new: bool  # not in the snapshot


# path -> what the catalog knows, for every present item below the reconciled path
Snapshot = dict[bytes, Known]


async def load_snapshot(engine: AsyncEngine, root: RootState, path: bytes) -> Snapshot:
    c = media_items.c
    stmt = select(c.path_key, c.size, c.mtime_ns, c.dev, c.inode, c.id).where(
        c.root_id == root.id, c.status == "present"
    )
    if path != root.key:
        low, high = under(path)
        stmt = stmt.where(c.path_key >= low, c.path_key < high)
    async with engine.connect() as conn:
        result = await conn.execute(stmt)
        return {r[0]: Known(r[1], r[2], r[3], r[4], r[5]) for r in result}


async def count_present(engine: AsyncEngine, root: RootState) -> int:
    c = media_items.c
    stmt = select(func.count()).where(c.root_id == root.id, c.status == "present")
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


class WalkDiff:
    """Walks in a thread and hands what changed to the indexer, with back-pressure."""

    def __init__(self, indexer: Indexer, stopping: threading.Event) -> None:
        self._indexer = indexer
        self._stopping = stopping

    def run(
        self,
        job: Job,
        snapshot: Snapshot,
        folders: Iterator[list[tuple[bytes, os.stat_result]]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """In a thread: walk, pop every seen path off the snapshot, hand changes to the loop.

        A new path whose (dev, inode, size, mtime) an item of this root had is a move
        candidate: the snapshot answers that without a catalog query per file.
        """
        pop = snapshot.pop
        force = job.full
        by_inode: dict[tuple[int, int], MoveSource] | None = None
        chunk: list[Found] = []
        for files in folders:
            job.walked += len(files)
            for path, st in files:
                known = pop(path, None)
                hint: MoveHint | None = None
                if known is not None:
                    if (
                        not force
                        and known.size == st.st_size
                        and known.mtime_ns == st.st_mtime_ns
                        and known.dev == st.st_dev
                        and known.inode == st.st_ino
                    ):
                        continue
                elif snapshot and not force:
                    if by_inode is None:  # built once, and only when something new turns up
                        by_inode = {
                            (k.dev, k.inode): MoveSource(p, k.item_id, k.size, k.mtime_ns)
                            for p, k in snapshot.items()
                        }
                    old = by_inode.get((st.st_dev, st.st_ino))
                    if (
                        old is not None
                        and old.size == st.st_size
                        and old.mtime_ns == st.st_mtime_ns
                    ):
                        hint = MoveHint(old.item_id, old.path, st.st_dev, st.st_ino)
                chunk.append(Found(path, st, hint, known is None))
                if len(chunk) >= _CHUNK:
                    if job.cancelled or not self._hand_over(job, chunk, loop):
                        return
                    chunk = []
        if chunk and not job.cancelled:
            self._hand_over(job, chunk, loop)

    def _hand_over(self, job: Job, chunk: list[Found], loop: asyncio.AbstractEventLoop) -> bool:
        future = asyncio.run_coroutine_threadsafe(self._enqueue(job, chunk), loop)
        while True:  # blocks while the index queue is full: back-pressure on the walk
            try:
                future.result(timeout=0.5)
                return True
            except FutureTimeout:
                if self._stopping.is_set():
                    future.cancel()
                    return False

    async def _enqueue(self, job: Job, chunk: list[Found]) -> None:
        job.queued += len(chunk)
        # The snapshot of a whole root holds every move source inside it; moves from another
        # root on the same file system, or into a subtree, are found in the catalog.
        inode_checked = job.path == job.root.key and not job.root.shares_device
        await self._indexer.put_many(
            [
                IndexRequest(
                    job.root,
                    f.path,
                    f.st,
                    job,
                    force=job.full,
                    prechecked=True,
                    inode_checked=inode_checked,
                    move_hint=f.hint,
                    new_path=f.new,
                )
                for f in chunk
            ]
        )


def excluded_path(job: Job) -> bool:
    """The job's one path is excluded by name or lies in a .mediaforgeignore folder."""
    root = job.root
    relative = job.path[len(root.key) + 1 :]
    if any(root.excluded(part) for part in relative.split(b"/")):
        return True
    return any(job.path.startswith(d + b"/") for d in root.ignored_dirs)


def note_ignored(root: RootState, stats: WalkStats) -> None:
    """Keep the set of .mediaforgeignore folders (the watcher drops events below them)."""
    for folder in stats.listed:
        root.ignored_dirs.discard(folder)
    for folder in stats.gone_dirs:
        root.ignored_dirs.discard(folder)
    if stats.ignored_dirs:
        root.ignored_dirs.update(stats.ignored_dirs)
        # Their subfolders are not walked: forget them, so the quick check skips them.
        prefixes = tuple(d + b"/" for d in stats.ignored_dirs)
        for folder in [d for d in root.dir_mtimes if d.startswith(prefixes)]:
            del root.dir_mtimes[folder]


def vanished(snapshot: Snapshot, stats: WalkStats, quick: bool) -> list[bytes]:
    """Catalogued paths the walk should have seen and did not (seen ones were popped off
    the snapshot). Items in folders that could not be listed are kept: we do not know."""
    skipped = tuple(under(d)[0] for d in stats.unreadable_dirs)
    if not quick:
        return [k for k in snapshot if not (skipped and k.startswith(skipped))]
    listed = set(stats.listed)
    below = tuple(d + b"/" for d in (*stats.gone_dirs, *stats.ignored_dirs))
    return [
        k
        for k in snapshot
        if (k.rpartition(b"/")[0] in listed or (below and k.startswith(below)))
        and not (skipped and k.startswith(skipped))
    ]


def unmounted(root: RootState, snapshot: Snapshot) -> str:
    """Why the root looks unmounted (empty or on its parent's device where files were), or "".
    Blocking: call it in a thread (through the root's FsGuard)."""
    if not snapshot:
        return ""
    try:
        st = os.stat(root.key)
        parent = os.stat(os.path.dirname(root.key.rstrip(b"/")) or b"/")
        with os.scandir(root.key) as it:
            empty = next(it, None) is None
    except OSError as exc:
        return f"{root.path} is not reachable: {exc.strerror}"
    if empty:
        return f"{root.path} is empty but {len(snapshot)} files are catalogued (unmounted?)"
    devices = {k.dev for k in snapshot.values()}
    if st.st_dev not in devices and st.st_dev == parent.st_dev:
        return (
            f"{root.path} is now on its parent's file system, not the one its "
            f"{len(snapshot)} catalogued files are on (unmounted?)"
        )
    return ""


def log_finished(job: Job, stats: WalkStats, quick: bool, duration: float) -> None:
    """The reconcile_finished log line, with what the walk saw and what it changed."""
    log.log(
        logging.DEBUG if quick and job.queued == 0 else logging.INFO,
        "reconcile_finished",
        root=str(job.root.path),
        path=display_path(job.path),
        kind=job.kind,
        quick=quick,
        dirs=stats.dirs,
        files_seen=stats.files,
        files_indexed=job.queued - job.gone,
        files_unchanged=stats.files - (job.queued - job.gone),
        files_failed=job.failed,
        missing=job.gone,
        skipped_special=stats.skipped_special,
        skipped_symlinks=stats.skipped_symlinks,
        excluded=stats.excluded,
        ignored_folders=len(stats.ignored_dirs),
        duration_s=round(duration, 3),
    )
