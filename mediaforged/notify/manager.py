"""Every target of the config (and the plugins), as the daemon runs them: made by
``daemon.parts.build``, run in its TaskGroup, read by the ``targets`` and ``plugins`` commands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.events import EventHub
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.config import Config
from mediaforged.notify.cursors import save_cursor
from mediaforged.notify.plugins import Plugins
from mediaforged.notify.servers import make_sender
from mediaforged.notify.target import RESULTS, Target
from mediaforged.protocol.targets import PluginHealth, TargetHealth, TargetTestReply
from mediaforged.settings.targets import TargetSpec
from mediaforged.state import DaemonState

__all__ = ["Notify", "Series"]

log = structlog.get_logger("mediaforged.notify")


class Series(Protocol):
    """The metrics the targets feed (``metrics.Metrics``; its type only: no import)."""

    def notified(self, target: str, result: str) -> None: ...

    def add_consumers(
        self, lags: dict[str, Callable[[], float]], results: Iterable[str] = ()
    ) -> None: ...

    def drop_consumer(self, name: str, results: Iterable[str] = ()) -> None: ...


class Notify:
    """The targets and the plugins; ``run`` follows the change log for each until cancelled.
    ``reconfigure`` (a reload) starts the targets added, stops the ones removed and starts
    the changed ones again: each goes on from its stored cursor (a new one from the head)."""

    def __init__(
        self,
        config: Config,
        engine: AsyncEngine,
        writer: CatalogWriter,
        hub: EventHub,
        state: DaemonState,
        *,
        metrics: Series | None = None,
    ) -> None:
        self._engine, self._writer, self._hub, self._state = engine, writer, hub, state
        self._metrics = metrics
        self._client = httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": "mediaforged"}
        )
        self.targets: dict[str, Target] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None
        for spec in config.targets:
            self._add(spec)
        found = Plugins(engine, writer, hub, config.plugin_timeout)
        self.plugins = found if found.plugins else None

    def _observe(self, target: str, result: str) -> None:
        if self._metrics is not None:
            self._metrics.notified(target, result)

    def _add(self, spec: TargetSpec) -> None:
        target = Target(
            spec,
            make_sender(spec, self._client),
            self._engine,
            self._writer,
            hub=self._hub,
            state=self._state,
            observe=self._observe,
        )
        self.targets[spec.name] = target
        if self._metrics is not None:  # the lag is read at scrape time
            lag = lambda: float(max(target.head - target.saved, 0))  # noqa: E731
            self._metrics.add_consumers({spec.name: lag}, RESULTS)
        if self._tg is not None:
            self._start(spec.name)

    def _start(self, name: str) -> None:
        assert self._tg is not None
        run = self.targets[name].run
        self._tasks[name] = self._tg.create_task(_supervised(name, run), name=f"target:{name}")

    async def _stop(self, name: str, *, drop: bool) -> None:
        """Stop a target; its cursor row stays (a target configured again goes on from it);
        ``drop``: its series go too (it was removed, not changed)."""
        target = self.targets.pop(name)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if target.ready.is_set() and target.committed > target.saved:
            await save_cursor(self._writer, target.key, target.committed)  # fewer repeats
        if drop and self._metrics is not None:
            self._metrics.drop_consumer(name, RESULTS)

    async def reconfigure(self, config: Config) -> dict[str, list[str]]:
        """Apply a reloaded config's ``[[targets]]`` (and ``plugin_timeout``)."""
        want = {spec.name: spec for spec in config.targets}
        removed = [name for name in self.targets if name not in want]
        changed = [
            n for n, spec in want.items() if n in self.targets and self.targets[n].spec != spec
        ]
        added = [name for name in want if name not in self.targets]
        for name in (*removed, *changed):
            await self._stop(name, drop=name in removed)
        for name in (*changed, *added):
            self._add(want[name])
        if self.plugins is not None:
            self.plugins.timeout = config.plugin_timeout
        result = {"targets_added": added, "targets_removed": removed, "targets_changed": changed}
        if added or removed or changed:
            log.info("targets_reloaded", **result)
        return result

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for name in list(self.targets):
                    self._start(name)
                if self.plugins is not None:
                    tg.create_task(_supervised("plugins", self.plugins.run), name="plugins")
                await asyncio.Future()  # until cancelled: a reload may add targets
        finally:
            self._tg = None
            with contextlib.suppress(Exception):
                await self._client.aclose()

    def status(self) -> list[TargetHealth]:
        return [t.status() for t in self.targets.values()]

    def plugin_status(self) -> list[PluginHealth]:
        return [] if self.plugins is None else self.plugins.status()

    async def test(self, name: str, path: str, send: bool) -> TargetTestReply:
        return await self.targets[name].test(path, send)


async def _supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Run a follower again after an unexpected error (the catalog busy, a bug), with backoff:
    one target must never end the daemon."""
    delay = 1.0
    while True:
        try:
            await run()
            return
        except Exception as exc:
            log.exception("target_crashed", target=name, error=str(exc), retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 300.0)
