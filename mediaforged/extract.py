"""The metadata stage: fills ``media_metadata`` for catalogued items, behind the catalog write.

The catalog itself is the queue: an item of a media type that has an extractor and no
metadata row is pending (the writer deletes the row when an item's content changes). So the
stage never slows indexing, survives restarts without losing work, and uses no memory for
its backlog. It works only while indexing is idle: a library is searchable first, richer
later. Extractors are plain functions (path -> column values) run in a thread with a
timeout; a failure is stored on the item's metadata row (``extra.error``), never fatal.

This release has one extractor (image dimensions, with Pillow's decompression-bomb guard);
the video/audio/EXIF extractors and thumbnails plug in here.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from PIL import Image
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.fsio import display_path
from mediaforged.schema import media_items, media_metadata
from mediaforged.writer import CatalogWriter, Observation

__all__ = ["EXTRACTORS", "MetadataStage", "image_basics"]

log = structlog.get_logger("mediaforged.extract")

Extractor = Callable[[bytes], dict[str, Any]]

_BATCH = 64
_IDLE_POLL_S = 1.0


def image_basics(path: bytes) -> dict[str, Any]:
    """Width and height from the image header (no pixel decoding)."""
    with warnings.catch_warnings():
        # A decompression bomb warning is an error here: it is recorded, not decoded.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(os.fsdecode(path)) as img:
            width, height = img.size
            return {
                "width": width,
                "height": height,
                "extra": {"format": img.format, "frames": getattr(img, "n_frames", 1)},
            }


EXTRACTORS: dict[str, Extractor] = {"image": image_basics}


class MetadataStage:
    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        *,
        busy: Callable[[], bool],
        timeout_s: float = 30.0,
        extractors: dict[str, Extractor] | None = None,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._busy = busy
        self._timeout = timeout_s
        self._extractors = EXTRACTORS if extractors is None else extractors
        self.done = 0
        self.failed = 0
        self.idle = asyncio.Event()  # set while nothing is pending

    def _pending_query(self) -> Any:
        i, m = media_items.c, media_metadata.c
        return (
            select(i.id, i.path_key, i.media_type)
            .select_from(media_items.outerjoin(media_metadata, m.item_id == i.id))
            .where(
                m.item_id.is_(None),
                i.status == "present",
                i.media_type.in_(list(self._extractors)),
            )
            .order_by(i.id)
        )

    async def pending(self) -> int:
        async with self._engine.connect() as conn:
            query = self._pending_query().with_only_columns(func.count())
            return int((await conn.execute(query)).scalar_one())

    async def run(self) -> None:
        after = 0
        while True:
            if self._busy():
                self.idle.clear()
                await asyncio.sleep(_IDLE_POLL_S)
                continue
            # Keyset paging (id > last seen): each query starts where the last one ended
            # instead of skipping every row that is already done.
            query = self._pending_query().where(media_items.c.id > after).limit(_BATCH)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                if after:
                    after = 0  # one more pass from the start: content changed behind us
                    continue
                self.idle.set()
                await asyncio.sleep(_IDLE_POLL_S)
                continue
            after = rows[-1].id
            self.idle.clear()
            items = [(r.id, r.path_key, r.media_type) for r in rows]
            try:
                results = await asyncio.wait_for(
                    asyncio.to_thread(self._extract_batch, items), self._timeout * len(items)
                )
            except TimeoutError:
                # One thread hop per batch keeps the stage cheap; per-file isolation and
                # timeouts come with the subprocess extractors (ffprobe, ffmpeg).
                error = f"extraction batch took longer than {self._timeout * len(items)}s"
                results = [{"item_id": i, "extra": {"error": error}} for i, _, _ in items]
                self.failed += len(items)
            await self._writer.put(
                Observation("sql", 0, b"", sql=_store(results))  # root 0: not a path write
            )
            await self._writer.flush()  # the next query must see these rows as done

    def _extract_batch(self, items: list[tuple[int, bytes, str]]) -> list[dict[str, Any]]:
        """In a thread: run each item's extractor; a failure is data, never an exception."""
        results = []
        for item_id, path, media_type in items:
            values: dict[str, Any]
            try:
                values = self._extractors[media_type](path)
                self.done += 1
            except Exception as exc:  # a hostile file can make a parser raise anything
                values = {"extra": {"error": f"{type(exc).__name__}: {exc}"}}
                self.failed += 1
                log.warning(
                    "extract_failed",
                    path=display_path(path),
                    code="extract_failed",
                    error=values["extra"]["error"],
                )
            results.append({"item_id": item_id, **values})
        return results


def _store(results: list[dict[str, Any]]) -> Callable[[AsyncConnection], Awaitable[None]]:
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
        rows = [{**r, "extracted_at": now} for r in results if r["item_id"] in alive]
        keys = {k for row in rows for k in row}
        for row in rows:  # executemany needs one key set per statement
            for key in keys:
                row.setdefault(key, None)
        if rows:
            await conn.execute(media_metadata.insert(), rows)

    return apply
