"""``status``: what the daemon is doing, answered in milliseconds even while work streams in.

Item and stage counts over a large catalog take tens of milliseconds, so they are cached
(``StatusCache``) and refreshed in the background while commits stream; once the daemon is
idle they are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

import structlog
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged import __version__
from mediaforged.catalog.schema import media_items
from mediaforged.config import settings_of
from mediaforged.control.context import Context, Progress, Spec
from mediaforged.fs.mounts import inotify_usage
from mediaforged.protocol import (
    ErrorsStatus,
    InotifyUsage,
    ItemStatus,
    JobProgress,
    JobStatus,
    PendingStatus,
    RootStatus,
    StatusReply,
    ThumbnailStatus,
    Totals,
    VerifyStatus,
)
from mediaforged.state import DaemonState, RootState

__all__ = ["COMMANDS", "StatusCache", "config", "status"]

log = structlog.get_logger("mediaforged.commands")

T = TypeVar("T")


@dataclass(slots=True)
class _RootCounts:
    by_media_type: dict[str, int] = field(default_factory=dict)  # present items only
    by_status: dict[str, int] = field(default_factory=dict)
    # For the metrics: items by (media type, status), and the present items' bytes.
    by_type_status: dict[tuple[str, str], int] = field(default_factory=dict)
    bytes_by_media_type: dict[str, int] = field(default_factory=dict)
    bytes: int = 0  # present items' sizes


async def _counts(engine: AsyncEngine) -> dict[int, _RootCounts]:
    c = media_items.c
    size = func.coalesce(func.sum(c.size), 0)
    stmt = select(c.root_id, c.media_type, c.status, func.count(), size).group_by(
        c.root_id, c.media_type, c.status
    )
    out: dict[int, _RootCounts] = {}
    async with engine.connect() as conn:
        for root_id, media_type, status, count, size in await conn.execute(stmt):
            per_root = out.setdefault(root_id, _RootCounts())
            per_root.by_type_status[(media_type, status)] = count
            if status == ItemStatus.PRESENT:
                per_root.by_media_type[media_type] = (
                    per_root.by_media_type.get(media_type, 0) + count
                )
                per_root.bytes_by_media_type[media_type] = int(size)
                per_root.bytes += int(size)
            per_root.by_status[status] = per_root.by_status.get(status, 0) + count
    return out


def _catalog_bytes(ctx: Context) -> int | None:
    url = ctx.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(url.database + suffix).st_size
    return total


class _Cached(Generic[T]):
    """One catalog computation for status, shared by every caller until ``key`` changes.
    With ``background``, a caller never waits for it: it gets the last value, and a
    refresh starts if that is older than FRESH_S."""

    FRESH_S = 0.5

    def __init__(
        self, key: Callable[[Context], int], compute: Callable[[Context], Awaitable[T]]
    ) -> None:
        self._key, self._compute = key, compute
        self._lock = asyncio.Lock()
        self._at_key = -1
        self._computed_at = -1e9
        self.value: T | None = None
        self.counted_at: float | None = None
        self._refresh: asyncio.Task[None] | None = None

    async def get(self, ctx: Context, background: bool) -> T:
        stale = self._key(ctx) != self._at_key
        if self.value is None or (stale and not background):
            await self._update(ctx)  # callers that arrive meanwhile wait for this one
        elif (
            stale
            and (self._refresh is None or self._refresh.done())
            and time.monotonic() - self._computed_at >= self.FRESH_S
        ):
            self._refresh = asyncio.create_task(self._update(ctx))
        assert self.value is not None
        return self.value

    async def _update(self, ctx: Context) -> None:
        async with self._lock:
            key = self._key(ctx)  # before the queries: a later commit is news
            if key == self._at_key and self.value is not None:
                return  # computed while we waited for the lock
            try:
                value = await self._compute(ctx)
            except Exception:
                if self.value is None:
                    raise
                log.exception("status_counts_failed")  # keep the last figures
                return
            self.value, self._at_key = value, key
            self._computed_at, self.counted_at = time.monotonic(), time.time()


class _StageCounts(NamedTuple):
    metadata: int  # items awaiting metadata
    metadata_failed: int
    thumbnails: int  # items awaiting a thumbnail
    thumbnails_failed: int
    signatures: int = 0  # items awaiting a signature
    verify: int = 0  # items whose bytes await a damage check
    corrupt: int = 0  # present items whose bytes are damaged


async def _item_counts(ctx: Context) -> dict[int, _RootCounts]:
    return await _counts(ctx.engine)


async def _stage_counts(ctx: Context) -> _StageCounts:
    return _StageCounts(
        await ctx.metadata.pending(),
        await ctx.metadata.failed_items(),
        await ctx.thumbnails.pending() if ctx.thumbnails else 0,
        await ctx.thumbnails.failed_items() if ctx.thumbnails else 0,
        await ctx.similar.pending() if ctx.similar else 0,
        await ctx.verifier.pending() if ctx.verifier else 0,
        await ctx.verifier.corrupt_items() if ctx.verifier else 0,
    )


@dataclass(frozen=True, slots=True)
class _Figures:
    """The catalog's side of one status reply."""

    counts: dict[int, _RootCounts]  # by root id
    stages: _StageCounts
    counted_at: float | None  # when ``counts`` were taken
    inotify: InotifyUsage


