"""The daemon's in-memory state: roots, running jobs and counters, read by the commands.

Its states (``Phase``, ``WatchMode``, ``WatchState``, ``JobKind``) are the protocol's: status
sends them as they are."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mediaforged.protocol import JobKind, JobProgress, Phase, RecentError, WatchMode, WatchState

__all__ = ["DaemonState", "Job", "JobKind", "Phase", "RootState", "WatchMode", "WatchState"]


@dataclass
class RootState:
    id: int
    path: Path
    key: bytes  # os.fsencode(path): the prefix of every catalogued path below it
    watch: WatchState = WatchState.OFF
    watch_error: str = ""  # why the watch failed (watch is FAILED), till it is re-armed
    watch_mode: WatchMode = WatchMode.INOTIFY  # the mode chosen for this root
    watch_mode_reason: str = ""
    watch_fallback: str = ""  # why inotify gave way to polling (the watch limit), and the fix
    watch_folders: int = 0  # folders with an inotify watch
    watch_undecodable: int = 0  # folders not watchable (name not UTF-8): the quick check covers
    excluded: Callable[[bytes], object] = lambda _name: None
    online: bool = True
    offline_reason: str = ""
    paused: bool = False
    # The mass-missing guard: why the last reconcile held back, and a one-shot permission.
    held: str = ""
    held_missing: int = 0
    confirmed: bool = False
    # Folder -> mtime_ns from the last walk: the quick reconcile lists only folders whose
    # mtime moved (a file added, removed or renamed in them).
    dir_mtimes: dict[bytes, int] = field(default_factory=dict, repr=False)
    # Folders holding a .mediaforgeignore marker: excluded with all they contain.
    ignored_dirs: set[bytes] = field(default_factory=set, repr=False)
    last_quick_at: float | None = None
    last_reconcile_at: float | None = None  # epoch seconds
    last_reconcile_s: float | None = None
    last_reconcile_files: int | None = None
    last_event_at: float | None = None
    watch_restarts: int = 0
    # Times the kernel's event queue overflowed (or a stall made it likely): each one caught
    # up at once with a quick reconcile.
    watch_overflows: int = 0
    # Another root lives on the same file system: a move between them keeps the inode, so
    # new files must also be looked up by inode in the catalog, not only in this root.
    shares_device: bool = True

    @property
    def watch_shown(self) -> str:
        """The watch as status shows it: its state, and the reason after ``failed:``."""
        if self.watch is WatchState.FAILED:
            return f"{WatchState.FAILED}: {self.watch_error}"
        return str(self.watch)


_job_ids = itertools.count(1)


@dataclass(eq=False)  # identity semantics: a job is a dict key while its batch commits
class Job:
    """One reconcile or rescan; completes when every path it queued is committed or skipped."""

    kind: JobKind
    root: RootState
    path: bytes
    full: bool = False  # rehash even unchanged files (bit rot)
    quick: bool = False  # list only the folders whose mtime changed since the last walk
    id: int = field(default_factory=lambda: next(_job_ids))
    started: float = field(default_factory=time.monotonic)
    walked: int = 0  # regular files seen by the walk
    queued: int = 0  # of those, sent to indexing (new or changed)
    done: int = 0  # indexed, skipped or failed, and committed
    failed: int = 0
    gone: int = 0
    dropped: int = 0  # queued, then dropped unlooked at by `cancel`
    walk_finished: bool = False
    finished_at: float | None = None
    error: str | None = None
    cancelled: bool = False  # `cancel`: the walk stops, its queued files are dropped
    _complete: asyncio.Event = field(default_factory=asyncio.Event)

    def mark_done(self, n: int = 1, failed: int = 0) -> None:
        self.done += n
        self.failed += failed
        self._check()

    def finish_walk(self) -> None:
        self.walk_finished = True
        self._check()

    def cancel(self) -> bool:
        """Stop this job where it is; False if it had already completed."""
        if self.complete:
            return False
        self.cancelled = True
        self.error = "cancelled"
        return True

    def _check(self) -> None:
        if self.walk_finished and self.done >= self.queued and not self._complete.is_set():
            self.finished_at = time.monotonic()
            self._complete.set()

    async def wait(self) -> None:
        await self._complete.wait()

    @property
    def complete(self) -> bool:
        return self._complete.is_set()

    def progress(self) -> JobProgress:
        elapsed = (self.finished_at or time.monotonic()) - self.started
        return {
            "job": self.id,
            "kind": self.kind,
            "root": str(self.root.path),
            "path": os.fsdecode(self.path),
            "walked": self.walked,
            "queued": self.queued,
            "done": self.done,
            "failed": self.failed,
            "gone": self.gone,
            "dropped": self.dropped,
            "walk_finished": self.walk_finished,
            "complete": self.complete,
            "cancelled": self.cancelled,
            "elapsed_s": round(elapsed, 3),
            "rate_per_s": round(self.done / elapsed, 1) if elapsed > 0 else None,
        }


@dataclass
class DaemonState:
    roots: list[RootState]
    started_at: float = field(default_factory=time.time)
    phase: Phase = Phase.STARTING
    paused: bool = False
    jobs: dict[int, Job] = field(default_factory=dict)
    # Counters since start
    indexed: int = 0
    hashed: int = 0  # files whose content was hashed
    hashed_bytes: int = 0
    skipped_unchanged: int = 0
    moved: int = 0
    marked_missing: int = 0
    purged: int = 0
    failed: int = 0
    commits: int = 0
    recent_errors: list[RecentError] = field(default_factory=list)
    errors_by_code: dict[str, int] = field(default_factory=dict)  # every recorded error
    # Why the catalog cannot be written right now (disk full, read-only), or "".
    catalog_problem: str = ""
    http_address: str | None = None  # where the HTTP API listens, once bound

    def root_for(self, path: bytes) -> RootState | None:
        for root in self.roots:
            if path == root.key or path.startswith(root.key + b"/"):
                return root
        return None

    def record_error(self, path: str, code: str, message: str) -> None:
        self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
        self.recent_errors.append(
            {"at": time.time(), "path": path, "code": code, "message": message}
        )
        del self.recent_errors[:-20]  # a short ring: the catalog keeps every error on its item

    def forget_error(self, path: str) -> None:
        """The file at ``path`` was indexed fine: its earlier errors (a transient
        ``changed_during_read`` while it was being written, say) are over."""
        if any(e["path"] == path for e in self.recent_errors):
            self.recent_errors[:] = [e for e in self.recent_errors if e["path"] != path]
