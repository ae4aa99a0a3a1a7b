"""The metadata stage: fills ``media_metadata`` for catalogued items, behind the catalog write.

The catalog itself is the queue: an item of a media type that has an extractor and no
metadata row is pending (the writer deletes the row when an item's content changes). So the
stage never slows indexing, survives restarts without losing work, and uses no memory for
its backlog. It works only while indexing is idle: a library is searchable first, richer
later.

Images (Pillow) and audio (mutagen) are read in threads, video by ffprobe in a subprocess;
every file has its own timeout. A file that fails gets a metadata row that records the
error (so it is not tried again) and the error on its item (``media_items.error_code`` /
``error``; the item stays ``present``: it is catalogued, only its metadata is missing).
It is tried again when its content changes or when a rescan covers it (``retry_failed``).

With ``record_extracted`` (plugins are installed), each item whose metadata was read gets an
``extracted`` event in the change log, in the transaction that stores the metadata: the
plugins' ``on_metadata_extracted`` follows it from their durable cursors. One set-based
insert per page; none at all without plugins.

Whether a file is audio or video is settled by its streams (ffprobe's, when ffprobe reads
it): an item the hasher typed otherwise (an MPEG-TS holding only sound) gets the streams'
type in the transaction of its metadata, and the item counts by type are recounted.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row, Select, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.changelog import record_where
from mediaforged.catalog.schema import EXTRACTED, media_items, media_metadata, roots
from mediaforged.catalog.sql import chunks
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.extract.common import ExtractError
from mediaforged.extract.decoding import decoding
from mediaforged.extract.image import guard_bombs
from mediaforged.extract.read import extract_one, reader_for
from mediaforged.fs.fsio import display_path, under
from mediaforged.pipeline.stage import CatalogStage, FailureLog, Observe

__all__ = ["MetadataStage"]

log = structlog.get_logger("mediaforged.extract")

MEDIA_TYPES = ("image", "audio", "video")
_STREAM_TYPES = ("audio", "video")  # the types the streams decide between
_COLUMNS = {c.name for c in media_metadata.columns}


class MetadataStage(CatalogStage):
    _batch = 64

    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        *,
        busy: Callable[[], bool],
        timeout_s: float = 30.0,
        workers: int = 2,
        max_pixels: int = 178956970,
        observe: Observe | None = None,
        record_extracted: bool = False,
    ) -> None:
        super().__init__(engine, writer, busy=busy, observe=observe)
        self._record_extracted = record_extracted
        self._timeout = timeout_s
        self._workers = workers
        self._limit = asyncio.Semaphore(workers)
        guard_bombs(max_pixels)
        self.done = 0
        self.failed = 0
        self.failures = FailureLog(log, "extract_failed")

    def _pending_query(self) -> Select[Any]:
        i, m = media_items.c, media_metadata.c
        return (
            select(i.id, i.path_key, i.media_type, i.mime_type, roots.c.path.label("root_path"))
            .select_from(
                media_items.outerjoin(media_metadata, m.item_id == i.id).join(
                    roots, roots.c.id == i.root_id
                )
            )
            .where(
                m.item_id.is_(None),
                i.status == "present",
                i.media_type.in_(MEDIA_TYPES),
            )
            .order_by(i.id)
        )

    async def run(self) -> None:
        # Threads of our own: a file that hangs past its timeout holds one of these, never
        # a thread of the loop's default executor that the hashing or the writer need.
        with ThreadPoolExecutor(self._workers + 2, thread_name_prefix="extract") as executor:
            await self._run(executor)

    async def _work(self, rows: Sequence[Row[Any]], executor: ThreadPoolExecutor) -> None:
        results = await asyncio.gather(*(self._extract(r, executor) for r in rows))
        retyped = {
            row.id: kind
            for row, result in zip(rows, results, strict=True)
            if (kind := result.get("media_type")) in _STREAM_TYPES and kind != row.media_type
        }
        # Awaited: the next query must see these rows as done. Metadata and error codes
        # leave the item counts as they are; a corrected type does not.
        await self._writer.transaction(
            _store(results, retyped, self._record_extracted), recount=bool(retyped)
        )

    async def _extract(self, row: Row[Any], executor: ThreadPoolExecutor) -> dict[str, Any]:
        """A failure is data, never an exception. The file is opened from its root."""
        item_id, path, media_type, mime_type = row.id, row.path_key, row.media_type, row.mime_type
        root = os.fsencode(row.root_path)
        reader = reader_for(media_type, mime_type)
        if reader is None:  # a format we do not read: catalogued, no metadata, no error
            # A picture still gets a thumbnail if ffmpeg or an embedded preview can give one.
            thumb = None if media_type == "image" else "none"
            return {"item_id": item_id, "extra": {"unread": mime_type}, "thumb_status": thumb}
        began = time.monotonic()
        try:
            async with self._limit:
                began = time.monotonic()  # the extraction's own time, not the wait for a turn
                with decoding(path):  # what a C library writes to stderr names this file
                    values = await extract_one(path, reader, self._timeout, executor, root=root)
            self.done += 1
            self._observe(media_type, time.monotonic() - began, None)
            return {"item_id": item_id, **values}
        except ExtractError as exc:
            code, message = exc.code, exc.message
        except OSError as exc:
            code, message = "unreadable", f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a hostile file can make a parser raise anything
            code, message = "corrupt", f"{type(exc).__name__}: {exc}"
        self.failed += 1
        self._observe(media_type, time.monotonic() - began, code)
        assert self.failures is not None
        self.failures.failed(path=display_path(path), stage="metadata", code=code, error=message)
        return {"item_id": item_id, "error_code": code, "error": message}

    async def failed_items(self) -> int:
        """Catalogued items whose metadata could not be read (the error is on the item)."""
        i = media_items.c
        query = select(func.count()).where(i.status == "present", i.error_code.is_not(None))
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def retry_failed(self, path: bytes | None) -> None:
        """A rescan asks again: forget the failed extractions under ``path`` (None: all)."""
        await self._writer.submit(_forget_failed(path))

    async def retry_items(self, ids: Sequence[int]) -> None:
        """``retry`` asks again for these items: their metadata rows go (committed when this
        returns), so the stage reads them again."""

        async def apply(conn: AsyncConnection) -> None:
            for chunk in chunks(list(ids)):
                await conn.execute(
                    delete(media_metadata).where(media_metadata.c.item_id.in_(chunk))
                )

        if ids:
            await self._writer.transaction(apply, recount=False)


def _forget_failed(path: bytes | None) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def apply(conn: AsyncConnection) -> None:
        i = media_items.c
        failed = select(i.id).where(i.error_code.is_not(None), i.status == "present")
        if path is not None:
            low, high = under(path)
            inside = and_(i.path_key >= low, i.path_key < high)
            failed = failed.where(or_(i.path_key == path, inside))
        await conn.execute(delete(media_metadata).where(media_metadata.c.item_id.in_(failed)))

    return apply


def _row(result: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = {k: v for k, v in result.items() if k in _COLUMNS}
    if "error_code" in result:
        row["extra"] = {"error": result["error"], "error_code": result["error_code"]}
        row["thumb_status"] = "none"  # nothing to make a thumbnail from
    elif result.get("has_cover") is False and not result.get("video_streams"):
        row["thumb_status"] = "none"  # audio without a cover (mutagen's, or ffprobe's)
    row["extracted_at"] = now
    return row


def _store(
    results: list[dict[str, Any]], retyped: dict[int, str], record_extracted: bool = False
) -> Callable[[AsyncConnection], Awaitable[None]]:
    """The batch's metadata rows, its items' errors, and the types its streams corrected
    (``retyped``: item id -> "audio" or "video"); with ``record_extracted``, an ``extracted``
    event for each item read."""

    async def apply(conn: AsyncConnection) -> None:
        now = datetime.now(UTC)
        ids = [r["item_id"] for r in results]
        # Only items still in the catalog (one may have been purged meanwhile).
        alive = set(
            (
                await conn.execute(
                    select(media_items.c.id).where(
                        and_(media_items.c.id.in_(ids), media_items.c.status == "present")
                    )
                )
            ).scalars()
        )
        await conn.execute(media_metadata.delete().where(media_metadata.c.item_id.in_(ids)))
        rows = [_row(r, now) for r in results if r["item_id"] in alive]
        keys = {k for row in rows for k in row}
        for row in rows:  # executemany needs one key set per statement
            for key in keys:
                row.setdefault(key, None)
        if rows:
            await conn.execute(media_metadata.insert(), rows)
        errors = [
            {"b_id": r["item_id"], "error_code": r["error_code"], "error": r["error"][:1000]}
            for r in results
            if "error_code" in r and r["item_id"] in alive
        ]
        succeeded = [r["item_id"] for r in results if "error_code" not in r]
        if succeeded:  # an earlier failed extraction is over
            await conn.execute(
                update(media_items)
                .where(media_items.c.id.in_(succeeded), media_items.c.error_code.is_not(None))
                .values(error_code=None, error=None)
            )
        if errors:
            await conn.execute(
                update(media_items)
                .where(media_items.c.id == bindparam("b_id"))
                .values(error_code=bindparam("error_code"), error=bindparam("error")),
                errors,
            )
        read = [r["item_id"] for r in results if "error_code" not in r and r["item_id"] in alive]
        if record_extracted and read:
            await record_where(conn, EXTRACTED, now, media_items.c.id.in_(read))
        types = [{"b_id": i, "kind": kind} for i, kind in retyped.items() if i in alive]
        if types:  # only between audio and video: an image stays an image
            await conn.execute(
                update(media_items)
                .where(
                    media_items.c.id == bindparam("b_id"),
                    media_items.c.media_type.in_(_STREAM_TYPES),
                )
                .values(media_type=bindparam("kind")),
                types,
            )

    return apply
