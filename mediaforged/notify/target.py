"""One target: follows the change log from its durable cursor and tells its server, per folder.

- Changes are gathered per folder and sent once the folder has been quiet for ``debounce``
  seconds (at the latest ``_MAX_WAIT_FACTOR`` debounces after its first change), one folder at a
  time, in the order of the log within a folder.
- The cursor saved is the one before the oldest change not yet delivered: a restart, a kill -9
  between a send and the save, or a server down for a day loses nothing; at worst a folder is
  told twice (at-least-once).
- A folder of a root that is offline, or held by the mass-missing guard, waits (nothing is
  said of it) until the root is back and no longer held.
- A transient failure is retried with exponential backoff capped at ``BACKOFF_CAP_S``; a
  permanent one (401, an endpoint that does not exist) stops the target, shown in
  ``targets``; a path outside every path_map, or in no library of the server, is reported
  and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.events import EventHub
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.notify.cursors import head, load_cursor, read_changes, save_cursor
from mediaforged.notify.model import Batch, Change, NotHere, Permanent, Transient, translate
from mediaforged.notify.senders import Sender
from mediaforged.protocol.targets import TargetHealth, TargetTestReply
from mediaforged.settings.targets import TargetSpec
from mediaforged.state import DaemonState

__all__ = ["BACKOFF_CAP_S", "RESULTS", "Target"]

log = structlog.get_logger("mediaforged.notify")

RESULTS = ("ok", "retry", "failed", "skipped")  # mediaforge_notify_requests_total{result}
BACKOFF_CAP_S = 300.0
_BACKOFF_FIRST_S = 1.0
_MAX_WAIT_FACTOR = 6  # a folder that never goes quiet is sent after this many debounces
_MAX_PATHS = 500  # a folder with more changes is sent as the folder alone
_MAX_FOLDERS = 5000  # pending folders beyond which the log is not read further (memory)
_SAVE_EVERY_S = 1.0  # the cursor is written at most this often
_HELD_RECHECK_S = 5.0  # how often a held folder's root is looked at again
_TEST_CONFIRM_S = 5.0  # how long `targets test --send` waits for the server's confirmation

Observe = Callable[[str, str], None]  # (target, result)


@dataclass(slots=True)
class _Folder:
    batch: Batch
    first: int  # the cursor of its oldest change
    first_at: float
    last_at: float
    attempts: int = 0
    retry_at: float = 0.0


@dataclass(slots=True)
class _Health:
    state: str = "starting"
    last_success: float | None = None
    last_error: str = ""
    last_error_at: float | None = None
    last_skipped: str = ""
    confirmation: str = ""
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))


class Target:
    def __init__(
        self,
        spec: TargetSpec,
        sender: Sender,
        engine: AsyncEngine,
        writer: CatalogWriter,
        *,
        hub: EventHub,
        state: DaemonState,
        observe: Observe = lambda _t, _r: None,
    ) -> None:
        self.spec, self.sender = spec, sender
        self._engine, self._writer, self._hub, self._state = engine, writer, hub, state
        self._observe = observe
        self.key = f"target:{spec.name}"
        self.health = _Health()
        self._folders: dict[str, _Folder] = {}
        self.read = 0  # the last event read
        self.saved = 0  # the cursor in the catalog
        self.head = 0
        self._saved_at = 0.0
        self._resume = asyncio.Event()
        self._confirming: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # the cursor is loaded

    # -- following the log ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._follow()
        finally:
            if self._confirming is not None:
                self._confirming.cancel()

    async def _follow(self) -> None:
        cursor = await load_cursor(self._engine, self.key)
        self.head = await head(self._engine)
        if cursor is None:  # a new target starts at the head: it is not told the past
            cursor = self.head
            await save_cursor(self._writer, self.key, cursor)
        self.read = self.saved = cursor
        self.health.state = "ok"
        self.ready.set()
        while True:
            tick = self._hub.tick
            more = False
            if len(self._folders) < _MAX_FOLDERS:
                changes, self.read, count = await read_changes(self._engine, self.read)
                more = count == 500
                self.head = max(self.head, self.read)
                if more:
                    self.head = await head(self._engine)
                for change in changes:
                    self._add(change)
            if self.health.state == "failed":
                await self._resume.wait()
                self._resume.clear()
                continue
            await self._flush_due()
            await self._save()
            if more:
                continue
            wake = self._next_wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), wake)

    def _wanted(self, change: Change) -> bool:
        if self.spec.types and change.media_type not in self.spec.types:
            return False
        return not self.spec.roots or any(
            change.path.startswith(root.rstrip("/") + "/") for root in self.spec.roots
        )

    def _add(self, change: Change) -> None:
        if not self._wanted(change):
            return
        folder = posixpath.dirname(change.path)
        now = time.monotonic()
        pending = self._folders.get(folder)
        if pending is None:
            server = translate(folder, self.spec.path_map)
            if server is None:
                self._skipped(change.path, "outside every path_map: not sent")
                return
            batch = Batch(folder, server)
            pending = self._folders[folder] = _Folder(batch, change.cursor, now, now)
        batch = pending.batch
        pending.last_at = now
        if batch.whole:
            return
        server_path = translate(change.path, self.spec.path_map)
        if server_path is None:
            return
        batch.changes.append(change)
        batch.paths[change.path] = server_path
        if len(batch.paths) > _MAX_PATHS:
            batch.whole, batch.changes, batch.paths = True, [], {}

    def _due_at(self, folder: _Folder) -> float:
        debounce = self.spec.debounce
        quiet = min(folder.last_at + debounce, folder.first_at + _MAX_WAIT_FACTOR * debounce)
        return max(quiet, folder.retry_at)

    def _held(self, folder: str) -> str:
        """Why a folder must wait (its root offline or guarded), or ""."""
        root = self._state.root_for(os.fsencode(folder))
        if root is None:
            return ""
        if not root.online:
            return f"root {root.path} is offline"
        if root.held:
            return f"root {root.path} is held by the mass-missing guard"
        return ""

    def _next_wake(self) -> float | None:
        now = time.monotonic()
        times = [self._due_at(f) for f in self._folders.values()]
        if self.saved != self.committed:
            times.append(self._saved_at + _SAVE_EVERY_S)
        if not times:
            return None
        return max(min(times) - now, 0.01)

    async def _flush_due(self) -> None:
        held_any = ""
        for name, folder in list(self._folders.items()):
            if self._due_at(folder) > time.monotonic():
                continue
            if why := self._held(name):
                held_any = why
                folder.retry_at = time.monotonic() + _HELD_RECHECK_S
                continue
            await self._deliver(name, folder)
            if self.health.state == "failed":
                return
        if held_any:
            self.health.state = "held"
            self.health.last_error = held_any
        elif self.health.state == "held":
            self.health.state = "ok"

    async def _deliver(self, name: str, folder: _Folder) -> None:
        batch = folder.batch
        try:
            sent = await self.sender.send(batch)
        except NotHere as exc:
            self._skipped(batch.folder, str(exc))
            del self._folders[name]
        except Transient as exc:
            folder.attempts += 1
            delay = min(_BACKOFF_FIRST_S * 2 ** (folder.attempts - 1), BACKOFF_CAP_S)
            folder.retry_at = time.monotonic() + delay
            self._error("retry", str(exc), retry_in_s=delay)
            self.health.state = "retrying"
        except Permanent as exc:
            self._error("failed", str(exc))
            self.health.state = "failed"
            log.error("target_failed", target=self.spec.name, error=str(exc))
        else:
            del self._folders[name]
            self.health.requests["ok"] += sent
            for _ in range(sent):
                self._observe(self.spec.name, "ok")
            self.health.last_success = time.time()
            self.health.state = "ok"
            log.info(
                "target_sent",
                target=self.spec.name,
                folder=batch.server_folder,
                changes=len(batch.changes),
                requests=sent,
            )
            self._watch()

    def _watch(self) -> None:
        """Watch the server's scan of what was just sent (a newer send replaces it)."""
        if self._confirming is not None:
            self._confirming.cancel()
        self._confirming = asyncio.create_task(self._confirm(), name=f"confirm:{self.spec.name}")

    async def _confirm(self) -> None:
        def report(text: str) -> None:
            self.health.confirmation = text

        try:
            await self.sender.confirm(report)
        except (Transient, Permanent, NotHere) as exc:
            report(f"could not tell: {exc}")

    def _error(self, result: str, text: str, **extra: float) -> None:
        self.health.requests[result] += 1
        self._observe(self.spec.name, result)
        self.health.last_error, self.health.last_error_at = text, time.time()
        log.warning("target_error", target=self.spec.name, result=result, error=text, **extra)

    def _skipped(self, path: str, why: str) -> None:
        self.health.requests["skipped"] += 1
        self._observe(self.spec.name, "skipped")
        self.health.last_skipped = f"{path}: {why}"
        log.warning("target_skipped", target=self.spec.name, path=path, why=why)

    @property
    def committed(self) -> int:
        """The cursor before the oldest change not yet delivered."""
        if not self._folders:
            return self.read
        return min(f.first for f in self._folders.values()) - 1

    async def _save(self) -> None:
        cursor = self.committed
        if cursor == self.saved or time.monotonic() - self._saved_at < _SAVE_EVERY_S:
            return
        await save_cursor(self._writer, self.key, cursor)
        self.saved, self._saved_at = cursor, time.monotonic()

    # -- what the commands see ----------------------------------------------------------------

    def status(self) -> TargetHealth:
        h = self.health
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "state": h.state,
            "last_success": h.last_success,
            "last_error": h.last_error,
            "last_error_at": h.last_error_at,
            "last_skipped": h.last_skipped,
            "confirmation": h.confirmation,
            "requests": dict(h.requests),
            "cursor": self.saved,
            "head": self.head,
            "lag": max(self.head - self.saved, 0),
            "pending_folders": len(self._folders),
        }

    async def test(self, path: str, send: bool) -> TargetTestReply:
        """What a change of ``path`` would send (and, with ``send``, send it)."""
        isdir = await asyncio.to_thread(os.path.isdir, path)
        folder = path.rstrip("/") if isdir else posixpath.dirname(path)
        reply: TargetTestReply = {
            "target": self.spec.name,
            "path": path,
            "translated": translate(path, self.spec.path_map),
            "folder": translate(folder, self.spec.path_map),
            "library": None,
            "requests": [],
            "sent": False,
        }
        if reply["translated"] is None or reply["folder"] is None:
            reply["error"] = "outside every path_map: a change here is reported, not sent"
            return reply
        change = Change(0, "changed", path)
        batch = Batch(folder, reply["folder"], [] if isdir else [change], {}, whole=isdir)
        if not isdir:
            batch.paths[path] = reply["translated"]
        try:
            reply["library"], requests = await self.sender.plan(batch)
            reply["requests"] = [dict(r.shown()) for r in requests]
            if send:
                await self.sender.send(batch)
                reply["sent"] = True
                said: list[str] = []
                with contextlib.suppress(TimeoutError):  # a few seconds of it; then status
                    async with asyncio.timeout(_TEST_CONFIRM_S):
                        await self.sender.confirm(said.append)
                reply["confirmation"] = said[-1] if said else None
                self._watch()  # the rest shows in `targets`
                if self.health.state == "failed":  # the server takes it again
                    self.health.state = "ok"
                    self._resume.set()
        except (NotHere, Transient, Permanent) as exc:
            reply["error"] = str(exc)
        return reply
