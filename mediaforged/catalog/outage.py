"""While the catalog cannot be written (disk full, read-only, failing): how the writer waits
for it, and what it tells the writes a user waits on.

Indexing simply waits (back-pressure) and is retried as soon as the catalog's file system
has more room, not only when the backoff is over; on SQLite the WAL is first copied into
the catalog and truncated, since its file keeps its largest size otherwise. A durable write
(what a user waits on) is refused at once with ``CatalogUnwritable`` and withdrawn, so it is
never applied later behind the back of a user who was told it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog import sql
from mediaforged.catalog.writes import Entry, Write
from mediaforged.state import DaemonState

__all__ = ["CatalogUnwritable", "Outage", "free_bytes", "wait_for_space"]

log = structlog.get_logger("mediaforged.writer")
T = TypeVar("T")
_SPACE_CHECK_S = 0.25  # how often a waiting writer looks at the free space
_SPACE_GAIN = 256 * 1024  # this much more free space is worth an attempt at once


class CatalogUnwritable(Exception):
    """A write a user waits on, refused because the catalog cannot be written now; it is
    withdrawn: never applied later."""


def free_bytes(folder: Path | None) -> int | None:
    """Bytes still free for an unprivileged writer on ``folder``'s file system, or None."""
    if folder is None:
        return None
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


async def wait_for_space(
    folder: Path | None, at_most_s: float, stop: asyncio.Event, free_before: int | None
) -> bool:
    """Wait up to ``at_most_s`` seconds, less if ``stop`` is set or the file system of
    ``folder`` gained room since ``free_before`` (its free bytes when the write failed).
    True when space was freed."""
    deadline = time.monotonic() + at_most_s
    while (remaining := deadline - time.monotonic()) > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(remaining, _SPACE_CHECK_S))
            return False
        now = free_bytes(folder)
        if free_before is not None and now is not None and now >= free_before + _SPACE_GAIN:
            return True
    return False


class Outage:
    """The writer's view of whether the catalog can be written, and the durable writes it
    would have to refuse if it turns unwritable."""

    def __init__(self, engine: AsyncEngine, state: DaemonState) -> None:
        self._state = state
        self._durable: set[Write[Any]] = set()  # durable writes not settled yet
        self.problem = ""  # what stops the catalog from being written; "" while it can be
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._folder = Path(database).parent if database else None  # whose free space counts
        self._wal = Path(f"{database}-wal") if database else None

    def refusal(self) -> CatalogUnwritable:
        return CatalogUnwritable(
            f"{self.problem}: the change was not made; free space on the catalog's disk "
            "and try again"
        )

    async def durable(self, write: Write[T], put: asyncio.Future[None]) -> T:
        """Wait for a durable write that ``put`` is queueing: its outcome, or the refusal
        when the catalog turns unwritable before it commits (the queue may be full then:
        waiting for room in it would hang the user)."""
        self._durable.add(write)
        try:
            await asyncio.wait((put, write.future), return_when=asyncio.FIRST_COMPLETED)
            return await write.future
        finally:
            self._durable.discard(write)
            if not put.done():
                put.cancel()

    def begin(self, problem: str, error: BaseException | None, left: list[Entry]) -> None:
        """A write failed for the storage: say so in status, and refuse every durable write
        not committed yet (the user is told now); the rest of ``left`` waits for it."""
        if not self.problem:
            log.error("catalog_unwritable", problem=problem, error=str(error))
        self.problem = f"{problem} ({error})"
        self._state.catalog_problem = f"{self.problem}; indexing waits for it"
        for write in self._durable:
            write.withdraw(self.refusal())
        self._durable.clear()
        left[:] = [e for e in left if not (isinstance(e, Write) and e.withdrawn)]

    async def committed(self, conn: AsyncConnection) -> None:
        """A batch committed: the catalog can be written (again). When the WAL holds more
        than its disk has left, copy it into the catalog and truncate it now, while the copy
        still fits: once the disk is full it would need room that nothing can free."""
        if self.problem:
            log.info("catalog_writable_again", after=self._state.catalog_problem)
        self.problem = self._state.catalog_problem = ""
        try:
            wal = self._wal.stat().st_size if self._wal is not None else 0
        except OSError:
            return
        free = free_bytes(self._folder)
        if wal >= _SPACE_GAIN and free is not None and wal > free:
            await self._checkpoint(conn)

    async def wait(self, conn: AsyncConnection, at_most_s: float, stop: asyncio.Event) -> None:
        """Make what room the WAL holds, wait until the next attempt is due (after
        ``at_most_s`` seconds, or at once when space was freed, by that or by anyone), and
        let the WAL's copy have the room first: a retry would fill it with more WAL."""
        free = free_bytes(self._folder)
        await self._checkpoint(conn)
        if await wait_for_space(self._folder, at_most_s, stop, free):
            await self._checkpoint(conn)

    @staticmethod
    async def _checkpoint(conn: AsyncConnection) -> None:
        """Copy the WAL into the catalog and truncate it: its file keeps its largest size
        otherwise, and on a first import it holds the whole catalog (no checkpoint is due
        below 16 MB), so freeing less than it holds would not be enough."""
        if conn.dialect.name != "sqlite":
            return
        try:
            busy, frames, copied = await sql.checkpoint_truncate(conn)
            log.debug("wal_checkpoint", busy=busy, frames=frames, copied=copied)
        except sqlite3.Error as exc:  # still no room for the copy: tried again next time
            log.debug("wal_checkpoint_failed", error=str(exc))
