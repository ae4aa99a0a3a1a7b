"""Reconcile a root (or a subtree) with the catalog: what changed on disk since we last looked.

The walk and the comparison run in a thread against a snapshot of the catalog, so an
unchanged file costs one lstat and a dict lookup; new and changed files go to the indexer,
catalogued files that were not seen are marked missing. Jobs run one at a time, in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import media_items, roots
from mediaforged.catalog.writer import CatalogWriter, Observation
from mediaforged.fs.fsio import WalkStats, display_path, quick_folders, under, walk_folders
from mediaforged.fs.safepath import FileProblem, isdir_under, lstat_under
from mediaforged.pipeline.indexer import Indexer, IndexRequest, MoveHint
from mediaforged.state import DaemonState, Job, JobKind, RootState

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
        *,
        guard_share: float = 1.0,
        guard_min: int = 0,
        on_online: Callable[[RootState], None] | None,
    ) -> None:
        self._engine = engine
        self._indexer = indexer
        self._writer = writer
        self._state = state
        self._pending: asyncio.Queue[Job] = asyncio.Queue()
        self._parked: list[Job] = []  # jobs of paused roots, run on resume
        self.stopping = threading.Event()
        self.current: Job | None = None
        # The mass-missing guard (see config: missing_guard_share, missing_guard_min).
        self.guard_share = guard_share
        self.guard_min = guard_min
        # Called when a root that was offline is back (the watcher re-arms its watch).
        self.on_online = on_online

    def request(
        self,
        root: RootState,
        path: bytes | None,
        kind: JobKind,
        full: bool = False,
        quick: bool = False,
    ) -> Job:
        """Queue a reconcile of ``path`` (default: the whole root); an identical queued job is
        reused, so a burst of requests costs one walk. ``quick``: only the folders whose
        mtime changed (falls back to a whole walk when no walk has been recorded yet)."""
        target = path or root.key
        quick = quick and target == root.key and not full
        for job in list(self._state.jobs.values()):
            if (
                not job.complete
                and not job.cancelled
                and job is not self.current
                and job.root is root
                and job.path == target
                and job.full == full
                and (job.quick == quick or not job.quick)  # a whole walk covers a quick one
            ):
                return job
        job = Job(kind=kind, root=root, path=target, full=full, quick=quick)
        self._state.jobs[job.id] = job
        self._pending.put_nowait(job)
        return job

    def resume_root(self, root: RootState) -> None:
        """Queue again the jobs that waited while ``root`` was paused."""
        for job in [j for j in self._parked if j.root is root]:
            self._parked.remove(job)
            self._pending.put_nowait(job)

    def cancel(self, job_id: int | None = None) -> list[Job]:
        """Cancel one job, or every job not yet complete. The walk stops at the next folder,
        the indexer drops the job's files that are still queued, and nothing is marked
        missing: files the walk did not reach were not looked at, not found gone."""
        cancelled: list[Job] = []
        for job in list(self._state.jobs.values()):
            if (job_id is None or job.id == job_id) and job.cancel():
                cancelled.append(job)
                if job in self._parked:  # a paused root's job: it would never run
                    self._parked.remove(job)
                    job.finish_walk()
        if cancelled:
            log.info("jobs_cancelled", jobs=[j.id for j in cancelled])
        return cancelled

    @property
    def queued(self) -> int:
        return self._pending.qsize()

    async def run(self) -> None:
        while True:
            job = await self._pending.get()
            if job.cancelled:
                job.finish_walk()
                continue
            if job.root not in self._state.roots:  # removed by a reload
                job.error = "the root was removed from the configuration"
                job.finish_walk()
                continue
            if job.root.paused:
                self._parked.append(job)
                continue
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

    def _go_offline(self, root: RootState, job: Job, reason: str) -> None:
        if root.online or root.offline_reason != reason:
            log.warning("root_offline", root=str(root.path), reason=reason)
        root.online = False
        root.offline_reason = reason
        job.error = reason
        job.finish_walk()

    async def _reconcile(self, job: Job) -> None:
        root = job.root
        began = time.monotonic()
        whole = job.path == root.key
        # In a thread: a hung network mount must not freeze the event loop.
        if not await asyncio.to_thread(os.path.isdir, root.key):
            self._go_offline(root, job, f"{root.path} is not reachable (missing or unmounted)")
            return
        # The path is reached from the root without following a link (safepath).
        if not whole and not await asyncio.to_thread(isdir_under, root.key, job.path):
            await self._reconcile_one(job)
            return
        quick = job.quick and bool(root.dir_mtimes) and root.online

        stats = WalkStats()
        loop = asyncio.get_running_loop()
        # Load first, then walk: overlapping them was measured slower (the walker thread and
        # the loop fight over the GIL, and every hand-off waits out the switch interval).
        snapshot = await self._load_snapshot(root, job.path)
        catalogued = len(snapshot)
        if whole:
            reason = await asyncio.to_thread(_unmounted, root, snapshot)
            if reason:
                self._go_offline(root, job, reason)
                return
        log.log(
            logging.DEBUG if quick else logging.INFO,
            "reconcile_started",
            root=str(root.path),
            path=display_path(job.path),
            kind=job.kind,
            quick=quick,
        )

        def cut_short() -> bool:
            return job.cancelled or self.stopping.is_set()

        if quick:
            folders = quick_folders(root.dir_mtimes, root.excluded, stats, cut_short, root=root.key)
        else:
            mtimes: dict[bytes, int] = {} if whole else root.dir_mtimes
            folders = walk_folders(
                job.path, root.excluded, stats, cut_short, root=root.key, dir_mtimes=mtimes
            )
        await asyncio.to_thread(self._walk_and_diff, job, snapshot, folders, loop)
        if self.stopping.is_set():
            return
        if job.cancelled:
            self._cancelled_walk(job, stats, whole and not quick)
            return
        if whole and not quick:
            root.dir_mtimes = mtimes
        self._note_ignored(root, stats)

        for folder, message in stats.errors:
            self._state.record_error(display_path(folder), "unreadable_dir", message)
            log.warning(
                "unreadable_dir", path=display_path(folder), code="unreadable_dir", error=message
            )
        if whole and not quick and stats.files == 0 and catalogued > 0:
            # An empty mount point where files were: an unmounted share, not a mass deletion.
            self._go_offline(
                root, job, f"{root.path} is empty but {catalogued} files are catalogued"
            )
            return
        if not root.online:
            root.online = True
            root.offline_reason = ""
            log.info("root_online", root=str(root.path))
            if self.on_online is not None:
                self.on_online(root)
        gone = await self._guard(root, job, _vanished(snapshot, stats, quick), catalogued, whole)
        job.queued += len(gone)
        for i in range(0, len(gone), 512):
            await self._writer.put_many(
                [Observation("gone", root.id, key, job) for key in gone[i : i + 512]]
            )
        job.finish_walk()
        await job.wait()

        duration = time.monotonic() - began
        if quick:
            root.last_quick_at = time.time()
        elif whole:
            root.last_reconcile_at = time.time()
            root.last_reconcile_s = duration
            root.last_reconcile_files = stats.files
            await self._writer.submit(self._record_reconcile(root))
        log.log(
            logging.DEBUG if quick and job.queued == 0 else logging.INFO,
            "reconcile_finished",
            root=str(root.path),
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

    @staticmethod
    def _cancelled_walk(job: Job, stats: WalkStats, whole: bool) -> None:
        """A walk cut short by `cancel`: mark nothing missing, and make the next quick
        reconcile list again every folder this walk recorded (its files may not have been
        looked at). A whole walk recorded into a dict of its own, which is simply dropped."""
        root = job.root
        if not whole:
            for folder in stats.listed:
                if folder in root.dir_mtimes:
                    root.dir_mtimes[folder] = -1  # never a real mtime: "changed"
        log.info(
            "reconcile_cancelled",
            root=str(root.path),
            path=display_path(job.path),
            kind=job.kind,
            files_seen=stats.files,
            files_queued=job.queued,
        )
        job.finish_walk()

    @staticmethod
    def _note_ignored(root: RootState, stats: WalkStats) -> None:
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

    async def _guard(
        self, root: RootState, job: Job, gone: list[bytes], catalogued: int, whole: bool
    ) -> list[bytes]:
        """The mass-missing guard: too many files vanishing at once is more likely a share
        that half-unmounted or a disk that failed than a deletion, so wait for a human."""
        confirmed, root.confirmed = root.confirmed, False
        if not gone or self.guard_share >= 1 or len(gone) < self.guard_min:
            root.held, root.held_missing = "", 0
            return gone
        total = catalogued if whole else await self._count_present(root)
        if confirmed or len(gone) <= self.guard_share * total:
            root.held, root.held_missing = "", 0
            return gone
        root.held = (
            f"{len(gone)} of {total} files would be marked missing at once; nothing was "
            f"marked. If they were deleted on purpose run `mediaforgectl confirm {root.path}`; "
            "otherwise bring them back (remount the share) and they are picked up again"
        )
        root.held_missing = len(gone)
        job.error = root.held
        log.warning("missing_guard", root=str(root.path), missing=len(gone), catalogued=total)
        return []

    async def _count_present(self, root: RootState) -> int:
        c = media_items.c
        stmt = select(func.count()).where(c.root_id == root.id, c.status == "present")
        async with self._engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def _reconcile_one(self, job: Job) -> None:
        """A rescan of one file, or of a folder that is no longer there."""
        try:
            st: os.stat_result | None = await asyncio.to_thread(lstat_under, job.root.key, job.path)
        except FileProblem as problem:
            st = None
            if problem.code == "symlink":  # say why nothing is catalogued there
                job.error = f"{display_path(job.path)}: {problem.message}"
        if st is not None and stat.S_ISLNK(st.st_mode):
            job.error = f"{display_path(job.path)} is a symlink; symlinks are not followed"
        job.queued += 1
        if st is not None and stat.S_ISREG(st.st_mode) and not _excluded_path(job):
            job.walked += 1
            await self._indexer.put(IndexRequest(job.root, job.path, st, job, force=job.full))
        else:
            await self._writer.put(Observation("gone", job.root.id, job.path, job))
        job.finish_walk()
        await job.wait()

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
        folders: Iterator[list[tuple[bytes, os.stat_result]]],
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
        for files in folders:
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
                    if job.cancelled or not self._hand_over(job, chunk, loop):
                        return
                    chunk = []
        if chunk and not job.cancelled:
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


def _excluded_path(job: Job) -> bool:
    root = job.root
    relative = job.path[len(root.key) + 1 :]
    if any(root.excluded(part) for part in relative.split(b"/")):
        return True
    return any(job.path.startswith(d + b"/") for d in root.ignored_dirs)


def _vanished(snapshot: Snapshot, stats: WalkStats, quick: bool) -> list[bytes]:
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


def _unmounted(root: RootState, snapshot: Snapshot) -> str:
    """Why the root looks unmounted (empty or on its parent's device where files were), or ""."""
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
    devices = {v[2] for v in snapshot.values()}
    if st.st_dev not in devices and st.st_dev == parent.st_dev:
        return (
            f"{root.path} is now on its parent's file system, not the one its "
            f"{len(snapshot)} catalogued files are on (unmounted?)"
        )
    return ""
