"""Roots from the config, and the live reload (SIGHUP or `mediaforgectl reload`).

A reload re-reads the config file and applies, without a restart: the roots (added ones
are watched and reconciled; removed ones stop being watched), excludes, watch modes, settle
time, intervals, the mass-missing guard, the read cap, the log level and ``[[targets]]`` (an
added target goes on from its stored cursor, or starts at the head of the change log; a
removed one stops, its cursor kept). An invalid new
config is logged and the old one kept.

A root removed from the config (at a reload, or between two runs) keeps its items, but they
go ``offline``: not present, so not counted, searched or shown as duplicates, until the root
is configured again (they are present again at once, and its reconcile catches up) or
``mediaforgectl roots forget ROOT`` drops them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import media_items
from mediaforged.catalog.schema import roots as roots_table
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.config import Config, ConfigError, load_config
from mediaforged.daemon.logs import configure_logging
from mediaforged.daemon.notify import Notifier
from mediaforged.fs.fsio import exclusion_matcher
from mediaforged.fs.guard import FsGuard, FsTimeout
from mediaforged.fs.hashpool import HashPool
from mediaforged.fs.mounts import watch_mode_for
from mediaforged.notify.manager import Notify
from mediaforged.pipeline.settle import Settler
from mediaforged.protocol import ItemStatus
from mediaforged.sources.reconcile import Reconciler
from mediaforged.sources.scheduler import Scheduler
from mediaforged.sources.watcher import Watcher
from mediaforged.state import DaemonState, JobKind, RootState, WatchMode

__all__ = [
    "Reloader",
    "configure_root",
    "load_roots",
    "mark_shared_devices",
    "sync_items",
    "take_offline",
]

log = structlog.get_logger("mediaforged.reload")

# Settings a reload cannot change in a running daemon.
_RESTART_ONLY = (
    *("state_dir", "database_url", "socket_path", "socket_mode", "socket_group"),
    *("workers", "batch_size", "queue_size", "watch", "watch_debounce_ms"),
    "events_keep_days",
    "metrics_listen",
)


async def load_roots(
    engine: AsyncEngine, paths: tuple[Path, ...], *, every: bool = True
) -> list[RootState]:
    """The roots' rows (created on first sight) as RootStates, with what the catalog knew.
    With ``every`` (at start: ``paths`` are all the configured roots), their offline items
    (the root was removed from the config before) are present again, and the present items
    of any other root the catalog knows go offline (a reload does both through the writer)."""
    out: list[RootState] = []
    async with engine.begin() as conn:
        for path in paths:
            out.append(await _root_state(conn, path))
        if every:
            await sync_items(conn, [r.id for r in out], [r.id for r in out])
    return out


async def _root_state(conn: AsyncConnection, path: Path) -> RootState:
    row = (await conn.execute(select(roots_table).where(roots_table.c.path == str(path)))).first()
    if row is None:
        result = await conn.execute(insert(roots_table).values(path=str(path)))
        assert result.inserted_primary_key is not None
        return RootState(result.inserted_primary_key[0], path, os.fsencode(path))
    at: datetime | None = row.last_reconcile_at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return RootState(
        row.id,
        path,
        os.fsencode(path),
        last_reconcile_at=at.timestamp() if at else None,
        last_reconcile_s=row.last_reconcile_s,
        last_reconcile_files=row.last_reconcile_files,
    )


async def _root_items(
    conn: AsyncConnection, root_ids: Sequence[int], before: ItemStatus, after: ItemStatus
) -> int:
    c = media_items.c
    if not root_ids:
        return 0
    result = await conn.execute(
        update(media_items).where(c.root_id.in_(root_ids), c.status == before).values(status=after)
    )
    return max(result.rowcount, 0)


async def sync_items(
    conn: AsyncConnection, added: Sequence[int], configured: Sequence[int]
) -> dict[str, int]:
    """The items of the roots ``added`` (ids) back from offline, then ``take_offline``."""
    back = await _root_items(conn, added, ItemStatus.OFFLINE, ItemStatus.PRESENT)
    if back:
        log.info("root_items_back", items=back)
    return await take_offline(conn, configured)


async def take_offline(conn: AsyncConnection, configured: Sequence[int]) -> dict[str, int]:
    """The present items of every root in the catalog but not in ``configured`` (ids) go
    offline; returns {root path: items that went offline} for those that had any."""
    others = await conn.execute(
        select(roots_table.c.id, roots_table.c.path).where(roots_table.c.id.not_in(configured))
    )
    gone: dict[str, int] = {}
    for root_id, path in list(others):
        count = await _root_items(conn, [root_id], ItemStatus.PRESENT, ItemStatus.OFFLINE)
        if count:
            gone[path] = count
            log.warning(
                "root_removed_items_offline",
                root=path,
                items=count,
                fix=f"configure it again, or `mediaforgectl roots forget {path}`",
            )
    return gone


def configure_root(root: RootState, config: Config) -> bool:
    """Apply the root's excludes and watch mode; True when the watch mode changed."""
    root.excluded = exclusion_matcher(config.exclude_of(root.path))
    mode, reason = watch_mode_for(root.path, config.watch_mode_of(root.path))
    changed = mode != root.watch_mode
    root.watch_mode, root.watch_mode_reason = WatchMode(mode), reason
    return changed


