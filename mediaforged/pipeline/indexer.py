"""Index one path (in batches): skip if unchanged, detect a move by inode, else hash it.

Every source of work (startup and periodic reconcile, rescan, watch events) ends here.
The catalog lookup uses a reader connection; what to write is decided again by the writer,
so a stale read costs at most a needless hash, never a wrong item.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.schema import media_items
from mediaforged.catalog.writer import CatalogWriter, Observation
from mediaforged.fs.fsio import FileProblem, HashResult, display_path
from mediaforged.fs.hashpool import HashPool
from mediaforged.fs.safepath import lstat_under
from mediaforged.protocol import ItemStatus
from mediaforged.state import DaemonState, Job, RootState

__all__ = ["IndexRequest", "Indexer", "MoveHint"]

log = structlog.get_logger("mediaforged.indexer")

# Paths looked up and hashed per batch: one catalog query and one thread hop cost more
# than hashing a small file, so they are shared by many.
_BATCH = 512


class MoveHint(NamedTuple):
    """An item that had this file's (dev, inode, size, mtime) at another path."""

    id: int
    path_key: bytes
    dev: int
    inode: int


@dataclass(slots=True)
class IndexRequest:
    root: RootState
    path: bytes
    st: os.stat_result  # the lstat of a regular file that made us look
    job: Job | None = None
    force: bool = False  # rehash even if size, mtime and inode match (rescan --full)
    prechecked: bool = False  # the caller knows the catalog has no unchanged item at this path
    inode_checked: bool = False  # ... and has looked for a move source (move_hint) itself
    move_hint: MoveHint | None = None
    new_path: bool = False  # not present in the catalog when the caller looked


class _Stored(NamedTuple):
    """What the catalog holds for a path, as a file is compared with it."""

    id: int
    path_key: bytes
    size: int
    mtime_ns: int
    dev: int
    inode: int
    status: str  # an ItemStatus


class _MaybeMove(NamedTuple):
    """A new path whose (dev, inode, size, mtime) an item had elsewhere."""

    req: IndexRequest
    source: MoveHint


class _Move(NamedTuple):
    """A confirmed move: item ``from_id`` is now at ``req.path``."""

    req: IndexRequest
    from_id: int


def _same_stat(row: _Stored, st: os.stat_result) -> bool:
    return bool(
        row.size == st.st_size
        and row.mtime_ns == st.st_mtime_ns
        and row.inode == st.st_ino
        and row.dev == st.st_dev
    )


def _guess_type(path: bytes) -> tuple[str | None, str]:
    mime, _ = mimetypes.guess_type(os.fsdecode(os.path.basename(path)), strict=False)
    major = mime.split("/", 1)[0] if mime else ""
    return mime, major if major in ("image", "audio", "video") else "other"


_SHARE_BYTES = 64 << 20  # below this a batch goes to one process: splitting would cost more


