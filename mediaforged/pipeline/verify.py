"""The verification stage: a full decode of each file's content, to find damage.

Behind everything else: by default (``verify = "idle"``) it decodes only while indexing, the
metadata and the thumbnails have nothing to do; ``"always"`` lets it run beside the metadata
and thumbnail stages (still never during indexing); ``"off"`` decodes only what
``rescan --verify`` (or ``retry --stage verify``) asks for. The decode runs at the lowest CPU
priority (ffmpeg niced, Pillow's threads niced).

The result is kept by content hash (``verifications``), never by item: a move, a rename or a
duplicate costs nothing, and new bytes (an edit, or bit rot found by ``rescan --full``) are a
new hash, so they are verified again. A hash with no row is pending; ``requested`` rows are
the ones asked for on demand. ``corrupt`` carries the decoder's own message and where it
failed; ``failed --stage verify`` lists them. ``unverified`` (a format no decoder here reads,
a timeout) is not an error: a good file must not get one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row, Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import hash_key, media_items, roots, verifications
from mediaforged.catalog.sql import chunks
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.config import Config
from mediaforged.extract.decoding import decoding
from mediaforged.extract.verify import Verdict, lower_priority, verify_file
from mediaforged.fs.fsio import display_path, under
from mediaforged.pipeline.stage import CatalogStage, FailureLog
from mediaforged.settings import VERIFY_MODES

__all__ = ["VERIFY_MODES", "VerifyStage", "verified_join"]

log = structlog.get_logger("mediaforged.verify")
_MEDIA = ("image", "audio", "video")


def verified_join() -> Any:
    """media_items joined (outer) with the verification of its bytes."""
    i, v = media_items.c, verifications.c
    return media_items.outerjoin(
        verifications, and_(v.hash_key == i.hash_key, v.file_hash == i.file_hash)
    )


class VerifyStage(CatalogStage):
    _batch = 16

    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        busy: Callable[[], bool],
        behind: Sequence[CatalogStage | None],
        config: Callable[[], Config],
    ) -> None:
        """``busy``: indexing is; ``behind``: the stages it waits for in "idle" mode;
        ``config``: the config in force (a reload may change the mode)."""
        super().__init__(engine, writer, busy=lambda: busy() or self._waits())
        self._behind = [s for s in behind if s is not None]
        self._config = config
        self._limit = asyncio.Semaphore(1)  # run() sets verify_workers and verify_timeout
        self._timeout = 1800.0
        self.asked = False  # on demand (rescan --verify): waits for nothing but indexing
        self.verified = 0
        self.corrupt = 0
        self.unverified = 0
        self.failures = FailureLog(log, "verify_corrupt")

    def _mode(self) -> str:
        return self._config().verify

    def _pending_query(self) -> Select[Any]:
        i, v = media_items.c, verifications.c
        wanted = v.status == "requested"
        if self._mode() != "off":
            wanted = or_(v.file_hash.is_(None), wanted)
        return (
            select(
                i.id,
                i.path_key,
                i.media_type,
                i.mime_type,
                i.file_hash,
                roots.c.path.label("root_path"),
            )
            .select_from(verified_join().join(roots, roots.c.id == i.root_id))
            .where(
                i.status == "present",
                i.media_type.in_(_MEDIA),
                i.file_hash.is_not(None),
                wanted,
            )
            .order_by(i.id)
        )

    async def requested(self) -> int:
        """Hashes asked for on demand and not decoded yet."""
        query = select(func.count()).where(verifications.c.status == "requested")
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    @property
    def mode(self) -> str:
        return self._mode()

    def _waits(self) -> bool:
        """Whether the stage waits for the stages it is behind (metadata, thumbnails): in
        "idle" and "off" it does, unless a request (rescan --verify) is outstanding."""
        if self.asked or self._mode() == "always":
            return False
        return not all(s.idle.is_set() for s in self._behind)

    async def _ran_dry(self, executor: ThreadPoolExecutor) -> None:
        self.asked = False  # every request is done

    async def run(self) -> None:
        config = self._config()
        self._limit = asyncio.Semaphore(config.verify_workers)
        self._timeout = config.verify_timeout
        with ThreadPoolExecutor(
            config.verify_workers + 1, thread_name_prefix="verify", initializer=lower_priority
        ) as executor:
            await self._run(executor)

    async def _work(self, rows: Sequence[Row[Any]], executor: ThreadPoolExecutor) -> None:
        by_hash: dict[str, asyncio.Task[Verdict]] = {}
        async with asyncio.TaskGroup() as tg:
            for row in rows:  # duplicates in one page share one decode
                if row.file_hash not in by_hash:
                    by_hash[row.file_hash] = tg.create_task(self._verify(row, executor))
        done = {h: t.result() for h, t in by_hash.items()}
        await self._writer.transaction(_store(done), recount=False)  # seen by the next query

    async def _verify(self, row: Any, executor: ThreadPoolExecutor) -> Verdict:
        async with self._limit:
            with decoding(row.path_key):
                verdict = await verify_file(
                    row.path_key,
                    row.media_type,
                    row.mime_type,
                    root=os.fsencode(row.root_path),
                    executor=executor,
                    time_limit=self._timeout,
                )
        self._observe(row.media_type, verdict.seconds, None if verdict.status == "ok" else "x")
        if verdict.status == "corrupt":
            self.corrupt += 1
            assert self.failures is not None
            self.failures.failed(
                path=display_path(row.path_key), stage="verify", error=verdict.error, at=verdict.at
            )
        elif verdict.status == "unverified":
            self.unverified += 1
            log.info("verify_skipped", path=display_path(row.path_key), why=verdict.error)
        else:
            self.verified += 1
        return verdict

    async def corrupt_items(self, path: bytes | None = None) -> int:
        """Present items (under ``path``: None, all) whose bytes a decoder found damaged."""
        i, v = media_items.c, verifications.c
        query = (
            select(func.count())
            .select_from(verified_join())
            .where(i.status == "present", v.status == "corrupt")
        )
        if path is not None:
            query = query.where(_under(path))
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def request(self, path: bytes | None, ids: Sequence[int] = ()) -> int:
        """``rescan --verify`` (everything under ``path``, None: all) or ``retry`` (``ids``):
        decode these items' bytes again, whatever the mode. How many hashes were asked for."""
        i = media_items.c
        query = (
            select(i.file_hash)
            .distinct()
            .where(i.status == "present", i.media_type.in_(_MEDIA), i.file_hash.is_not(None))
        )
        if ids:
            query = query.where(i.id.in_(list(ids)))
        elif path is not None:
            query = query.where(_under(path))
        async with self._engine.connect() as conn:
            hashes = [h for (h,) in await conn.execute(query)]
        if hashes:
            self.asked = True
            await self._writer.transaction(_mark_requested(hashes), recount=False)
        return len(hashes)

    async def wait_requested(self, progress: Callable[[int], Awaitable[None]]) -> None:
        """Until no requested hash is left (the stage decodes them as soon as indexing is idle)."""
        while True:
            seen = self._writer.commit_count  # before the count: no commit slips between
            left = await self.requested()
            if not left:
                return
            await progress(left)
            await self._writer.wait_for_commit(seen, 1.0)


def _under(path: bytes) -> Any:
    i = media_items.c
    low, high = under(path)
    return or_(i.path_key == path, and_(i.path_key >= low, i.path_key < high))


def _mark_requested(hashes: list[str]) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def apply(conn: AsyncConnection) -> None:
        for chunk in chunks(hashes):
            await conn.execute(delete(verifications).where(verifications.c.file_hash.in_(chunk)))
            await conn.execute(
                verifications.insert(),
                [{"file_hash": h, "hash_key": hash_key(h), "status": "requested"} for h in chunk],
            )

    return apply


def _store(done: dict[str, Verdict]) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def apply(conn: AsyncConnection) -> None:
        now = datetime.now(UTC)
        hashes = list(done)
        await conn.execute(delete(verifications).where(verifications.c.file_hash.in_(hashes)))
        await conn.execute(
            verifications.insert(),
            [
                {
                    "file_hash": h,
                    "hash_key": hash_key(h),
                    "status": v.status,
                    "decoder": v.decoder,
                    "error": v.error,
                    "at": v.at,
                    "seconds": v.seconds,
                    "verified_at": now,
                }
                for h, v in done.items()
            ],
        )

    return apply
