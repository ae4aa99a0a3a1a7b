"""A stage behind the catalog write whose queue is a query on the catalog.

The metadata and thumbnail stages share this loop: while indexing is busy, wait; else read
the next page of pending items (keyset paging: ``id`` greater than the last one seen) and
hand it to the stage; when a page comes back empty, look once more from the start (content
may have changed behind us), then sleep on the writer's commits until the catalog changes.

``FailureLog`` logs the files a stage could not handle at warning, one line each, and a
summary in place of a burst (a folder of 10,000 broken files is one screen, not a flood).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.schema import media_items, media_metadata, roots
from mediaforged.catalog.writer import CatalogWriter

__all__ = ["CatalogStage", "FailureLog", "Observe", "items_with_metadata"]

_IDLE_POLL_S = 1.0  # while indexing is busy
_IDLE_MAX_S = 300.0  # a look at the catalog at least this often, even with no commits

# Told of each item a stage worked on: its media type, the seconds it took, and its error
# (None when it succeeded); the metrics' histograms (daemon/run.py passes them in).
Observe = Callable[[str, float, str | None], None]


def _unobserved(media_type: str, seconds: float, error: str | None) -> None:
    return None


class FailureLog:
    """A stage's failures at warning level (``journalctl -p warning`` lists them): one line
    per file, at most ``burst`` lines per ``window_s``; past that the files are counted, and
    one line says how many went unlogged when the window ends or the stage runs dry
    (``mediaforgectl failed`` lists every one)."""

    def __init__(self, logger: Any, event: str, burst: int = 20, window_s: float = 60.0) -> None:
        self._log = logger
        self._event = event
        self._burst = burst
        self._window_s = window_s
        self._started = -1e18
        self._lines = 0
        self.unlogged = 0  # failures in this window beyond the burst, not yet summarised

    def failed(self, **fields: object) -> None:
        now = time.monotonic()
        if now - self._started >= self._window_s:
            self.flush()
            self._started, self._lines = now, 0
        if self._lines < self._burst:
            self._lines += 1
            self._log.warning(self._event, **fields)
        else:
            self.unlogged += 1

    def flush(self) -> None:
        """Say how many failures went unlogged since the last line, if any."""
        if self.unlogged:
            self._log.warning(
                f"{self._event}_more",
                count=self.unlogged,
                hint="`mediaforgectl failed` lists every file that failed, with its error",
            )
            self.unlogged = 0


class CatalogStage(ABC):
    """Subclasses say what is pending (``_pending_query``, ordered by ``media_items.id``),
    what to do with a page of it (``_work``), and optionally what to do when the stage runs
    dry (``_ran_dry``); ``idle`` is set while nothing is pending."""

    _batch: ClassVar[int] = 64  # items a page

    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        *,
        busy: Callable[[], bool],
        observe: Observe | None = None,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._busy = busy
        self._observe = observe or _unobserved
        self.idle = asyncio.Event()
        self.failures: FailureLog | None = None  # a stage that logs its failures sets one

    @abstractmethod
    def _pending_query(self) -> Select[Any]:
        """The pending items, ordered by ``media_items.id``."""

    @abstractmethod
    async def _work(self, rows: Sequence[Row[Any]], executor: ThreadPoolExecutor) -> None:
        """Do one page; what it writes must be committed when this returns."""

    async def _ran_dry(self, executor: ThreadPoolExecutor) -> None:
        """Called at start and each time the stage runs out of work after doing some."""
        return  # nothing to tidy up by default

    async def pending(self) -> int:
        async with self._engine.connect() as conn:
            query = self._pending_query().with_only_columns(func.count())
            return int((await conn.execute(query)).scalar_one())

    async def _run(self, executor: ThreadPoolExecutor) -> None:
        after = 0
        worked = True  # the dry-run hook runs at start too
        while True:
            if self._busy():
                self.idle.clear()
                await asyncio.sleep(_IDLE_POLL_S)
                continue
            # Keyset paging (id > last seen): each query starts where the last one ended
            # instead of skipping every row that is already done.
            seen = self._writer.commit_count  # before the query: no commit slips between
            query = self._pending_query().where(media_items.c.id > after).limit(self._batch)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                if after:
                    after = 0  # one more pass from the start: content changed behind us
                    continue
                if worked:
                    if self.failures is not None:
                        self.failures.flush()  # the end of a burst: its count now
                    await self._ran_dry(executor)
                    worked = False
                self.idle.set()
                # Nothing to do until the catalog changes: sleep on the writer's commits
                # (polling a 100,000-item catalog every second cost 2.5 s of CPU a minute).
                await self._writer.wait_for_commit(seen, _IDLE_MAX_S)
                continue
            after = rows[-1].id
            self.idle.clear()
            worked = True
            await self._work(rows, executor)


def items_with_metadata() -> Select[Any]:
    """What the stages behind the metadata page over: present items whose metadata has been
    read, with what a stage needs to open and sign the file (each adds its own conditions)."""
    i, m = media_items.c, media_metadata.c
    return (
        select(
            i.id,
            i.path_key,
            i.media_type,
            i.file_hash,
            m.duration_s,
            roots.c.path.label("root_path"),
        )
        .select_from(
            media_items.join(media_metadata, m.item_id == i.id).join(roots, roots.c.id == i.root_id)
        )
        .where(i.status == "present", i.file_hash.is_not(None))
        .order_by(i.id)
    )
