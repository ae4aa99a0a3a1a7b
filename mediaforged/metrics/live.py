"""The series read from the running daemon when a scrape comes: a custom collector.

Roots, queues and counters are read from the live objects as they are (no copy kept up to
date). The catalog's counts are the status cache's (``control/commands/status.py``: counted
again only after commits, in the background while work streams in), and the change log's
head is looked up again only after a commit: a scrape runs no heavy query of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from mediaforged import __version__
from mediaforged.catalog.schema import MEDIA_TYPES, events
from mediaforged.protocol import ItemStatus, Phase, WatchMode, WatchState
from mediaforged.state import DaemonState, RootState

if TYPE_CHECKING:
    from mediaforged.control.context import Context

__all__ = [
    "ERROR_CODES",
    "EXTRACTED_TYPES",
    "QUEUE_STAGES",
    "RECONCILE_SCOPES",
    "LiveCollector",
    "bounded",
    "root_label",
]

EXTRACTED_TYPES = ("image", "audio", "video")  # the types with metadata and thumbnails
RECONCILE_SCOPES = ("full", "quick", "partial")
QUEUE_STAGES = ("settle", "index", "hashing", "write", "reconcile", "metadata", "thumbnail")
# The codes each stage records on a file or folder; any other counts as "other".
ERROR_CODES: dict[str, tuple[str, ...]] = {
    "index": ("permission_denied", "io_error", "changed_during_read", "cancelled", "other"),
    "reconcile": ("unreadable_dir", "other"),
    "metadata": (
        "unreadable",
        "corrupt",
        "timeout",
        "not_an_image",
        "not_audio",
        "not_video",
        "decompression_bomb",
        "no_tool",
        "tool_failed",
        "other",
    ),
    "thumbnail": ("timeout", "corrupt", "decompression_bomb", "no_frame", "no_tool", "other"),
}
_RECONCILE_CODES = frozenset({"unreadable_dir"})  # what state.record_error gets from a walk


def bounded(value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``other``: a label never grows unbounded."""
    return value if value in allowed else "other"


def root_label(root: RootState, roots: Sequence[RootState]) -> str:
    """A root's label: its folder's name, never its path (``name#id`` when two roots share
    a name)."""
    name = root.path.name or "root"
    if sum((r.path.name or "root") == name for r in roots) > 1:
        return f"{name}#{root.id}"
    return name


@dataclass(frozen=True, slots=True)
class Now:
    """What one scrape reads that needs an await: the status cache's figures, the log head."""

    ctx: Context
    figures: Any  # control.commands.status._Figures
    head: int