class StatusCache:
    """The catalog side of status. A count over 50,000 items takes tens of milliseconds and
    a dashboard asks often, so no request waits for one while work streams in: it gets
    figures at most about FRESH_S old, refreshed in the background. Once the work is
    done they are exact: the item counts once indexing is idle (thumbnail commits leave
    them as they are; a metadata commit that corrects an item's type from its streams
    counts them again), the pending metadata and thumbnails once those
    stages are idle too (``metadata.idle`` and ``thumbnails.idle`` in the reply say so
    exactly: wait for those, not for a pending count of 0). The inotify count reads
    /proc (a line per watch) in a thread, at most every few seconds."""

    INOTIFY_EVERY_S = 5.0

    def __init__(self) -> None:
        self._items = _Cached(lambda ctx: ctx.writer.item_commits, _item_counts)
        self._stages = _Cached(lambda ctx: ctx.writer.commit_count, _stage_counts)
        self._inotify = InotifyUsage(watches=None, limit=None)
        self._inotify_at = -1e9

    async def get(self, ctx: Context) -> _Figures:
        thumbs = ctx.thumbnails
        indexing = (
            ctx.writer.waiting > 0
            or not ctx.indexer.idle
            or any(not j.complete for j in ctx.state.jobs.values())
        )
        extracting = (
            not ctx.metadata.idle.is_set()
            or (thumbs is not None and not thumbs.idle.is_set())
            or (ctx.verifier is not None and not ctx.verifier.idle.is_set())
        )
        counts = await self._items.get(ctx, background=indexing)
        stages = await self._stages.get(ctx, background=indexing or extracting)
        if time.monotonic() - self._inotify_at > self.INOTIFY_EVERY_S:
            self._inotify_at = time.monotonic()
            usage = await asyncio.to_thread(inotify_usage)
            self._inotify = InotifyUsage(watches=usage.get("watches"), limit=usage.get("limit"))
        return _Figures(counts, stages, self._items.counted_at, self._inotify)


def _with_eta(job: JobProgress) -> JobStatus:
    """Seconds left at the job's rate so far; known once its walk has counted the work."""
    rate, left = job["rate_per_s"], job["queued"] - job["done"]
    known = job["walk_finished"] and not job["complete"] and rate
    return {**job, "eta_s": round(left / rate, 1) if known and rate else None}


def _root_status(root: RootState, per: _RootCounts) -> RootStatus:
    return {
        "path": str(root.path),
        "online": root.online,
        "offline_reason": root.offline_reason or None,
        "watch": root.watch_shown,
        "watch_mode": root.watch_mode,
        "watch_mode_reason": root.watch_mode_reason,
        "watch_fallback": root.watch_fallback or None,
        "watch_folders": root.watch_folders,
        "unwatched_folders": root.watch_undecodable,
        "watch_restarts": root.watch_restarts,
        "overflows": root.watch_overflows,
        "paused": root.paused,
        "held": root.held or None,
        "held_missing": root.held_missing,
        "last_quick_check_at": root.last_quick_at,
        "last_event_at": root.last_event_at,
        "last_reconcile": {
            "at": root.last_reconcile_at,
            "duration_s": root.last_reconcile_s,
            "files": root.last_reconcile_files,
        },
        "items": sum(per.by_status.values()),
        "bytes": per.bytes,
        "by_media_type": per.by_media_type,
        "by_status": per.by_status,
    }


