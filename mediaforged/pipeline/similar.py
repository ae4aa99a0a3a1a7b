"""The signature stage: decoded-content hashes, perceptual hashes, fingerprints, waveforms.

Behind the metadata and thumbnail stages (its ``busy`` says when they work), idle priority
like them. The queue is the catalog: a present image, audio or video item whose SHA-256 has
no ``signatures`` row is pending, so duplicates are signed once and a move or a rename
recomputes nothing. Each new signature is compared with the others (catalog/similar.py: the
in-memory pHash index for images and video, the duration window for audio) and the near
pairs are stored with it, in the same transaction. A failure is a row with status "failed"
and its error (a changed file has a new SHA-256, so a new row).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row, Select, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import (
    hash_key,
    media_items,
    signatures,
    similar_pairs,
)
from mediaforged.catalog.similar import (
    PhashIndex,
    load_index,
    near_candidates,
    pack_fingerprint,
    pair_rows,
    pending_condition,
)
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.extract.common import ExtractError
from mediaforged.extract.signature import (
    Signature,
    audio_signature,
    image_signature,
    video_signature,
)
from mediaforged.fs.fsio import display_path
from mediaforged.pipeline.stage import CatalogStage, FailureLog, Observe, items_with_metadata

__all__ = ["SignatureStage"]

log = structlog.get_logger("mediaforged.similar")

KINDS = ("image", "audio", "video")


class SignatureStage(CatalogStage):
    _batch = 16

    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        *,
        busy: Callable[[], bool],
        timeout_s: float = 120.0,
        observe: Observe | None = None,
    ) -> None:
        super().__init__(engine, writer, busy=busy, observe=observe)
        self._timeout = timeout_s
        self.index = PhashIndex()
        self._indexed: set[str] = set()
        self.made = 0
        self.failed = 0
        self.failures = FailureLog(log, "signature_failed")

    @classmethod
    def behind(
        cls,
        engine: AsyncEngine,
        writer: CatalogWriter,
        indexing_busy: Callable[[], bool],
        stages: Sequence[CatalogStage | None],
    ) -> SignatureStage:
        """The stage, idle priority under indexing and under ``stages`` (metadata, thumbnails)."""

        def busy() -> bool:
            return indexing_busy() or any(s is not None and not s.idle.is_set() for s in stages)

        return cls(engine, writer, busy=busy)

    def _pending_query(self) -> Select[Any]:
        return items_with_metadata().where(media_items.c.media_type.in_(KINDS), pending_condition())

    async def run(self) -> None:
        async with self._engine.connect() as conn:
            await load_index(conn, self.index)
        log.info("signature_index_loaded", hashes=len(self.index))
        with ThreadPoolExecutor(2, thread_name_prefix="signature") as executor:
            await self._run(executor)

    async def _work(self, rows: Sequence[Row[Any]], executor: ThreadPoolExecutor) -> None:
        seen: set[str] = set()
        for row in rows:  # one at a time: each is compared with those stored before it
            if row.file_hash in seen:
                continue
            seen.add(row.file_hash)
            record = await self._sign(row, executor)
            await self._writer.transaction(functools.partial(self._store, record), recount=False)

    async def _sign(self, row: Any, executor: ThreadPoolExecutor) -> dict[str, Any]:
        root = os.fsencode(row.root_path)  # opened from its root, never by path
        loop = asyncio.get_running_loop()
        began = time.monotonic()
        record: dict[str, Any] = {
            "file_hash": row.file_hash,
            "hash_key": hash_key(row.file_hash),
            "kind": row.media_type,
            "computed_at": datetime.now(UTC),
        }
        try:
            sig: Signature
            if row.media_type == "image":
                task = functools.partial(image_signature, row.path_key, root=root)
                sig = await asyncio.wait_for(loop.run_in_executor(executor, task), self._timeout)
            elif row.media_type == "audio":
                task = functools.partial(
                    audio_signature, row.path_key, root=root, time_limit=self._timeout
                )
                sig = await loop.run_in_executor(executor, task)
            else:
                sig = await video_signature(row.path_key, row.duration_s, self._timeout, root=root)
        except (ExtractError, TimeoutError, Exception) as exc:  # a hostile file: anything
            if isinstance(exc, ExtractError):
                error = f"{exc.code}: {exc.message}"
            elif isinstance(exc, TimeoutError):
                error = f"timeout: longer than {self._timeout:g}s"
            else:
                error = f"corrupt: {type(exc).__name__}: {exc}"
            self.failed += 1
            code, _, message = error.partition(": ")
            self._observe(row.media_type, time.monotonic() - began, code)
            assert self.failures is not None
            self.failures.failed(
                path=display_path(row.path_key), stage="signature", code=code, error=message
            )
            return record | {"status": "failed", "error": error[:1000]}
        self.made += 1
        self._observe(row.media_type, time.monotonic() - began, None)
        return record | {
            "status": "ok",
            "content_hash": sig.content,
            "content_key": hash_key(sig.content) if sig.content else None,
            "phash": sig.phash,
            "encoding": sig.encoding,
            "width": sig.width,
            "height": sig.height,
            "duration_s": sig.duration_s,
            "fingerprint": pack_fingerprint(sig.fingerprint) if sig.fingerprint else None,
            "frames": sig.frames,
            "waveform": sig.waveform,
        }

    async def _store(self, record: dict[str, Any], conn: AsyncConnection) -> None:
        stmt = sqlite_insert(signatures).values(record).on_conflict_do_nothing()
        if conn.dialect.name != "sqlite":
            stmt = insert(signatures).values(record)  # type: ignore[assignment]
        await conn.execute(stmt)
        if record["status"] != "ok":
            return
        sig = (
            await conn.execute(
                select(signatures).where(signatures.c.file_hash == record["file_hash"])
            )
        ).one()
        pairs = pair_rows(sig.file_hash, await near_candidates(conn, sig, self.index))
        if pairs:
            await conn.execute(sqlite_insert(similar_pairs).on_conflict_do_nothing(), pairs)
        if sig.phash is not None and sig.file_hash not in self._indexed:
            self._indexed.add(sig.file_hash)  # this may run twice (a batch retried)
            self.index.add(sig.file_hash, sig.phash)
