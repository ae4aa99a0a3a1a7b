"""Plugins: classes named by entry points in the group ``mediaforged.plugins``, fed from the
change log like a target (own cursor ``plugin:NAME``, at-least-once).

A plugin may define ``on_event(event)`` (each change, a dict as ``mediaforgectl events
--json`` prints it), ``on_scan_complete(items)`` (the changes of one page of the log, once
each was given to ``on_event``) and ``on_metadata_extracted(item, metadata)`` (an item whose
metadata was read: the ``extracted`` events the metadata stage records while plugins are
installed, with the item's metadata row as it is when the plugin is told). Hooks run in the
plugin's own thread, never on the event loop: one that raises or takes longer than
``plugin_timeout`` is logged, its thread abandoned, and the plugin made again after a
backoff; the cursor stays before the page, so the page is given again. Indexing never
waits for a plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.events import EventHub
from mediaforged.catalog.schema import EXTRACTED
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.notify.cursors import (
    head,
    load_cursor,
    metadata_of,
    read_changes,
    save_cursor,
)
from mediaforged.protocol.targets import PluginHealth

__all__ = ["GROUP", "HOOKS", "Plugins"]

log = structlog.get_logger("mediaforged.plugins")

GROUP = "mediaforged.plugins"
HOOKS = ("on_event", "on_scan_complete", "on_metadata_extracted")
_BACKOFF_CAP_S = 300.0


class _Worker:
    """One thread running a plugin's hooks in turn; abandoned (a daemon thread) if it hangs."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Callable[[Any, Any], None]]] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._run, daemon=True, name="plugin").start()

    def _run(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done(fn(), None)
            except BaseException as exc:
                done(None, exc)

    async def call(self, fn: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def done(result: Any, exc: BaseException | None) -> None:
            def settle() -> None:
                if future.done():
                    return
                if exc is not None:
                    future.set_exception(exc)
                else:
                    future.set_result(result)

            loop.call_soon_threadsafe(settle)

        self._jobs.put((fn, done))
        return await future


class _Plugin:
    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name, self.factory = name, factory
        self.instance: Any = None
        self.hooks: list[str] = []
        self.state, self.last_error = "starting", ""
        self.calls = self.errors = self.timeouts = self.restarts = 0
        self.cursor = self.head = 0

    def status(self) -> PluginHealth:
        return {
            "name": self.name,
            "hooks": self.hooks,
            "state": self.state,
            "calls": self.calls,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "cursor": self.cursor,
            "lag": max(self.head - self.cursor, 0),
        }


def discover() -> list[_Plugin]:
    found = []
    for point in entry_points(group=GROUP):
        found.append(_Plugin(point.name, functools.partial(_make_from, point)))
    return found


def _make_from(point: EntryPoint) -> Any:
    return point.load()()


class Plugins:
    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        hub: EventHub,
        timeout: float,
        found: list[_Plugin] | None = None,
    ) -> None:
        self._engine, self._writer, self._hub, self.timeout = engine, writer, hub, timeout
        self.plugins = discover() if found is None else found

    def status(self) -> list[PluginHealth]:
        return [p.status() for p in self.plugins]

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for plugin in self.plugins:
                tg.create_task(self._follow(plugin), name=f"plugin:{plugin.name}")

    async def _follow(self, plugin: _Plugin) -> None:
        key = f"plugin:{plugin.name}"
        cursor = await load_cursor(self._engine, key)
        if cursor is None:
            cursor = await head(self._engine)
            await save_cursor(self._writer, key, cursor)
        plugin.cursor = plugin.head = cursor
        delay = 1.0
        while True:
            worker = _Worker()
            try:
                await self._make(plugin, worker)
                await self._feed(plugin, worker, key)
            except Exception as exc:  # a plugin's fault: logged, restarted
                plugin.errors += 0 if isinstance(exc, TimeoutError) else 1
                plugin.timeouts += 1 if isinstance(exc, TimeoutError) else 0
                why = f"timed out after {self.timeout:g} s" if isinstance(exc, TimeoutError) else ""
                plugin.last_error = why or f"{type(exc).__name__}: {exc}"
                plugin.state = "restarting"
                log.warning(
                    "plugin_failed", plugin=plugin.name, error=plugin.last_error, retry_in_s=delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_CAP_S)
            plugin.restarts += 1

    async def _make(self, plugin: _Plugin, worker: _Worker) -> None:
        async with asyncio.timeout(self.timeout):
            plugin.instance = await worker.call(plugin.factory)
        plugin.hooks = [h for h in HOOKS if callable(getattr(plugin.instance, h, None))]

    async def _feed(self, plugin: _Plugin, worker: _Worker, key: str) -> None:
        on_event = getattr(plugin.instance, "on_event", None)
        on_scan = getattr(plugin.instance, "on_scan_complete", None)
        on_meta = getattr(plugin.instance, "on_metadata_extracted", None)
        while True:
            tick = self._hub.tick
            changes, last, count = await read_changes(
                self._engine, plugin.cursor, extracted=callable(on_meta)
            )
            plugin.head = max(plugin.head, last)
            read = [c.item for c in changes if c.kind == EXTRACTED and c.item is not None]
            metadata = await metadata_of(self._engine, read)
            events = []
            for change in changes:  # in the order of the log
                if change.kind != EXTRACTED:
                    events.append(event := change.as_json())
                    if callable(on_event):
                        await self._call(plugin, worker, functools.partial(on_event, event))
                elif callable(on_meta) and (found := metadata.get(change.item or 0)):
                    call = functools.partial(on_meta, change.as_json(), found)
                    await self._call(plugin, worker, call)
            if events and callable(on_scan):
                await self._call(plugin, worker, functools.partial(on_scan, events))
            plugin.state = "ok"
            if last != plugin.cursor:
                await save_cursor(self._writer, key, last)
                plugin.cursor = last
            if count < 500:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tick.wait(), 60)

    async def _call(self, plugin: _Plugin, worker: _Worker, fn: Callable[[], Any]) -> None:
        plugin.calls += 1
        async with asyncio.timeout(self.timeout):
            await worker.call(fn)
