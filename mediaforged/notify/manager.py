"""Every target of the config (and the plugins), as the daemon runs them: made by
``daemon.parts.build``, run in its TaskGroup, read by the ``targets`` and ``plugins`` commands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.events import EventHub
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.config import Config
from mediaforged.notify.plugins import Plugins
from mediaforged.notify.servers import make_sender
from mediaforged.notify.target import RESULTS, Observe, Target
from mediaforged.protocol.targets import PluginHealth, TargetHealth, TargetTestReply
from mediaforged.state import DaemonState

__all__ = ["Notify"]

log = structlog.get_logger("mediaforged.notify")


class Notify:
    """The targets and the plugins; ``run`` follows the change log for each until cancelled."""

    def __init__(
        self,
        config: Config,
        engine: AsyncEngine,
        writer: CatalogWriter,
        hub: EventHub,
        state: DaemonState,
        *,
        observe: Observe = lambda _t, _r: None,
    ) -> None:
        specs = config.targets
        self._client = httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": "mediaforged"}
        )
        self.targets = {
            spec.name: Target(
                spec,
                make_sender(spec, self._client),
                engine,
                writer,
                hub=hub,
                state=state,
                observe=observe,
            )
            for spec in specs
        }
        found = Plugins(engine, writer, hub, config.plugin_timeout)
        self.plugins = found if found.plugins else None

    def series(self) -> tuple[dict[str, Callable[[], float]], tuple[str, ...]]:
        """Each target's lag (read at scrape time) and the results its requests count by."""

        def lag(target: Target) -> Callable[[], float]:
            return lambda: float(max(target.head - target.saved, 0))

        return {name: lag(t) for name, t in self.targets.items()}, RESULTS

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for name, target in self.targets.items():
                    tg.create_task(_supervised(name, target.run), name=f"target:{name}")
                if self.plugins is not None:
                    tg.create_task(_supervised("plugins", self.plugins.run), name="plugins")
        finally:
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
