"""Timed work: full and quick reconciles, rechecks of offline roots, and the purge of items
missing for longer than the grace period.

Events are the fast path, but the kernel drops them silently when its queue overflows, so a
quick reconcile (folder mtimes; only changed folders are listed) runs on an interval, and a
full one (every file's size and mtime) on a longer one. Intervals change on reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog import changelog
from mediaforged.catalog.schema import media_items
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.sources.reconcile import Reconciler
from mediaforged.state import DaemonState, JobKind, WatchState

__all__ = ["Scheduler"]

log = structlog.get_logger("mediaforged.scheduler")

_PURGE_EVERY_MAX_S = 3600.0
_RECHECK_MAX_S = 30.0


class Scheduler:
    def __init__(
        self,
        state: DaemonState,
        reconciler: Reconciler,
        writer: CatalogWriter,
        *,
        full_interval: float,
        quick_interval: float,
        poll_interval: float,
        grace_days: float,
    ) -> None:
        self._state = state
        self._reconciler = reconciler
        self._writer = writer
        self._wake = asyncio.Event()
        self._next: dict[str, float] = {}
        self.configure(full_interval, quick_interval, poll_interval, grace_days)

    def configure(
        self, full_interval: float, quick_interval: float, poll_interval: float, grace_days: float
    ) -> None:
        """Set the intervals (0 turns a duty off); the next run of each counts from now."""
        self.full_interval = full_interval
        self.quick_interval = quick_interval
        self.recheck_interval = min(poll_interval, _RECHECK_MAX_S)
        self.grace = timedelta(days=grace_days)
        # Purge checks at a quarter of the grace period, at most hourly, at least every second.
        self.purge_interval = max(1.0, min(_PURGE_EVERY_MAX_S, grace_days * 86400 / 4))
        now = time.monotonic()
        self._next = {
            "full": now + full_interval if full_interval > 0 else float("inf"),
            "quick": now + quick_interval if quick_interval > 0 else float("inf"),
            "recheck": now + self.recheck_interval,
            "purge": now + self.purge_interval,
        }
        self._wake.set()

    async def run(self) -> None:
        duties: dict[str, tuple[Callable[[], Any], Callable[[], float]]] = {
            "full": (self._full, lambda: self.full_interval),
            "quick": (self._quick, lambda: self.quick_interval),
            "recheck": (self._recheck, lambda: self.recheck_interval),
            "purge": (self._purge, lambda: self.purge_interval),
        }
        while True:
            self._wake.clear()
            delay = min(self._next.values()) - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(delay, 86400.0))
                continue
            now = time.monotonic()
            for name, (duty, interval) in duties.items():
                if self._next[name] <= now:
                    every = interval()
                    self._next[name] = now + every if every > 0 else float("inf")
                    await duty()

    async def _full(self) -> None:
        for root in self._state.roots:
            self._reconciler.request(root, None, JobKind.PERIODIC)

    async def _quick(self) -> None:
        for root in self._state.roots:
            # Polled roots have their own loop.
            if root.online and root.watch is not WatchState.POLL:
                self._reconciler.request(root, None, JobKind.QUICK, quick=True)

    async def _recheck(self) -> None:
        """An offline root comes back by itself when its share is mounted again."""
        for root in self._state.roots:
            if not root.online:
                self._reconciler.request(root, None, JobKind.RECHECK)

    async def _purge(self) -> None:
        cutoff = datetime.now(UTC) - self.grace
        state = self._state

        async def apply(conn: AsyncConnection) -> None:
            gone = (media_items.c.status == "missing", media_items.c.missing_since < cutoff)
            await changelog.record_where(conn, "purged", datetime.now(UTC), *gone)
            result = await conn.execute(delete(media_items).where(*gone))
            if result.rowcount:
                state.purged += result.rowcount
                log.info("purged", items=result.rowcount, missing_before=cutoff.isoformat())

        # Through the writer, like every other write: one writer, no lock contention.
        await self._writer.submit(apply)
