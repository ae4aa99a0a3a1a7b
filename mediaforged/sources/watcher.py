"""Watch the roots with watchfiles (inotify) and feed changed paths, once settled, to the indexer.

watchfiles reports a rename as a delete plus an add and never says which paths are folders;
we lstat every reported path: a vanished one is marked missing (with everything below it),
a new folder is reconciled (files created in it before its watch was armed are never
reported), a regular file is indexed once its size and mtime stood still for the settle time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import Callable

import structlog
from watchfiles import Change

from mediaforged.fs.fsio import IGNORE_MARKER, display_path
from mediaforged.fs.mounts import inotify_limit_hint
from mediaforged.pipeline.settle import Settler
from mediaforged.sources.folderwatch import FolderWatch
from mediaforged.sources.reconcile import Reconciler
from mediaforged.state import DaemonState, JobKind, RootState, WatchMode, WatchState

__all__ = ["Watcher"]

log = structlog.get_logger("mediaforged.watcher")

_REARM_MAX_S = 60.0


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
        self._armed_roots: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
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

    def _filter(self, root: RootState) -> Callable[[Change, str], bool]:
        prefix = len(root.key) + 1

        def keep(_change: Change, path: str) -> bool:
            raw = os.fsencode(path)
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
                await self._watch_once(root, rearm=failures > 0)
                # awatch never ends by itself (we pass no stop event; shutdown cancels us):
                # if it does, treat it like a failure rather than silently stop watching.
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
                # Known case: one non-UTF-8 name ends awatch (WatchfilesRustInternalError) and
                # loses the rest of that batch; also a root that vanished. Reconcile, re-arm.
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
        if not await asyncio.to_thread(os.path.isdir, root.key):
            raise FileNotFoundError(f"{root.path} is not reachable")
        watch = FolderWatch(root.key, root.excluded)
        keep = self._filter(root)
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
                raw = await watch.changes(self._debounce, step)
                root.last_event_at = time.time()
                changes = [(Change(c), p) for c, p in raw if keep(Change(c), p)]
                new_dirs = await asyncio.to_thread(_new_folders, changes)
                if new_dirs:
                    # Watch them before they are scanned (the settler asks for that scan),
                    # so that nothing created in them falls between the scan and the watch.
                    await watch.add(new_dirs)
                    root.watch_folders = watch.folders
                    self._note_undecodable(root, watch)
                for change, path in changes:
                    encoded = os.fsencode(path)
                    if encoded.endswith(b"/" + IGNORE_MARKER):
                        # A folder gains or loses its marker: walk it again.
                        self._reconciler.request(root, os.path.dirname(encoded), JobKind.MARKER)
                        continue
                    await self._settler.add(root, encoded, change == Change.added)
        finally:
            await watch.close()

    @staticmethod
    def _note_undecodable(root: RootState, watch: FolderWatch) -> None:
        if watch.undecodable and len(watch.undecodable) != root.watch_undecodable:
            root.watch_undecodable = len(watch.undecodable)
            log.warning(
                "folders_not_watched",
                root=str(root.path),
                folders=[display_path(f) for f in watch.undecodable[:5]],
                count=len(watch.undecodable),
                why="not valid UTF-8; found by the quick reconcile instead",
            )


def _new_folders(changes: list[tuple[Change, str]]) -> list[bytes]:
    out = []
    for change, path in changes:
        if change == Change.added:
            encoded = os.fsencode(path)
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(encoded).st_mode):
                    out.append(encoded)
    return out