def _pending(ctx: Context, stages: _StageCounts) -> PendingStatus:
    return {
        "settling": len(ctx.settler),
        "index_queue": ctx.indexer.waiting,
        "indexing": ctx.indexer.in_flight,
        "write_queue": ctx.writer.waiting,
        "reconciles_queued": ctx.reconciler.queued,
        "metadata": stages.metadata,
        "thumbnails": stages.thumbnails,
        "signatures": stages.signatures,
        "verify": stages.verify,
    }


def _verify(ctx: Context, stages: _StageCounts) -> VerifyStatus:
    v = ctx.verifier
    if v is None:
        return {"mode": "off", "idle": True, "verified": 0, "corrupt": 0, "unverified": 0,
                "corrupt_items": 0}  # fmt: skip
    return {
        "mode": v.mode,
        "idle": v.idle.is_set(),
        "verified": v.verified,
        "corrupt": v.corrupt,
        "unverified": v.unverified,
        "corrupt_items": stages.corrupt,
    }


def _thumbnails(ctx: Context, stages: _StageCounts) -> ThumbnailStatus:
    thumbs = ctx.thumbnails
    if thumbs is None:
        return {"enabled": False, "idle": True, "made": 0, "shared": 0, "failed": 0,
                "failed_items": 0, "removed": 0}  # fmt: skip
    return {
        "enabled": True,
        "idle": thumbs.idle.is_set(),
        "made": thumbs.made,
        "shared": thumbs.shared,
        "failed": thumbs.failed,
        "failed_items": stages.thumbnails_failed,
        "removed": thumbs.removed,
    }


def _totals(state: DaemonState) -> Totals:
    return {
        "indexed": state.indexed,
        "hashed_bytes": state.hashed_bytes,
        "unchanged": state.skipped_unchanged,
        "moved": state.moved,
        "marked_missing": state.marked_missing,
        "purged": state.purged,
        "failed": state.failed,
        "commits": state.commits,
    }


def _errors(state: DaemonState, roots: list[RootStatus], stages: _StageCounts) -> ErrorsStatus:
    by_stage = {
        "index": sum(r["by_status"].get(ItemStatus.FAILED, 0) for r in roots),
        "metadata": stages.metadata_failed,
        "thumbnail": stages.thumbnails_failed,
        "verify": stages.corrupt,
    }
    return {
        "failed_items": sum(by_stage.values()),
        "by_stage": by_stage,
        "recent": state.recent_errors,
    }


async def status(ctx: Context, args: dict[str, Any], progress: Progress) -> StatusReply:
    state = ctx.state
    figures: _Figures = await ctx.status_cache.get(ctx)
    roots = [_root_status(r, figures.counts.get(r.id) or _RootCounts()) for r in state.roots]
    return {
        "state": "paused" if state.paused else state.phase,
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - state.started_at, 1),
        "config_file": str(ctx.config.source) if ctx.config.source else None,
        "http": state.http_address,
        "catalog": {
            "url": ctx.engine.url.render_as_string(),
            "counted_at": figures.counted_at,
            "bytes": _catalog_bytes(ctx),
            "problem": state.catalog_problem or None,
        },
        "roots": roots,
        "inotify": figures.inotify,
        "pending": _pending(ctx, figures.stages),
        "metadata": {
            "idle": ctx.metadata.idle.is_set(),
            "extracted": ctx.metadata.done,
            "failed": ctx.metadata.failed,
            "failed_items": figures.stages.metadata_failed,
        },
        "thumbnails": _thumbnails(ctx, figures.stages),
        "verify": _verify(ctx, figures.stages),
        "jobs": [_with_eta(j.progress()) for j in state.jobs.values()],
        "totals": _totals(state),
        "errors": _errors(state, roots, figures.stages),
        "targets": ctx.notify.status() if ctx.notify else [],
    }


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True) if url else url
    except ArgumentError:
        return url


async def config(ctx: Context, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The settings in force (the file's, the environment's and the command line's, with the
    paths found at start), so that `mediaforgectl doctor` checks this daemon's roots, catalog
    and folders rather than guessing them from its own environment."""
    values = settings_of(ctx.config)
    values["database_url"] = _without_password(values["database_url"])
    return {
        "pid": os.getpid(),
        "version": __version__,
        # Absolute: the doctor asking runs in another folder than the daemon.
        "config_file": str(ctx.config.source.absolute()) if ctx.config.source else None,
        "catalog": ctx.engine.url.render_as_string(hide_password=True),
        "settings": values,
    }


COMMANDS: dict[str, Spec] = {"status": Spec(status), "config": Spec(config)}
