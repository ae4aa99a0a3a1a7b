"""The daemon's parts, made and handed their collaborators in one place (``build``).

Every part gets what it works with when it is made; nothing is patched on afterwards, so
the wiring can be read here top to bottom. ``daemon.run`` starts and stops them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.events import EventHub
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.config import Config
from mediaforged.control.commands import COMMANDS
from mediaforged.control.commands.status import StatusCache
from mediaforged.control.context import Context
from mediaforged.control.server import ControlServer
from mediaforged.daemon.notify import Notifier
from mediaforged.daemon.reload import Reloader
from mediaforged.fs.hashpool import HashPool
from mediaforged.metrics import Metrics
from mediaforged.notify.manager import Notify
from mediaforged.pipeline.indexer import Indexer
from mediaforged.pipeline.metadata import MetadataStage
from mediaforged.pipeline.settle import Settler
from mediaforged.pipeline.similar import SignatureStage
from mediaforged.pipeline.thumbnails import ThumbnailStage
from mediaforged.pipeline.verify import VerifyStage
from mediaforged.sources.reconcile import Reconciler
from mediaforged.sources.scheduler import Scheduler
from mediaforged.sources.watcher import Watcher
from mediaforged.state import DaemonState, RootState

__all__ = ["Parts", "build"]


@dataclass(frozen=True, slots=True)
class Parts:
    """Every part of a running daemon, each given its collaborators when it was made."""

    config: Config
    state: DaemonState
    writer: CatalogWriter
    pool: HashPool
    indexer: Indexer
    reconciler: Reconciler
    settler: Settler
    watcher: Watcher
    scheduler: Scheduler
    metadata: MetadataStage
    thumbnails: ThumbnailStage | None
    reloader: Reloader
    ctx: Context
    server: ControlServer
    notify: Notify


def build(
    config: Config,
    engine: AsyncEngine,
    state: DaemonState,
    *,
    notifier: Notifier,
    overrides: Mapping[str, Any] | None = None,
) -> Parts:
    """Make every part and hand each its collaborators; nothing is patched on afterwards."""
    events, metrics = EventHub(), Metrics(state, COMMANDS)
    writer, pool, indexer = _write_side(config, engine, state, events)
    sources = _sources(config, engine, state, writer, indexer, metrics=metrics)
    reconciler, settler, watcher, scheduler = sources

    def indexing_busy() -> bool:  # (the verifier reads the config in force: the reloader's)
        return not indexer.idle or writer.waiting > 0 or reconciler.current is not None

    notify = Notify(config, engine, writer, events, state, metrics=metrics)
    metadata, thumbnails = _stages(config, engine, writer, indexing_busy, metrics, notify=notify)
    similar = SignatureStage.behind(engine, writer, indexing_busy, (metadata, thumbnails))
    verifier = VerifyStage(
        engine, writer, indexing_busy, (metadata, thumbnails), lambda: reloader.config
    )
    reloader = Reloader(
        config,
        overrides or {},
        engine,
        state,
        reconciler,
        settler,
        watcher,
        scheduler,
        pool,
        notifier,
        writer=writer,
        notify=notify,
    )
    ctx = Context(
        reloader,
        state,
        engine,
        writer,
        indexer,
        reconciler,
        settler,
        metadata,
        thumbnails,
        events,
        StatusCache(),
        metrics,
        notify=notify,
        similar=similar,
        verifier=verifier,
    )
    return Parts(
        config,
        state,
        writer,
        pool,
        indexer,
        reconciler,
        settler,
        watcher,
        scheduler,
        metadata,
        thumbnails,
        reloader,
        ctx,
        ControlServer(ctx),
        notify,
    )


def _write_side(
    config: Config, engine: AsyncEngine, state: DaemonState, events: EventHub
) -> tuple[CatalogWriter, HashPool, Indexer]:
    writer = CatalogWriter(
        engine,
        state,
        batch_size=config.batch_size,
        batch_interval=config.batch_interval,
        queue_size=config.queue_size,
        # The writer and the indexer need each other: the closure reaches the indexer below
        # (the writer commits at once when indexing has nothing more coming).
        upstream_idle=lambda: indexer.idle,
        on_commit=events.notify,
        events_keep_s=config.events_keep_days * 86400,
    )
    pool = HashPool(config.workers, config.read_limit_mb)
    indexer = Indexer(
        engine, writer, state, pool, queue_size=config.queue_size, workers=config.workers
    )
    return writer, pool, indexer


def _sources(
    config: Config,
    engine: AsyncEngine,
    state: DaemonState,
    writer: CatalogWriter,
    indexer: Indexer,
    *,
    metrics: Metrics,
) -> tuple[Reconciler, Settler, Watcher, Scheduler]:
    def back_online(root: RootState) -> None:
        watcher.restart(root)  # the watcher made below: a root that came back is watched again

    reconciler = Reconciler(
        engine,
        indexer,
        writer,
        state,
        guard_share=config.missing_guard_share,
        guard_min=config.missing_guard_min,
        fs_timeout=config.fs_timeout,
        on_online=back_online if config.watch else None,
        observe=metrics.reconciled,
    )
    settler = Settler(
        state,
        indexer,
        writer,
        reconciler,
        settle_seconds=config.settle_seconds,
        limit=config.queue_size,
    )
    watcher = Watcher(
        state,
        settler,
        reconciler,
        debounce_ms=config.watch_debounce_ms,
        poll_interval=config.poll_interval,
    )
    scheduler = Scheduler(
        state,
        reconciler,
        writer,
        full_interval=config.reconcile_interval,
        quick_interval=config.quick_reconcile_interval if config.watch else 0.0,
        poll_interval=config.poll_interval,
        grace_days=config.missing_grace_days,
    )
    return reconciler, settler, watcher, scheduler


def _stages(
    config: Config,
    engine: AsyncEngine,
    writer: CatalogWriter,
    indexing_busy: Callable[[], bool],
    metrics: Metrics,
    *,
    notify: Notify,
) -> tuple[MetadataStage, ThumbnailStage | None]:
    metadata = MetadataStage(
        engine,
        writer,
        busy=indexing_busy,
        timeout_s=config.extract_timeout,
        workers=config.extract_workers,
        max_pixels=config.image_max_pixels,
        observe=metrics.extracted,
        record_extracted=notify.plugins is not None,  # on_metadata_extracted follows them
    )
    if not config.thumbnail_size:
        return metadata, None
    assert config.thumbnail_dir is not None
    thumbnails = ThumbnailStage(
        engine,
        writer,
        config.thumbnail_dir,
        # Behind the metadata: a library is searchable before its thumbnails are done.
        busy=lambda: indexing_busy() or not metadata.idle.is_set(),
        size=config.thumbnail_size,
        workers=config.thumbnail_workers,
        timeout_s=config.thumbnail_timeout,
        observe=metrics.thumbnailed,
    )
    return metadata, thumbnails
