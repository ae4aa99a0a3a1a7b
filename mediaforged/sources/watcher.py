"""Watch the roots (inotify) and feed changed paths, once settled, to the indexer.

The backend is raw inotify on Linux (``inotifywatch``), watchfiles elsewhere (``folderwatch``).
A rename arrives as a delete plus an add, and we lstat every reported path: a vanished one is
marked missing (with everything below it), a new folder is watched and then listed (what
was made in it before its watch was armed has no event: it is handled as if created, and its
sub-folders get their watches the same way) and reconciled, a regular file is indexed once
its size and mtime stood still for the settle time (shorter once closed after writing).

Events the kernel dropped (its queue overflowed while we did not read: a SIGSTOP, a suspend,
a storm) are caught at once, not at the next quick reconcile: an overflow the backend reports,
or one suspected from a stall of the wait or a burst near the queue's size, re-lists the
root's folders and quick-reconciles the root, and is counted in ``status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable

import structlog

from mediaforged.fs.fsio import IGNORE_MARKER, display_path
from mediaforged.fs.mounts import inotify_limit_hint
from mediaforged.pipeline.settle import Settler, Write
from mediaforged.sources.folderwatch import FolderWatch
from mediaforged.sources.reconcile import Reconciler, root_problem
from mediaforged.sources.watchapi import Batch, Change, FolderWatcher
from mediaforged.state import DaemonState, JobKind, RootState, WatchMode, WatchState

if sys.platform == "linux":  # inotify_simple is a dependency on Linux only
    from mediaforged.sources.inotifywatch import InotifyWatch

__all__ = ["Watcher", "new_folder_watch"]

log = structlog.get_logger("mediaforged.watcher")

_REARM_MAX_S = 60.0
_BURST_SHARE = 0.9  # a batch this close to the kernel's queue size may have lost events
_RAW_INOTIFY = sys.platform == "linux"


def new_folder_watch(root: bytes, excluded: Callable[[bytes], object]) -> FolderWatcher:
    """Raw inotify on Linux (it survives names that are not UTF-8, ignores reads and reports
    overflows; measured in the README); watchfiles where that is not available."""
    if _RAW_INOTIFY:
        return InotifyWatch(root, excluded)
    return FolderWatch(root, excluded)


def _max_queued_events() -> int:
    try:
        with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 16384  # the kernel's default


def _is_limit_error(exc: BaseException) -> bool:
    # notify's MaxFilesWatch surfaces as OSError("OS file watch limit reached ...").
    return isinstance(exc, OSError) and "watch limit" in str(exc)


class Watcher:
    """One task per root: inotify through watchfiles, or polling (the quick reconcile on an
    interval) where inotify cannot see changes or ran out of watches."""

    def __init__(
        self,
        state: DaemonState,
        settler: Settler,
        reconciler: Reconciler,
        *,
        debounce_ms: int,
        poll_interval: float,
    ) -> None:
        self._state = state
        self._settler = settler
        self._reconciler = reconciler
        self._debounce = debounce_ms
        self.poll_interval = poll_interval
        self.armed = asyncio.Event()
        self._queue_size = _max_queued_events()
        self._armed_roots: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._returned: set[int] = set()  # roots re-armed by restart(): reconcile once armed
        self._group: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            self._group = tg
            self.sync()
            await asyncio.Future()  # until shutdown cancels us; the roots' tasks do the work

    def sync(self) -> None:
        """Start a task for every root that has none; stop those of removed roots."""
        if self._group is None:
            return
        current = {root.id for root in self._state.roots}
        for root_id in [i for i in self._tasks if i not in current]:
            self._tasks.pop(root_id).cancel()
            self._armed_roots.discard(root_id)
        for root in self._state.roots:
            if root.id not in self._tasks:
                self._tasks[root.id] = self._group.create_task(
                    self._run_root(root), name=f"watch {root.path}"
                )
        if not self._state.roots:
            self.armed.set()

    def restart(self, root: RootState) -> None:
        """Re-arm ``root`` from scratch: a share mounted again over its mount point is a new
        directory tree that the old watches do not see."""
        task = self._tasks.pop(root.id, None)
        if task is not None:
            task.cancel()
        # The walk that found the root back runs while the new watch is being armed: a file
        # made in between, in a folder the walk had passed, would wait for the quick check.
        self._returned.add(root.id)
        self.sync()

    def _mark_armed(self, root: RootState) -> None:
        self._armed_roots.add(root.id)
        if len(self._armed_roots) >= len(self._state.roots):
            self.armed.set()

    async def _run_root(self, root: RootState) -> None:
        if root.watch_mode is WatchMode.POLL:
            await self._poll(root)
        else:
            await self._watch_root(root)

    async def _poll(self, root: RootState) -> None:
        root.watch = WatchState.POLL
        self._mark_armed(root)
        log.info("polling", root=str(root.path), interval_s=self.poll_interval)
        while True:
            await asyncio.sleep(self.poll_interval)
            if root.online:  # an offline root is rechecked by the scheduler
                self._reconciler.request(root, None, JobKind.POLL, quick=True)

    def _filter(self, root: RootState) -> Callable[[bytes], bool]:
        prefix = len(root.key) + 1

        def keep(raw: bytes) -> bool:
            if raw == root.key:
                return True  # the root itself went away
            parts = raw[prefix:].split(b"/")
            if parts[-1] == IGNORE_MARKER:
                return True  # excluded by ".*", but it decides what its folder holds
            if any(root.excluded(part) for part in parts):
                return False
            return not any(raw.startswith(d + b"/") for d in root.ignored_dirs)

        return keep

    async def _watch_root(self, root: RootState) -> None:
        backoff = 1.0
        failures = 0
        while True:
            armed_at = time.monotonic()
            try:
                returned = root.id in self._returned
                self._returned.discard(root.id)
                await self._watch_once(root, rearm=failures > 0 or returned)
                # A watch never ends by itself (shutdown cancels us): if it does, treat it
                # like a failure rather than silently stop watching.
                raise RuntimeError("the watch ended unexpectedly")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause: BaseException = exc
                if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                    cause = exc.exceptions[0]  # anyio wraps watchfiles' error in a group
                if _is_limit_error(cause):
                    root.watch_fallback = inotify_limit_hint()
                    log.warning(
                        "inotify_limit",
                        root=str(root.path),
                        fallback="poll",
                        fix=root.watch_fallback,
                    )
                    self._reconciler.request(root, None, JobKind.WATCH_ERROR)
                    await self._poll(root)
                    return
                # Known cases: the root vanished or moved; with watchfiles, one non-UTF-8 name
                # ends the watch (WatchfilesRustInternalError) and loses the rest of that
                # batch. Reconcile, re-arm.
                failures += 1
                if time.monotonic() - armed_at > _REARM_MAX_S:
                    backoff = 1.0  # it had been working: this is a new incident
                root.watch, root.watch_error = WatchState.FAILED, f"{type(cause).__name__}: {cause}"
                root.watch_restarts += 1
                self._mark_armed(root)  # do not hold READY=1 for a root we cannot watch yet
                log.warning("watch_failed", root=str(root.path), error=str(cause), retry_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _REARM_MAX_S)

    async def _watch_once(self, root: RootState, rearm: bool) -> None:
        # Through the root's guard: a hung mount fails this watch (retried with a backoff)
        # instead of holding a thread and READY=1.
        problem = await self._reconciler.fs(root).call(root_problem, root.key)
        if problem:
            raise FileNotFoundError(problem)
        watch = new_folder_watch(root.key, root.excluded)
        try:
            await watch.arm()
            root.watch, root.watch_error = WatchState.INOTIFY, ""
            root.watch_fallback = ""
            root.watch_folders = watch.folders
            self._note_undecodable(root, watch)
            self._mark_armed(root)
            log.info("watching", root=str(root.path), folders=watch.folders)
            if rearm:
                # Whatever changed while we were not watching.
                self._reconciler.request(root, None, JobKind.WATCH_ERROR)
            step = min(50, self._debounce)
            while True:
                batch = await watch.changes(self._debounce, step)
                await self._handle(root, watch, batch)
        finally:
            await watch.close()

    async def _handle(self, root: RootState, watch: FolderWatcher, batch: Batch) -> None:
        keep = self._filter(root)
        changes = [(c, p) for c, p in batch.changes if keep(p)]
        if changes:
            root.last_event_at = time.time()
        new_dirs = await self._reconciler.fs(root).call(_new_folders, changes)
        found: list[bytes] = []
        if new_dirs:
            # Watch them before they are scanned (the settler asks for that scan),
            # so that nothing created in them falls between the scan and the watch.
            found = await self._watch_new(root, watch, new_dirs)
        why = self._lost_events(watch, batch)
        if why:
            found += await self._catch_up(root, watch, why)
        if found:
            reported = {p for _, p in changes}
            changes += [(Change.ADDED, p) for p in dict.fromkeys(found) if p not in reported]
        for change, path in changes:
            if path.endswith(b"/" + IGNORE_MARKER):
                # A folder gains or loses its marker: walk it again.
                self._reconciler.request(root, os.path.dirname(path), JobKind.MARKER)
                continue
            write = (
                Write.CLOSED
                if path in batch.closed
                else Write.WRITING
                if path in batch.writing
                else Write.UNKNOWN
            )
            await self._settler.add(root, path, change is Change.ADDED, write)

    async def _watch_new(
        self, root: RootState, watch: FolderWatcher, folders: list[bytes]
    ) -> list[bytes]:
        """Watch new folders and every folder inside them, then list each one once its watch
        is armed: what was made in it before (it has no event of its own) is returned, to be
        handled as if created now, and a sub-folder made between the backend's listing and
        its parent's arming is watched in the next round. What is made after an arm has its
        event (a file both listed and reported is settled once: the settler keeps one)."""
        keep = self._filter(root)
        files: list[bytes] = []
        while folders:
            armed = await watch.add(folders)
            subdirs, listed = await self._reconciler.fs(root).call(
                _list_armed, armed, root.excluded
            )
            done = set(armed)
            folders = [d for d in subdirs if d not in done]
            files += [f for f in listed if keep(f)]
        root.watch_folders = watch.folders
        self._note_undecodable(root, watch)
        return files

    def _lost_events(self, watch: FolderWatcher, batch: Batch) -> str:
        """Why events may have been dropped by the kernel, or ""."""
        if batch.overflowed:
            return "the kernel's event queue overflowed (IN_Q_OVERFLOW)"
        if watch.reports_overflow:
            return ""  # a stall or a burst without IN_Q_OVERFLOW lost nothing
        if batch.stalled_s:
            return f"the watch did not run for {batch.stalled_s:.1f} s (stopped or suspended)"
        if batch.events >= _BURST_SHARE * self._queue_size:
            return f"{batch.events} events at once, near the kernel's queue size"
        return ""

    async def _catch_up(self, root: RootState, watch: FolderWatcher, why: str) -> list[bytes]:
        """Events were (or may have been) lost: watch the folders made meanwhile, then list
        the folders whose mtime moved, now rather than at the next quick reconcile."""
        root.watch_overflows += 1
        found = await self._watch_new(root, watch, [root.key])
        job = self._reconciler.request(root, None, JobKind.WATCH_ERROR, quick=True)
        log.warning(
            "watch_overflow",
            root=str(root.path),
            why=why,
            overflows=root.watch_overflows,
            job=job.id,
            action="quick reconcile now",
        )
        return found

    @staticmethod
    def _note_undecodable(root: RootState, watch: FolderWatcher) -> None:
        if watch.undecodable and len(watch.undecodable) != root.watch_undecodable:
            root.watch_undecodable = len(watch.undecodable)
            log.warning(
                "folders_not_watched",
                root=str(root.path),
                folders=[display_path(f) for f in watch.undecodable[:5]],
                count=len(watch.undecodable),
                why="not valid UTF-8; found by the quick reconcile instead",
            )


def _new_folders(changes: list[tuple[Change, bytes]]) -> list[bytes]:
    out = []
    for change, path in changes:
        if change is Change.ADDED:
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    out.append(path)
    return out


def _list_armed(
    folders: list[bytes], excluded: Callable[[bytes], object]
) -> tuple[list[bytes], list[bytes]]:
    """The sub-folders and the files in ``folders`` (just armed), as ``list_folders`` sees
    them: no symlink, no excluded name; a folder with the ignore marker gives the marker only
    (which walks it again), not what it holds."""
    subdirs: list[bytes] = []
    files: list[bytes] = []
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue  # gone or unreadable since it was armed: the reconcile reports it
        if any(e.name == IGNORE_MARKER for e in entries):
            files.append(folder + b"/" + IGNORE_MARKER)
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not excluded(entry.name):
                        subdirs.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    files.append(entry.path)
            except OSError:
                continue
    return subdirs, files