# A root that does not answer its stat in this time is taken to share its device (the safe
# answer: it only costs catalog lookups of new files by inode). Waiting longer would hold
# the start (the socket does not listen yet) or the reload; the reconcile reports the hang.
_DEVICE_TIMEOUT_S = 2.0


async def mark_shared_devices(
    roots: list[RootState], guard: Callable[[RootState], FsGuard] | None = None
) -> None:
    """Set each root's ``shares_device``. The stats run in threads, through ``guard``'s
    FsGuard of each root (fresh ones when None), all at once: a hung root costs one timeout."""

    async def device(root: RootState) -> int | None:
        fs = guard(root) if guard is not None else FsGuard(str(root.path))
        try:
            st = await fs.call(os.stat, root.key, timeout=_DEVICE_TIMEOUT_S)
        except (OSError, FsTimeout):
            return None  # offline or hung now: assume the worst
        return st.st_dev

    found = await asyncio.gather(*(device(root) for root in roots))
    devices: dict[int | None, int] = {}
    for dev in found:
        devices[dev] = devices.get(dev, 0) + 1
    for root, dev in zip(roots, found, strict=True):
        root.shares_device = dev is None or devices[dev] > 1


@dataclass
class Reloader:
    config: Config
    overrides: Mapping[str, Any]
    engine: AsyncEngine
    state: DaemonState
    reconciler: Reconciler
    settler: Settler
    watcher: Watcher
    scheduler: Scheduler
    pool: HashPool
    notifier: Notifier
    # The catalog's writer, for the status changes of removed and re-added roots' items
    # (None: written directly, as at start).
    writer: CatalogWriter | None = None
    # The notify targets: a reload starts the added ones and stops the removed ones.
    notify: Notify | None = None

    async def follow(self, requested: asyncio.Event) -> None:
        """Reload each time ``requested`` is set (SIGHUP)."""
        while True:
            await requested.wait()
            requested.clear()
            await self()

    async def __call__(self) -> dict[str, Any]:
        """Re-read the config and apply it; the result says what changed and what did not."""
        self.notifier.reloading()
        try:
            return await self._reload()
        finally:
            self.notifier.ready()

    async def _reload(self) -> dict[str, Any]:
        old = self.config
        try:
            fresh = load_config(old.source, overrides=self.overrides).replace(once=old.once)
        except ConfigError as exc:
            log.error("reload_failed", error=str(exc), kept="the running configuration")
            return {"ok": False, "error": str(exc)}
        configure_logging(fresh.log_level, fresh.log_format)
        added, removed = await self._sync_roots(fresh)
        restarted = [
            str(root.path)
            for root in self.state.roots
            if configure_root(root, fresh) and root.path not in added
        ]
        await mark_shared_devices(self.state.roots, self.reconciler.fs)
        for path_text in restarted:
            root = next(r for r in self.state.roots if str(r.path) == path_text)
            self.watcher.restart(root)
        self.watcher.sync()
        self.watcher.poll_interval = fresh.poll_interval
        self.settler.settle_seconds = fresh.settle_seconds
        self.reconciler.guard_share = fresh.missing_guard_share
        self.reconciler.guard_min = fresh.missing_guard_min
        self.reconciler.set_fs_timeout(fresh.fs_timeout)
        self.scheduler.configure(
            fresh.reconcile_interval,
            fresh.quick_reconcile_interval,
            fresh.poll_interval,
            fresh.missing_grace_days,
        )
        self.pool.set_read_limit(fresh.read_limit_mb)
        for root in self.state.roots:
            if root.path in added:
                self.reconciler.request(root, None, JobKind.STARTUP)
        needs_restart = [n for n in _RESTART_ONLY if getattr(fresh, n) != getattr(old, n)]
        self.config = fresh
        result: dict[str, Any] = {
            "ok": True,
            "roots_added": [str(p) for p in added],
            "roots_removed": [str(p) for p in removed],
            "watch_restarted": restarted,
            "needs_restart": needs_restart,
        }
        if self.notify is not None:
            result.update(await self.notify.reconfigure(fresh))
        log.info("reloaded", **result)
        return result

    async def _sync_roots(self, fresh: Config) -> tuple[list[Path], list[Path]]:
        have = {root.path for root in self.state.roots}
        want = set(fresh.roots)
        added = [p for p in fresh.roots if p not in have]
        removed = [root.path for root in self.state.roots if root.path not in want]
        if removed:
            self.state.roots[:] = [r for r in self.state.roots if r.path in want]
        new_roots: list[RootState] = []
        if added:
            new_roots = await load_roots(self.engine, tuple(added), every=False)
            for root in new_roots:
                configure_root(root, fresh)
            self.state.roots.extend(new_roots)
        if added or removed:  # before the added roots' reconciles load their snapshots
            await self._write(
                self._sync_items([r.id for r in new_roots], [r.id for r in self.state.roots])
            )
        return added, removed

    @staticmethod
    def _sync_items(
        added: list[int], configured: list[int]
    ) -> Callable[[AsyncConnection], Awaitable[dict[str, int]]]:
        async def apply(conn: AsyncConnection) -> dict[str, int]:
            return await sync_items(conn, added, configured)

        return apply

    async def _write(self, fn: Callable[[AsyncConnection], Awaitable[Any]]) -> None:
        if self.writer is not None:
            await self.writer.transaction(fn)
            return
        async with self.engine.begin() as conn:
            await fn(conn)
