"""The daemon: ``run(config, stop)`` wires the pipeline in one TaskGroup; ``main()`` adds signals.

Start-up order: migrate the catalog, listen on the socket, arm the watches, READY=1, then
reconcile every root (which can take hours on a big library; status reports it).
Shutdown order: stop accepting, stop the sources (watcher, reconciler), stop indexing,
commit what the writer holds, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged import __version__
from mediaforged.catalog.db import (
    CatalogUnwritable,
    check_and_backup,
    create_engine,
    database_url,
    migrate,
    private_state,
    storage_error,
)
from mediaforged.catalog.events import EventHub
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.config import Config
from mediaforged.control.commands import COMMANDS
from mediaforged.control.commands.status import StatusCache
from mediaforged.control.context import Context
from mediaforged.control.server import ControlServer
from mediaforged.daemon.notify import Notifier, heartbeat
from mediaforged.daemon.reload import Reloader, configure_root, load_roots, mark_shared_devices
from mediaforged.fs.hashpool import HashPool
from mediaforged.http.server import HttpServer
from mediaforged.metrics import Metrics, serve_metrics
from mediaforged.notify.manager import Notify
from mediaforged.pipeline.indexer import Indexer
from mediaforged.pipeline.metadata import MetadataStage
from mediaforged.pipeline.settle import Settler
from mediaforged.pipeline.thumbnails import ThumbnailStage, adopt_old_folder
from mediaforged.sources.reconcile import Reconciler
from mediaforged.sources.scheduler import Scheduler
from mediaforged.sources.watcher import Watcher
from mediaforged.state import DaemonState, JobKind, Phase, RootState

__all__ = ["Parts", "build", "run"]

log = structlog.get_logger("mediaforged")

READY_TIMEOUT_S = 30.0


async def run(
    config: Config,
    stop: asyncio.Event,
    notifier: Notifier | None = None,
    overrides: Mapping[str, Any] | None = None,
    reload: asyncio.Event | None = None,
) -> int:
    """Run until ``stop`` is set (or, with ``once``, until the first reconcile is done).
    Setting ``reload`` re-reads the config (``overrides`` are the command line's)."""
    notifier = notifier or Notifier()
    url = database_url(config.database_url, config.state_dir)
    for change in private_state(config.state_dir, url, config.thumbnail_dir):
        event = "permissions_too_open" if change.after is None else "permissions_tightened"
        log.warning(event, **change.as_log())
    engine = create_engine(url)
    try:
        backup = await check_and_backup(engine, config.state_dir / "backups")
        if backup is not None:
            log.info("catalog_backed_up", path=str(backup))
        try:
            before, after = await migrate(engine)
        except DBAPIError as exc:
            if exc.orig is not None and storage_error(exc.orig) is not None:
                raise CatalogUnwritable(f"{engine.url.database}: {exc.orig}") from exc
            raise
        if before != after:
            log.info("catalog_migrated", url=engine.url.render_as_string(), from_=before, to=after)
        if config.thumbnail_dir is not None:
            old = config.state_dir / "thumbnails"
            if done := await adopt_old_folder(engine, old, config.thumbnail_dir):
                log.warning(
                    "thumbnails_relocated", old=str(old), new=str(config.thumbnail_dir), how=done
                )
        state = DaemonState(await load_roots(engine, config.roots))
        for root in state.roots:
            configure_root(root, config)
            log.info(
                "root", path=str(root.path), watch_mode=root.watch_mode, why=root.watch_mode_reason
            )
        await mark_shared_devices(state.roots)
        parts = build(config, engine, state, notifier=notifier, overrides=overrides)
        return await _serve(parts, stop, notifier, reload)
    finally:
        await engine.dispose()


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

    def indexing_busy() -> bool:
        return not indexer.idle or writer.waiting > 0 or reconciler.current is not None

    notify = Notify(config, engine, writer, events, state, metrics=metrics)
    metadata, thumbnails = _stages(config, engine, writer, indexing_busy, metrics, notify=notify)
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


async def _serve(
    parts: Parts, stop: asyncio.Event, notifier: Notifier, reload: asyncio.Event | None
) -> int:
    state, server = parts.state, parts.server
    http = HttpServer(parts.ctx)
    await server.start()
    try:
        http.start()  # binds http_listen: HttpBindError (exit 6) before anything runs
        async with asyncio.TaskGroup() as tg:
            writer_task = tg.create_task(parts.writer.run(), name="writer")
            indexer_task = tg.create_task(parts.indexer.run(), name="indexer")
            http_task = tg.create_task(http.serve(), name="http")
            sources = await _start(tg, parts, stop, notifier, reload)
            await stop.wait()

            # Graceful shutdown, in order (see the module docstring).
            state.phase = Phase.STOPPING
            notifier.stopping()
            log.info("stopping")
            await http.close()
            await http_task  # open requests get a few seconds, event streams are ended
            await server.close()
            parts.reconciler.stopping.set()
            parts.pool.cancel()
            await _cancel(sources)
            await _cancel([indexer_task])
            await parts.writer.close()  # commits the batch it holds and everything queued
            await writer_task
    finally:
        await http.close()
        await server.close()
        await asyncio.to_thread(parts.pool.close)
    log.info("stopped", indexed=state.indexed, commits=state.commits)
    return 0


async def _start(
    tg: asyncio.TaskGroup,
    parts: Parts,
    stop: asyncio.Event,
    notifier: Notifier,
    reload: asyncio.Event | None,
) -> list[asyncio.Task[Any]]:
    """Start the sources and the stages in order: watches armed, READY=1, then the startup
    reconcile of every root; the tasks returned are the ones shutdown cancels."""
    config, state = parts.config, parts.state
    sources = [
        tg.create_task(parts.reconciler.run(), name="reconciler"),
        tg.create_task(parts.settler.run(), name="settler"),
    ]
    if config.metrics_listen:  # GET /metrics without a token (the HTTP API's needs one)
        sources.append(tg.create_task(serve_metrics(parts.ctx, config.metrics_listen)))
    if config.watch and state.roots:
        sources.append(tg.create_task(parts.watcher.run(), name="watcher"))
        try:
            await asyncio.wait_for(parts.watcher.armed.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            log.warning("watches_slow_to_arm", timeout_s=READY_TIMEOUT_S)
    notifier.ready()
    log.info(
        "ready",
        version=__version__,
        socket=str(config.socket_path),
        http=state.http_address,
        roots=[str(r.path) for r in state.roots],
    )
    state.phase = Phase.SCANNING
    startup = [parts.reconciler.request(r, None, JobKind.STARTUP) for r in state.roots]
    sources.append(tg.create_task(parts.metadata.run(), name="metadata"))
    if parts.thumbnails is not None:
        sources.append(tg.create_task(parts.thumbnails.run(), name="thumbnails"))
    stages = (parts.metadata, parts.thumbnails)
    sources.append(tg.create_task(_after_startup(state, startup, stop, config, stages)))
    if not config.once:
        sources.append(tg.create_task(parts.scheduler.run(), name="scheduler"))
    if reload is not None:
        sources.append(tg.create_task(parts.reloader.follow(reload), name="reload"))

    def pending() -> int:
        return parts.indexer.waiting + len(parts.settler) + parts.writer.waiting

    sources.append(tg.create_task(heartbeat(notifier, state, pending)))
    sources.append(tg.create_task(parts.notify.run(), name="notify"))  # stops before the writer
    return sources


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _after_startup(
    state: DaemonState,
    jobs: list[Any],
    stop: asyncio.Event,
    config: Config,
    stages: tuple[MetadataStage, ThumbnailStage | None],
) -> None:
    await asyncio.gather(*(j.wait() for j in jobs))
    state.phase = Phase.WATCHING if config.watch else Phase.IDLE
    log.info("startup_reconcile_done", roots=len(jobs))
    if config.once:
        # A one-shot run leaves no metadata behind (pending counts a batch until committed).
        metadata, thumbnails = stages

        async def pending() -> int:
            return await metadata.pending() + (await thumbnails.pending() if thumbnails else 0)

        while await pending():  # noqa: ASYNC110 - the catalog, not an event, says "done"
            await asyncio.sleep(0.2)
        log.info("metadata_done", extracted=metadata.done, failed=metadata.failed)
        stop.set()