def _split_by_bytes(requests: list[IndexRequest], ways: int) -> list[list[IndexRequest]]:
    """Parts of a batch for the hashing processes: every big file alone (a huge one never
    holds the small files of its batch back), the small ones shared when there are enough
    bytes to be worth it."""
    big = [[r] for r in requests if r.st.st_size >= _SHARE_BYTES]
    small = [r for r in requests if r.st.st_size < _SHARE_BYTES]
    total = sum(r.st.st_size for r in small)
    if ways <= 1 or total < 2 * _SHARE_BYTES:
        return ([small] if small else []) + big
    share = max(total // ways, _SHARE_BYTES)
    parts: list[list[IndexRequest]] = [[]]
    size = 0
    for req in small:
        if size >= share and len(parts) < ways:
            parts.append([])
            size = 0
        parts[-1].append(req)
        size += req.st.st_size
    return parts + big


def _confirm_moves(
    maybe_moves: list[_MaybeMove], root_for: Callable[[bytes], RootState | None]
) -> tuple[list[_Move], list[IndexRequest]]:
    """A move only if the old path no longer holds this inode; else it is a hard link.
    Both paths are looked at from their roots, never through a link: a new path reached
    through one is hashed instead (which refuses it)."""
    moves: list[_Move] = []
    not_moved: list[IndexRequest] = []
    for req, source in maybe_moves:
        if not _holds(req.root.key, req.path, (req.st.st_dev, req.st.st_ino)):
            not_moved.append(req)
            continue
        old_root = root_for(source.path_key)
        if old_root is not None and _holds(
            old_root.key, source.path_key, (source.dev, source.inode)
        ):
            not_moved.append(req)
        else:
            moves.append(_Move(req, source.id))
    return moves, not_moved


def _holds(root: bytes, path: bytes, key: tuple[int, int]) -> bool:
    """Whether ``path``, reached from ``root`` without a link, is the file (dev, inode)."""
    try:
        st = lstat_under(root, path)
    except FileProblem:
        return False
    return (st.st_dev, st.st_ino) == key


def _drop_cancelled(batch: list[IndexRequest]) -> list[IndexRequest]:
    """The requests whose job was not cancelled; the others count as done, unlooked at.
    Their folder is marked changed so that the next quick reconcile lists it again."""
    keep: list[IndexRequest] = []
    for req in batch:
        job = req.job
        if job is None or not job.cancelled:
            keep.append(req)
            continue
        folder = os.path.dirname(req.path)
        if folder in req.root.dir_mtimes:
            req.root.dir_mtimes[folder] = -1  # never a real mtime
        job.dropped += 1
        job.mark_done()
    return keep


class Indexer:
    def __init__(
        self,
        engine: AsyncEngine,
        writer: CatalogWriter,
        state: DaemonState,
        pool: HashPool,
        *,
        queue_size: int,
        workers: int,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._pool = pool
        self._state = state
        self._workers = workers
        # Batches, not paths: bounded at about queue_size paths.
        self.queue: asyncio.Queue[list[IndexRequest]] = asyncio.Queue(
            maxsize=max(2, queue_size // _BATCH)
        )
        self.waiting = 0  # paths in the queue
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.in_flight = 0

    async def put(self, request: IndexRequest) -> None:
        await self.put_many([request])

    async def put_many(self, requests: list[IndexRequest]) -> None:
        for i in range(0, len(requests), _BATCH):
            chunk = requests[i : i + _BATCH]
            await self.queue.put(chunk)
            self.waiting += len(chunk)

    @property
    def idle(self) -> bool:
        return self.waiting == 0 and self.in_flight == 0

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for _ in range(self._workers):
                tg.create_task(self._worker())

    async def _worker(self) -> None:
        while True:
            batch = await self.queue.get()
            while len(batch) < _BATCH:  # merge the single paths that watch events bring
                try:
                    batch = batch + self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
            taken = len(batch)
            self.waiting -= taken
            self.in_flight += taken
            try:
                batch = _drop_cancelled(batch)
                if batch:
                    await self.resumed.wait()  # pause holds work here, never drops it
                    batch = _drop_cancelled(batch)  # `cancel` may have come meanwhile
                    await self._index(batch)
            finally:
                self.in_flight -= taken

    async def _index(self, batch: list[IndexRequest]) -> None:
        c = media_items.c
        # A reconcile already compared its paths with the catalog; a watch event did not.
        keys = [r.path for r in batch if not r.prechecked]
        by_path: dict[bytes, _Stored] = {}
        by_inode: dict[tuple[int, int], list[_Stored]] = {}
        async with self._engine.connect() as conn:
            if keys:
                rows = await conn.execute(
                    select(c.id, c.path_key, c.size, c.mtime_ns, c.dev, c.inode, c.status).where(
                        c.path_key.in_(keys)
                    )
                )
                by_path = {s.path_key: s for s in map(_Stored._make, rows)}
            # Same (dev, inode) at another path: maybe a move. One query per device, so the
            # (dev, inode) index serves it.
            inodes_by_dev: dict[int, set[int]] = {}
            for r in batch:
                if r.path not in by_path and not r.inode_checked:
                    inodes_by_dev.setdefault(r.st.st_dev, set()).add(r.st.st_ino)
            for dev, inodes in inodes_by_dev.items():
                inode_rows = await conn.execute(
                    select(c.id, c.path_key, c.size, c.mtime_ns, c.dev, c.inode, c.status).where(
                        c.dev == dev, c.inode.in_(list(inodes))
                    )
                )
                for found in map(_Stored._make, inode_rows):
                    by_inode.setdefault((found.dev, found.inode), []).append(found)

        to_hash: list[IndexRequest] = []
        maybe_moves: list[_MaybeMove] = []
        for req in batch:
            row = by_path.get(req.path)
            if row is not None:
                if row.status == ItemStatus.PRESENT and not req.force and _same_stat(row, req.st):
                    self._state.skipped_unchanged += 1
                    if req.job is not None:
                        req.job.mark_done()
                    continue
                to_hash.append(req)
                continue
            candidates = [
                MoveHint(s.id, s.path_key, s.dev, s.inode)
                for s in by_inode.get((req.st.st_dev, req.st.st_ino), [])
                if _same_stat(s, req.st) and s.path_key != req.path
            ]
            if req.move_hint is not None:
                candidates.append(req.move_hint)
            if candidates and not req.force:
                maybe_moves.append(_MaybeMove(req, candidates[0]))
            else:
                to_hash.append(req)

        if maybe_moves:
            moves, not_moved = await asyncio.to_thread(
                _confirm_moves, maybe_moves, self._state.root_for
            )
            to_hash += not_moved
            await self._writer.put_many(
                [
                    Observation("move", req.root.id, req.path, req.job, req.st, move_from_id=row_id)
                    for req, row_id in moves
                ]
            )
        if to_hash:
            # Split by bytes so that every hashing process gets a share of a batch of big
            # files (a batch is split only when it holds more than one share of data).
            # Each part goes to the writer as soon as it is hashed.
            await asyncio.gather(
                *(self._hash_part(part) for part in _split_by_bytes(to_hash, self._workers))
            )

    async def _hash_part(self, part: list[IndexRequest]) -> None:
        outcomes = await self._pool.hash([(r.root.key, r.path, r.st) for r in part])
        await self._writer.put_many(
            [self._observation(req, out) for req, out in zip(part, outcomes, strict=True)]
        )

    def _observation(self, req: IndexRequest, result: HashResult | FileProblem) -> Observation:
        if isinstance(result, HashResult):
            self._state.hashed += 1
            self._state.hashed_bytes += result.st.st_size
            log.debug("indexed", path=display_path(req.path), media_type=result.media_type)
            if self._state.recent_errors:  # an earlier error of this file is over
                self._state.forget_error(display_path(req.path))
            return Observation(
                "file",
                req.root.id,
                req.path,
                req.job,
                result.st,
                file_hash=result.sha256,
                mime_type=result.mime_type,
                media_type=result.media_type,
                new_path=req.new_path,
            )
        if result.code in ("vanished", "not_regular", "symlink", "not_directory", "not_under_root"):
            # Not a file below the root (any more): nothing is stored at this path.
            return Observation("gone", req.root.id, req.path, req.job)
        if result.code in ("changed_during_read", "cancelled"):
            # Not the file's fault: recorded so the next reconcile (which retries failed items)
            # or the watcher's next event indexes it once it is stable; never a stale hash.
            log.info("not_indexed_yet", path=display_path(req.path), code=result.code)
        else:
            log.warning("index_failed", path=display_path(req.path), code=result.code)
        mime, media_type = _guess_type(req.path)
        return Observation(
            "failed",
            req.root.id,
            req.path,
            req.job,
            req.st,
            mime_type=mime,
            media_type=media_type,
            error_code=result.code,
            error=result.message,
        )