class LiveCollector(Collector):
    """Yields the live series while ``reading`` a ``Now`` (``Metrics.render``); nothing else."""

    def __init__(self, state: DaemonState) -> None:
        self._state = state
        self._now: Now | None = None
        self._head, self._head_at = 0, -1
        # Errors the metadata and thumbnail stages reported (index and walk errors are
        # counted by the state itself, in record_error).
        self._errors = {(stage, code): 0 for stage, codes in ERROR_CODES.items() for code in codes}

    def count_error(self, stage: str, code: str) -> None:
        key = (stage, bounded(code, ERROR_CODES[stage]))
        self._errors[key] += 1

    async def gather(self, ctx: Context) -> Now:
        figures = await ctx.status_cache.get(ctx)
        commits = ctx.writer.commit_count  # before the query: a later commit is news
        if commits != self._head_at:
            async with ctx.engine.connect() as conn:
                self._head = await conn.scalar(select(func.max(events.c.id))) or 0
            self._head_at = commits
        return Now(ctx, figures, self._head)

    @contextmanager
    def reading(self, now: Now) -> Iterator[None]:
        self._now = now
        try:
            yield
        finally:
            self._now = None

    def collect(self) -> Iterator[Metric]:
        now = self._now
        if now is None:
            return
        yield from self._daemon()
        yield from self._catalog(now)
        yield from self._work(now)
        yield from self._queues(now)
        yield from self._roots()
        yield from self._events(now)

    def _daemon(self) -> Iterator[Metric]:
        state = self._state
        info = GaugeMetricFamily("mediaforge_info", "The daemon's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "mediaforge_start_time_seconds", "When the daemon started (Unix time).",
            value=state.started_at,
        )  # fmt: skip
        phase = GaugeMetricFamily(
            "mediaforge_phase", "1 for what the daemon is doing, 0 for the rest.", labels=["phase"]
        )
        for each in Phase:
            phase.add_metric([each], float(state.phase is each))
        yield phase
        yield _gauge("mediaforge_paused", "1 while every root is paused.", state.paused)
        yield _gauge(
            "mediaforge_catalog_writable",
            "0 while the catalog cannot be written (its disk is full, read-only, failing).",
            not state.catalog_problem,
        )

    def _catalog(self, now: Now) -> Iterator[Metric]:
        roots = self._state.roots
        items = GaugeMetricFamily(
            "mediaforge_items",
            "Catalogued items, by root, media type and status.",
            labels=["root", "media_type", "status"],
        )
        size = GaugeMetricFamily(
            "mediaforge_catalogued_bytes",
            "Bytes of the present items, by root and media type.",
            labels=["root", "media_type"],
        )
        for root in roots:
            label = root_label(root, roots)
            per = now.figures.counts.get(root.id)
            counts: dict[tuple[str, str], int] = per.by_type_status if per else {}
            sizes: dict[str, int] = per.bytes_by_media_type if per else {}
            for media_type in MEDIA_TYPES:
                for status in ItemStatus:
                    items.add_metric(
                        [label, media_type, status], counts.get((media_type, status), 0)
                    )
                size.add_metric([label, media_type], sizes.get(media_type, 0))
        yield items
        yield size

    def _work(self, now: Now) -> Iterator[Metric]:
        state = self._state
        for name, help_text, value in (
            ("files_indexed", "Files indexed (catalogued new or changed).", state.indexed),
            ("files_hashed", "Files whose content was hashed.", state.hashed),
            ("hashed_bytes", "Bytes read to hash files.", state.hashed_bytes),
            ("files_unchanged", "Files looked at and found unchanged.", state.skipped_unchanged),
            ("files_moved", "Files recognised as moved or renamed.", state.moved),
            ("items_marked_missing", "Items marked missing.", state.marked_missing),
            ("items_purged", "Missing items purged after their grace.", state.purged),
            ("index_failures", "Files that could not be indexed.", state.failed),
            ("commits", "Catalog transactions committed.", state.commits),
        ):
            yield CounterMetricFamily(f"mediaforge_{name}", help_text + " Since start.", value)
        thumbs = now.ctx.thumbnails
        made = CounterMetricFamily(
            "mediaforge_thumbnails",
            "Thumbnails made, shared (same content), failed and removed, since start.",
            labels=["outcome"],
        )
        for outcome in ("made", "shared", "failed", "removed"):
            made.add_metric([outcome], getattr(thumbs, outcome) if thumbs is not None else 0)
        yield made
        errors = CounterMetricFamily(
            "mediaforge_errors",
            "Errors recorded on files and folders since start, by stage and error code.",
            labels=["stage", "code"],
        )
        counted = dict(self._errors)
        for code, n in state.errors_by_code.items():
            stage = "reconcile" if code in _RECONCILE_CODES else "index"
            key = (stage, bounded(code, ERROR_CODES[stage]))
            counted[key] = counted.get(key, 0) + n
        for (stage, code), n in counted.items():
            errors.add_metric([stage, code], n)
        yield errors

    def _queues(self, now: Now) -> Iterator[Metric]:
        ctx, stages = now.ctx, now.figures.stages
        depth = GaugeMetricFamily(
            "mediaforge_queue_depth",
            "Work waiting in each stage (hashing: files being hashed now; metadata and "
            "thumbnail: catalogued items still without one).",
            labels=["stage"],
        )
        for stage, value in zip(
            QUEUE_STAGES,
            (
                len(ctx.settler),
                ctx.indexer.waiting,
                ctx.indexer.in_flight,
                ctx.writer.waiting,
                ctx.reconciler.queued,
                stages.metadata,
                stages.thumbnails,
            ),
            strict=True,
        ):
            depth.add_metric([stage], value)
        yield depth
        running = sum(not j.complete for j in self._state.jobs.values())
        yield _gauge("mediaforge_jobs_running", "Reconcile and rescan jobs running.", running)
        usage = now.figures.inotify
        for name, key, help_text in (
            ("watches", "watches", "Inotify watches the daemon holds (NaN: unknown)."),
            ("watches_limit", "limit", "The inotify watch limit in force (NaN: unknown)."),
        ):
            value = usage.get(key)
            yield _gauge(
                f"mediaforge_inotify_{name}", help_text, math.nan if value is None else value
            )

    def _roots(self) -> Iterator[Metric]:
        roots = self._state.roots
        labels = [root_label(r, roots) for r in roots]
        for name, help_text, values in (
            ("online", "1 while the root is reachable.", [r.online for r in roots]),
            ("paused", "1 while the root is paused.", [r.paused for r in roots]),
            ("watched_folders", "Folders with an inotify watch.", [r.watch_folders for r in roots]),
        ):
            family = GaugeMetricFamily(f"mediaforge_root_{name}", help_text, labels=["root"])
            for label, value in zip(labels, values, strict=True):
                family.add_metric([label], float(value))
            yield family
        state = GaugeMetricFamily(
            "mediaforge_root_watch_state",
            "1 for how the root is watched now (off, inotify, poll, failed), 0 for the rest.",
            labels=["root", "state"],
        )
        mode = GaugeMetricFamily(
            "mediaforge_root_watch_mode",
            "1 for the watch mode chosen for the root (inotify, poll), 0 for the other.",
            labels=["root", "mode"],
        )
        overflows = CounterMetricFamily(
            "mediaforge_watch_overflows",
            "Times the kernel's event queue overflowed (or a stall made it likely), each "
            "caught up at once with a quick reconcile; since start.",
            labels=["root"],
        )
        restarts = CounterMetricFamily(
            "mediaforge_watch_restarts", "Times the root's watch was re-armed.", labels=["root"]
        )
        for root, label in zip(roots, labels, strict=True):
            for each in WatchState:
                state.add_metric([label, each], float(root.watch is each))
            for chosen in WatchMode:
                mode.add_metric([label, chosen], float(root.watch_mode is chosen))
            overflows.add_metric([label], root.watch_overflows)
            restarts.add_metric([label], root.watch_restarts)
        yield from (state, mode, overflows, restarts)

    def _events(self, now: Now) -> Iterator[Metric]:
        hub = now.ctx.events
        yield _gauge("mediaforge_event_log_cursor", "The newest change-log cursor.", now.head)
        yield _gauge("mediaforge_event_subscribers", "Change-log subscribers.", len(hub.cursors))
        lag = GaugeMetricFamily(
            "mediaforge_event_subscriber_lag",
            "Events each subscriber has still to be sent (subscriber: a slot number, reused).",
            labels=["subscriber"],
        )
        lags = {slot: max(now.head - cursor, 0) for slot, cursor in hub.cursors.items()}
        for slot, behind in sorted(lags.items()):
            lag.add_metric([str(slot)], behind)
        yield lag
        yield _gauge(
            "mediaforge_event_subscriber_lag_max",
            "Events the furthest subscriber has still to be sent (0: none behind).",
            max(lags.values(), default=0),
        )


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=float(value))
