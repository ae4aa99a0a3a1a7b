"""The daemon: ``run(config, stop)`` wires the pipeline in one TaskGroup; ``main()`` adds signals.

Start-up order: migrate the catalog, listen on the socket, arm the watches, READY=1, then
reconcile every root (which can take hours on a big library; status reports it).
Shutdown order: stop accepting, stop the sources (watcher, reconciler), stop indexing,
commit what the writer holds, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

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
from mediaforged.config import Config
from mediaforged.daemon.notify import Notifier, heartbeat
from mediaforged.daemon.parts import Parts, build
from mediaforged.daemon.reload import (
    configure_root,
    load_roots,
    mark_shared_devices,
)
from mediaforged.http.server import HttpServer
from mediaforged.metrics import serve_metrics
from mediaforged.pipeline.metadata import MetadataStage
from mediaforged.pipeline.thumbnails import ThumbnailStage, adopt_old_folder
from mediaforged.state import DaemonState, JobKind, Phase

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
    if parts.ctx.similar is not None:
        sources.append(tg.create_task(parts.ctx.similar.run(), name="signatures"))
    assert parts.ctx.verifier is not None  # build() made one
    sources.append(tg.create_task(parts.ctx.verifier.run(), name="verify"))
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
