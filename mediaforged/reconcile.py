"""Reconcile a root (or a subtree) with the catalog: what changed on disk since we last looked.

The walk and the comparison run in a thread against a snapshot of the catalog, so an
unchanged file costs one lstat and a dict lookup; new and changed files go to the indexer,
catalogued files that were not seen are marked missing. Jobs run one at a time, in order.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.fsio import WalkStats, display_path, under, walk_folders
from mediaforged.indexer import Indexer, IndexRequest, MoveHint
from mediaforged.schema import media_items, roots
from mediaforged.state import DaemonState, Job, RootState
from mediaforged.writer import CatalogWriter, Observation

__all__ = ["Reconciler"]

log = structlog.get_logger("mediaforged.reconcile")

_CHUNK = 512  # paths handed from the walker thread to the loop at a time
# path -> (size, mtime_ns, dev, inode, item id) of every present item below the path
Snapshot = dict[bytes, tuple[int, int, int, int, int]]


class Reconciler:
    def __init__(
        self,
        engine: AsyncEngine,
        indexer: Indexer,
        writer: CatalogWriter,
        state: DaemonState,
        excluded: Callable[[bytes], object],
    ) -> None:
        self._engine = engine
        self._indexer = indexer
        self._writer = writer
        self._state = state
        self._excluded = excluded
        self._pending: asyncio.Queue[Job] = asyncio.Queue()
        self.stopping = threading.Event()
        self.current: Job | None = None

    def request(self, root: RootState, path: bytes | None, kind: str, full: bool = False) -> Job:
        """Queue a reconcile of ``path`` (default: the whole root); an identical queued job is
        reused, so a burst of requests costs one walk."""
        target = path or root.key
        for job in list(self._state.jobs.values()):
            if (
                not job.complete
                and job is not self.current
                and job.root is root
                and job.path == target
                and job.full == full
            ):
                return job
        job = Job(kind=kind, root=root, path=target, full=full)
        self._state.jobs[job.id] = job
        self._pending.put_nowait(job)
        return job

    @property
    def queued(self) -> int:
        return self._pending.qsize()

    async def run(self) -> None:
        while True:
            job = await self._pending.get()
            self.current = job
            try:
                await self._reconcile(job)
            except Exception as exc:  # a bug in one job must not end reconciling
                log.exception("reconcile_crashed", root=str(job.root.path))
                job.error = f"internal error: {exc}"
                job.queued = job.done
                job.finish_walk()
            finally:
                self.current = None
                self._forget_old_jobs()

    def _forget_old_jobs(self) -> None:
        finished = [j for j in self._state.jobs.values() if j.complete]
        for job in finished[:-10]:  # keep the last few for `status`
            del self._state.jobs[job.id]

    async def _load_snapshot(self, root: RootState, path: bytes) -> Snapshot:
        c = media_items.c
        stmt = select(c.path_key, c.size, c.mtime_ns, c.dev, c.inode, c.id).where(
            c.root_id == root.id, c.status == "present"
        )
        if path != root.key:
            low, high = under(path)
            stmt = stmt.where(c.path_key >= low, c.path_key < high)
        async with self._engine.connect() as conn:
            result = await conn.execute(stmt)
            return {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in result}

    async def _reconcile(self, job: Job) -> None:
        root = job.root
        began = time.monotonic()
        # In a thread: a hung network mount must not freeze the event loop.
        if not await asyncio.to_thread(os.path.isdir, root.key):
            root.online = False
            root.offline_reason = f"{root.path} is not reachable (missing or unmounted)"
            job.error = root.offline_reason
            log.warning("root_offline", root=str(root.path), reason=root.offline_reason)
            job.finish_walk()
            return
        if job.path != root.key and not await asyncio.to_thread(os.path.isdir, job.path):
            await self._reconcile_one(job)
            return

        log.info(
            "reconcile_started", root=str(root.path), path=display_path(job.path), kind=job.kind
        )
        stats = WalkStats()
        loop = asyncio.get_running_loop()
        # Load first, then walk: overlapping them was measured slower (the walker thread and
        # the loop fight over the GIL, and every hand-off waits out the switch interval).
        snapshot = await self._load_snapshot(root, job.path)
        catalogued = len(snapshot)
        await asyncio.to_thread(self._walk_and_diff, job, snapshot, stats, loop)
        if self.stopping.is_set():
            return

        for folder, message in stats.errors:
            self._state.record_error(display_path(folder), "unreadable_dir", message)
            log.warning(
                "unreadable_dir", path=display_path(folder), code="unreadable_dir", error=message
            )
        if job.path == root.key and stats.files == 0 and catalogued > 0:
            # An empty mount point where files were: an unmounted share, not a mass deletion.
            root.online = False
            root.offline_reason = f"{root.path} is empty but {catalogued} files are catalogued"
            job.error = root.offline_reason
            log.warning("root_offline", root=str(root.path), reason=root.offline_reason)
        else:
            root.online = True
            root.offline_reason = ""
            skipped = tuple(under(d)[0] for d in stats.unreadable_dirs)
            # Seen paths were popped off the snapshot: the rest vanished, unless they are in
            # a folder that could not be listed (we do not know, so we keep them).
            gone = [
                Observation("gone", root.id, key, job)
                for key in snapshot
                if not (skipped and key.startswith(skipped))
            ]
            job.queued += len(gone)
            for i in range(0, len(gone), 512):
                await self._writer.put_many(gone[i : i + 512])
        job.finish_walk()
        await job.wait()

        duration = time.monotonic() - began
        if job.path == root.key and root.online:
            root.last_reconcile_at = time.time()
            root.last_reconcile_s = duration
            root.last_reconcile_files = stats.files
            await self._writer.put(
                Observation("sql", root.id, root.key, sql=self._record_reconcile(root))
            )
        log.info(
            "reconcile_finished",
            root=str(root.path),
            path=display_path(job.path),
            kind=job.kind,
            files_seen=stats.files,
            files_indexed=job.queued - job.gone,
            files_unchanged=stats.files - (job.queued - job.gone),
            files_failed=job.failed,
            missing=job.gone,
            dirs=stats.dirs,
            skipped_special=stats.skipped_special,
            skipped_symlinks=stats.skipped_symlinks,
            excluded=stats.excluded,
            duration_s=round(duration, 3),
        )

    async def _reconcile_one(self, job: Job) -> None:
        """A rescan of one file, or of a folder that is no longer there."""
        try:
            st: os.stat_result | None = os.lstat(job.path)
        except OSError:
            st = None
        job.queued += 1
        if st is not None and stat.S_ISREG(st.st_mode) and not self._excluded_path(job):
            job.walked += 1
            await self._indexer.put(IndexRequest(job.root, job.path, st, job, force=job.full))
        else:
            await self._writer.put(Observation("gone", job.root.id, job.path, job))
        job.finish_walk()
        await job.wait()

    def _excluded_path(self, job: Job) -> bool:
        relative = job.path[len(job.root.key) + 1 :]
        return any(self._excluded(part) for part in relative.split(b"/"))

    @staticmethod
    def _record_reconcile(root: RootState) -> Callable[[AsyncConnection], Any]:
        async def apply(conn: AsyncConnection) -> None:
            await conn.execute(
                update(roots)
                .where(roots.c.id == root.id)
                .values(
                    last_reconcile_at=datetime.fromtimestamp(root.last_reconcile_at or 0, UTC),
                    last_reconcile_s=root.last_reconcile_s,
                    last_reconcile_files=root.last_reconcile_files,
                )
            )

        return apply

    def _walk_and_diff(
        self,
        job: Job,
        snapshot: Snapshot,
        stats: WalkStats,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """In a thread: walk, pop every seen path off the snapshot, hand changes to the loop.

        A new path whose (dev, inode, size, mtime) an item of this root had is a move
        candidate: the snapshot answers that without a catalog query per file.
        """
        pop = snapshot.pop
        force = job.full
        by_inode: dict[tuple[int, int], tuple[bytes, int, int, int]] | None = None
        chunk: list[tuple[bytes, os.stat_result, MoveHint | None, bool]] = []
        for files in walk_folders(job.path, self._excluded, stats, self.stopping.is_set):
            job.walked += len(files)
            for path, st in files:
                known = pop(path, None)
                hint: MoveHint | None = None
                if known is not None:
                    if (
                        not force
                        and known[0] == st.st_size
                        and known[1] == st.st_mtime_ns
                        and known[2] == st.st_dev
                        and known[3] == st.st_ino
                    ):
                        continue
                elif snapshot and not force:
                    if by_inode is None:  # built once, and only when something new turns up
                        by_inode = {
                            (v[2], v[3]): (p, v[4], v[0], v[1]) for p, v in snapshot.items()
                        }
                    old = by_inode.get((st.st_dev, st.st_ino))
                    if old is not None and old[2] == st.st_size and old[3] == st.st_mtime_ns:
                        hint = MoveHint(old[1], old[0], st.st_dev, st.st_ino)
                chunk.append((path, st, hint, known is None))
                if len(chunk) >= _CHUNK:
                    if not self._hand_over(job, chunk, loop):
                        return
                    chunk = []
        if chunk:
            self._hand_over(job, chunk, loop)

    def _hand_over(
        self,
        job: Job,
        chunk: list[tuple[bytes, os.stat_result, MoveHint | None, bool]],
        loop: asyncio.AbstractEventLoop,
    ) -> bool:
        future = asyncio.run_coroutine_threadsafe(self._enqueue(job, chunk), loop)
        while True:  # blocks while the index queue is full: back-pressure on the walk
            try:
                future.result(timeout=0.5)
                return True
            except FutureTimeout:
                if self.stopping.is_set():
                    future.cancel()
                    return False

    async def _enqueue(
        self, job: Job, chunk: list[tuple[bytes, os.stat_result, MoveHint | None, bool]]
    ) -> None:
        job.queued += len(chunk)
        # The snapshot of a whole root holds every move source inside it; moves from another
        # root on the same file system, or into a subtree, are found in the catalog.
        inode_checked = job.path == job.root.key and not job.root.shares_device
        await self._indexer.put_many(
            [
                IndexRequest(
                    job.root,
                    path,
                    st,
                    job,
                    force=job.full,
                    prechecked=True,
                    inode_checked=inode_checked,
                    move_hint=hint,
                    new_path=new,
                )
                for path, st, hint, new in chunk
            ]
        )
