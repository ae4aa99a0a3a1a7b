"""Reconcile a root (or a subtree) with the catalog: what changed on disk since we last looked.

The walk and the comparison (``walkdiff``) run in a thread against a snapshot of the
catalog; new and changed files go to the indexer, catalogued files that were not seen are
marked missing. Jobs run one at a time, in order. Every other look at a root's file system
goes through the root's FsGuard: a root that does not answer (a hung NFS mount) is offline
for the job, never a reason to mark anything missing, and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import roots
from mediaforged.catalog.writer import CatalogWriter, Observation
from mediaforged.fs.fsio import WalkStats, display_path, quick_folders, walk_folders
from mediaforged.fs.guard import DEFAULT_TIMEOUT_S, FsGuard, FsTimeout, in_daemon_thread
from mediaforged.fs.safepath import FileProblem, isdir_under, lstat_under
from mediaforged.pipeline.indexer import Indexer, IndexRequest
from mediaforged.sources.walkdiff import (
    Snapshot,
    WalkDiff,
    count_present,
    excluded_path,
    load_snapshot,
    log_finished,
    note_ignored,
    unmounted,
    vanished,
)
from mediaforged.state import DaemonState, Job, JobKind, RootState

__all__ = ["Reconciler", "root_problem"]

log = structlog.get_logger("mediaforged.reconcile")


def root_problem(key: bytes) -> str:
    """Why a root cannot be walked (it is offline meanwhile), or "" when it can."""
    shown = display_path(key)
    try:
        st = os.stat(key)  # a root may be a link to its folder
    except FileNotFoundError:
        return f"{shown} is not reachable (missing or unmounted)"
    except OSError as exc:
        return f"{shown} is not reachable: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{shown} is not a folder: a root must be one (fix the roots setting)"
    return ""


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
        fs_timeout: float = DEFAULT_TIMEOUT_S,
        observe: Callable[[RootState, str, float], None] | None = None,  # root, scope, seconds
    ) -> None:
        self._observe = observe or (lambda root, scope, seconds: None)
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
        self._fs: dict[int, FsGuard] = {}  # per root id: see fs()
        self._fs_timeout = fs_timeout
        self._differ = WalkDiff(indexer, self.stopping)

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

    def fs(self, root: RootState) -> FsGuard:
        """The guard of every call into ``root``'s file system made from the loop (also
        used by a reload's device check, so that the two share one bound of stuck threads)."""
        guard = self._fs.get(root.id)
        if guard is None:
            guard = self._fs[root.id] = FsGuard(str(root.path), timeout=self._fs_timeout)
        return guard

    def set_fs_timeout(self, seconds: float) -> None:
        """A reload's new fs_timeout, for the guards made already and those to come."""
        self._fs_timeout = seconds
        for guard in self._fs.values():
            guard.timeout = seconds

    def _go_offline(self, root: RootState, job: Job, reason: str) -> None:
        if root.online or root.offline_reason != reason:
            log.warning("root_offline", root=str(root.path), reason=reason)
        root.online = False
        root.offline_reason = reason
        job.error = reason
        job.finish_walk()

    def _go_online(self, root: RootState) -> None:
        if not root.online:
            root.online = True
            root.offline_reason = ""
            log.info("root_online", root=str(root.path))
            if self.on_online is not None:
                self.on_online(root)

    async def _reconcile(self, job: Job) -> None:
        root = job.root
        began = time.monotonic()
        whole = job.path == root.key
        try:
            snapshot = await self._look(job, whole)
        except FsTimeout as exc:  # a hung mount: offline, like an unmounted one
            self._go_offline(root, job, str(exc))
            return
        if snapshot is None:
            return
        quick = job.quick and bool(root.dir_mtimes) and root.online
        log.log(
            logging.DEBUG if quick else logging.INFO,
            "reconcile_started",
            root=str(root.path),
            path=display_path(job.path),
            kind=job.kind,
            quick=quick,
        )
        catalogued = len(snapshot)  # the walk pops what it sees off the snapshot
        stats = await self._walk(job, snapshot, quick, whole)
        if stats is not None:
            await self._conclude(
                job, snapshot, stats, catalogued, quick=quick, whole=whole, began=began
            )

    async def _look(self, job: Job, whole: bool) -> Snapshot | None:
        """The checks before a walk: the root is there, the path is a folder (else the job is
        a one-file rescan, done here), the root does not look unmounted. The snapshot of the
        catalog to walk against, or None when the job ended here. FsTimeout: it hangs."""
        root = job.root
        fs = self.fs(root)
        problem = await fs.call(root_problem, root.key)
        if problem:
            self._go_offline(root, job, problem)
            return None
        # The path is reached from the root without following a link (safepath).
        if not whole and not await fs.call(isdir_under, root.key, job.path):
            await self._reconcile_one(job)
            return None
        # Load first, then walk: overlapping them was measured slower (the walker thread and
        # the loop fight over the GIL, and every hand-off waits out the switch interval).
        snapshot = await load_snapshot(self._engine, root, job.path)
        if whole:
            reason = await fs.call(unmounted, root, snapshot)
            if reason:
                self._go_offline(root, job, reason)
                return None
        return snapshot

    async def _walk(
        self, job: Job, snapshot: Snapshot, quick: bool, whole: bool
    ) -> WalkStats | None:
        """Walk and compare; the walk's stats, or None when it was cut short."""
        root = job.root
        stats = WalkStats()

        def cut_short() -> bool:
            return job.cancelled or self.stopping.is_set()

        if quick:
            folders = quick_folders(root.dir_mtimes, root.excluded, stats, cut_short, root=root.key)
        else:
            mtimes: dict[bytes, int] = {} if whole else root.dir_mtimes
            folders = walk_folders(
                job.path, root.excluded, stats, cut_short, root=root.key, dir_mtimes=mtimes
            )
        # A daemon thread, not asyncio's executor: a walk stuck on a mount that died under it
        # must not keep the daemon from exiting (the executor is joined at exit).
        loop = asyncio.get_running_loop()
        await in_daemon_thread(self._differ.run, job, snapshot, folders, loop)
        if self.stopping.is_set():
            return None
        if job.cancelled:
            self._cancelled_walk(job, stats, whole and not quick)
            return None
        if whole and not quick:
            root.dir_mtimes = mtimes
        note_ignored(root, stats)
        return stats

    async def _conclude(
        self,
        job: Job,
        snapshot: Snapshot,
        stats: WalkStats,
        catalogued: int,
        *,
        quick: bool,
        whole: bool,
        began: float,
    ) -> None:
        """After the walk: report what could not be read, mark missing what was not seen
        (unless the root looks unmounted or the guard holds), wait for the indexing."""
        root = job.root
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
        self._go_online(root)
        gone = await self._guard(root, job, vanished(snapshot, stats, quick), catalogued, whole)
        job.queued += len(gone)
        for i in range(0, len(gone), 512):
            await self._writer.put_many(
                [Observation("gone", root.id, key, job) for key in gone[i : i + 512]]
            )
        job.finish_walk()
        await job.wait()

        duration = time.monotonic() - began
        self._observe(root, "quick" if quick else "full" if whole else "partial", duration)
        if quick:
            root.last_quick_at = time.time()
        elif whole:
            root.last_reconcile_at = time.time()
            root.last_reconcile_s = duration
            root.last_reconcile_files = stats.files
            await self._writer.submit(self._record_reconcile(root))
        log_finished(job, stats, quick, duration)

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

    async def _guard(
        self, root: RootState, job: Job, gone: list[bytes], catalogued: int, whole: bool
    ) -> list[bytes]:
        """The mass-missing guard: too many files vanishing at once is more likely a share
        that half-unmounted or a disk that failed than a deletion, so wait for a human."""
        confirmed, root.confirmed = root.confirmed, False
        if not gone or self.guard_share >= 1 or len(gone) < self.guard_min:
            root.held, root.held_missing = "", 0
            return gone
        total = catalogued if whole else await count_present(self._engine, root)
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

    async def _reconcile_one(self, job: Job) -> None:
        """A rescan of one file, or of a folder that is no longer there, reached from the root
        without following a link (safepath). FsTimeout: the root hangs (nothing is marked
        missing then)."""
        try:
            st = await self.fs(job.root).call(lstat_under, job.root.key, job.path)
        except FileProblem as problem:
            st = None
            if problem.code == "symlink":  # say why nothing is catalogued there
                job.error = f"{display_path(job.path)}: {problem.message}"
        if st is not None and stat.S_ISLNK(st.st_mode):
            job.error = f"{display_path(job.path)} is a symlink; symlinks are not followed"
        job.queued += 1
        if st is not None and stat.S_ISREG(st.st_mode) and not excluded_path(job):
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
