"""Thumbnails: WebP, long edge ``size`` px, named by the file's SHA-256, made in their own stage.

``<dir>/ab/cd/abcd....webp``: duplicates share one file and a rename costs nothing. Each is
written to a temporary name and renamed into place, so a reader never sees half a file.
The stage runs after the metadata stage has nothing left (a library is searchable first),
one bounded batch at a time; ``media_metadata.thumb_status`` is its queue (NULL: pending).
Files no item refers to any more are removed when the stage runs dry. A failure is stored
as ``thumb_error`` = ``"code: message"`` (``timeout``, ``corrupt`` or the extractor's code),
so ``mediaforgectl failed`` can group it; ``retry`` clears it and the stage tries again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Row, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import hash_key, media_items, media_metadata
from mediaforged.catalog.sql import chunks
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.extract.common import ExtractError
from mediaforged.extract.decoding import decoding
from mediaforged.extract.thumbnail import make_thumbnail, save_webp, thumbnail_path
from mediaforged.fs.fsio import display_path
from mediaforged.fs.modes import private_dir
from mediaforged.pipeline.stage import CatalogStage, FailureLog, Observe, items_with_metadata

__all__ = ["ThumbnailStage"]

log = structlog.get_logger("mediaforged.thumbnails")

_Result = tuple[str, str | None, str | None]  # thumb_status, thumb_error, thumb_source


class ThumbnailStage(CatalogStage):
    _batch = 32

    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        folder: Path,
        *,
        busy: Callable[[], bool],
        size: int = 320,
        workers: int = 1,
        timeout_s: float = 60.0,
        observe: Observe | None = None,
    ) -> None:
        super().__init__(engine, writer, busy=busy, observe=observe)
        self.folder = folder
        self._size = size
        self._workers = workers
        self._limit = asyncio.Semaphore(workers)
        self._timeout = timeout_s
        self.made = 0
        self.shared = 0  # a duplicate's thumbnail already existed
        self.failed = 0
        self.removed = 0
        self.by_source: dict[str, int] = {}  # thumbnails made, by the step that made them
        self.failures = FailureLog(log, "thumbnail_failed")

    def path_of(self, sha256: str) -> Path:
        """Where the thumbnail of these bytes is (`info` and `search` show it)."""
        return thumbnail_path(self.folder, sha256)

    def _pending_query(self) -> Select[Any]:
        return items_with_metadata().where(media_metadata.c.thumb_status.is_(None))

    async def run(self) -> None:
        with ThreadPoolExecutor(self._workers + 1, thread_name_prefix="thumb") as executor:
            await self._run(executor)

    async def _ran_dry(self, executor: ThreadPoolExecutor) -> None:
        await self.remove_orphans(executor)  # at start, and each time the stage runs dry

    async def _work(self, rows: Sequence[Row[Any]], executor: ThreadPoolExecutor) -> None:
        by_hash: dict[str, asyncio.Task[_Result]] = {}
        results = []
        async with asyncio.TaskGroup() as tg:
            for row in rows:  # duplicates in one batch share one job
                if row.file_hash in by_hash:
                    self.shared += 1
                else:
                    by_hash[row.file_hash] = tg.create_task(self._make(row, executor))
                results.append((row.id, by_hash[row.file_hash]))
        done = [
            {
                "b_id": item_id,
                "status": task.result()[0],
                "error": task.result()[1],
                "source": task.result()[2],
            }
            for item_id, task in results
        ]
        await self._writer.transaction(_store(done), recount=False)  # seen by the next query

    async def _make(self, row: Any, executor: ThreadPoolExecutor) -> _Result:
        async with self._limit:
            return await self._make_one(row, executor)

    async def _make_one(self, row: Any, executor: ThreadPoolExecutor) -> _Result:
        dest = thumbnail_path(self.folder, row.file_hash)
        if dest.exists():
            self.shared += 1
            return "ok", None, None
        loop = asyncio.get_running_loop()
        root = os.fsencode(row.root_path)  # the file is opened from its root, never by path
        began = time.monotonic()

        async def run(call: Callable[[], Any]) -> Any:
            return await asyncio.wait_for(loop.run_in_executor(executor, call), self._timeout)

        try:
            with decoding(row.path_key):  # what a C library writes to stderr names this file
                made = await make_thumbnail(
                    row.path_key,
                    row.media_type,
                    self._size,
                    root=root,
                    duration=row.duration_s,
                    time_limit=self._timeout,
                    run=run,
                )
            if made.image is None:
                return "none", None, None
            await loop.run_in_executor(executor, save_webp, made.image, dest)
            self.made += 1
            self.by_source[made.source] = self.by_source.get(made.source, 0) + 1
            self._observe(row.media_type, time.monotonic() - began, None)
            return "ok", None, made.source
        except TimeoutError:
            error = f"timeout: longer than {self._timeout:g}s"
        except ExtractError as exc:
            if exc.code == "not_an_image":  # a format no step reads: nothing to show, no error
                return "none", None, None
            error = f"{exc.code}: {exc.message}"
        except Exception as exc:  # a hostile file can make a decoder raise anything
            error = f"corrupt: {type(exc).__name__}: {exc}"
        self.failed += 1
        code, _, message = error.partition(": ")
        self._observe(row.media_type, time.monotonic() - began, code)
        assert self.failures is not None
        self.failures.failed(
            path=display_path(row.path_key), stage="thumbnail", code=code, error=message
        )
        return "failed", error[:1000], None

    async def failed_items(self) -> int:
        """Present items whose thumbnail could not be made."""
        i, m = media_items.c, media_metadata.c
        query = (
            select(func.count())
            .select_from(media_items.join(media_metadata, m.item_id == i.id))
            .where(i.status == "present", m.thumb_status == "failed")
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def retry_items(self, ids: Sequence[int]) -> None:
        """``retry`` asks again: these items' failed thumbnails are pending once more
        (committed when this returns)."""

        async def apply(conn: AsyncConnection) -> None:
            m = media_metadata.c
            for chunk in chunks(list(ids)):
                await conn.execute(
                    update(media_metadata)
                    .where(m.item_id.in_(chunk), m.thumb_status == "failed")
                    .values(thumb_status=None, thumb_error=None)
                )

        if ids:
            await self._writer.transaction(apply, recount=False)

    async def remove_orphans(self, executor: ThreadPoolExecutor | None = None) -> int:
        """Delete thumbnails (and stray temporary files) that no item refers to."""
        loop = asyncio.get_running_loop()
        removed = 0
        for folder, names in await loop.run_in_executor(executor, _listing, self.folder):
            hashes = {n[:-5] for n in names if n.endswith(".webp") and len(n) == 69}
            keep = await self._referenced(hashes)
            doomed = [folder / n for n in names if n.startswith(".") or n[:-5] not in keep]
            if doomed:
                removed += await loop.run_in_executor(executor, _unlink_all, doomed)
        if removed:
            self.removed += removed
            log.info("thumbnails_removed", count=removed)
        return removed

    async def _referenced(self, hashes: set[str]) -> set[str]:
        if not hashes:
            return set()
        good = []
        for h in hashes:
            try:
                good.append((h, hash_key(h)))
            except ValueError:
                continue  # not a hash we wrote: an orphan
        c = media_items.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(c.file_hash).where(c.hash_key.in_([k for _, k in good]))
            )
            return {r.file_hash for r in rows} & hashes


def _listing(folder: Path) -> list[tuple[Path, list[str]]]:
    out: list[tuple[Path, list[str]]] = []
    if not folder.is_dir():
        return out
    for first in os.scandir(folder):
        if not first.is_dir(follow_symlinks=False):
            continue
        for second in os.scandir(first.path):
            if second.is_dir(follow_symlinks=False):
                out.append((Path(second.path), os.listdir(second.path)))
    return out


def _unlink_all(paths: list[Path]) -> int:
    count = 0
    for path in paths:
        try:
            path.unlink()
            count += 1
        except FileNotFoundError:
            continue
    return count


def _store(done: list[dict[str, Any]]) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def apply(conn: AsyncConnection) -> None:
        m = media_metadata.c
        await conn.execute(
            update(media_metadata)
            .where(m.item_id == bindparam("b_id"))
            .values(
                thumb_status=bindparam("status"),
                thumb_error=bindparam("error"),
                thumb_source=bindparam("source"),
            ),
            done,
        )

    return apply


async def adopt_old_folder(engine: AsyncEngine, old: Path, new: Path) -> str | None:
    """Thumbnails made in ``old`` (the state folder's, before they moved to systemd's cache
    folder or another ``thumbnail_dir``) follow to ``new``: renamed there where one rename
    can (the same mount; an empty ``new`` is replaced), else made again: their rows are
    reset and ``old`` is renamed aside (``thumbnails.unused``, for the user to delete), so
    that this happens once. Runs before the writer starts. What was done, or None."""
    try:
        with os.scandir(old) as entries:
            if old == new or next(entries, None) is None:
                return None
    except OSError:  # no old folder: nothing to adopt
        return None
    try:
        private_dir(new.parent)
        os.rename(old, new)
        return "moved"
    except OSError:  # another mount (systemd's StateDirectory and CacheDirectory), or not empty
        pass
    os.rename(old, old.with_name(old.name + ".unused"))
    async with engine.begin() as conn:
        await conn.execute(
            update(media_metadata)
            .where(media_metadata.c.thumb_status == "ok")
            .values(thumb_status=None, thumb_error=None)
        )
    return "remade"
