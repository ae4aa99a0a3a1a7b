"""The single catalog writer: one task owns every write and commits in batches.

Workers hand it observations (facts about paths); it resolves identity against the
catalog inside its own transaction, so no two writers can disagree about an item:
a known path updates its item, a known (dev, inode) whose old path is gone is a move,
a hash that vanished elsewhere comes back as the same item, anything else is new.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog import changelog
from mediaforged.catalog.db import StorageProblem, storage_error
from mediaforged.catalog.schema import hash_key, media_items, media_metadata
from mediaforged.fs.fsio import StatLike, display_path, under
from mediaforged.state import DaemonState, Job

__all__ = ["CatalogWriter", "Observation"]

log = structlog.get_logger("mediaforged.writer")

ObservationKind = Literal["file", "move", "failed", "gone", "sql"]
_UPSTREAM_CHECK_S = 0.05  # how often an open batch checks whether indexing went idle
_RETRY_MAX_S = 30.0  # longest wait between attempts to write an unwritable catalog
_IN_CHUNK = 400  # bound parameters per IN (...): well under SQLite's limit


@dataclass(slots=True)
class Observation:
    kind: ObservationKind
    root_id: int
    path: bytes
    job: Job | None = None
    st: StatLike | None = None
    file_hash: str | None = None
    mime_type: str | None = None
    media_type: str = "other"
    move_from_id: int | None = None  # "move": the item found by (dev, inode)
    error_code: str | None = None
    error: str | None = None
    sql: Callable[[AsyncConnection], Awaitable[None]] | None = None  # "sql": a write of its own
    new_path: bool = False  # the reconcile saw no present item at this path
    # User data (tags, collections): its batch commits with synchronous=FULL, so it survives
    # a power cut once acknowledged; ``done`` is resolved after the commit.
    durable: bool = False
    done: asyncio.Future[None] | None = None
    # False: leaves every item's root, type and status as they were (metadata, thumbnails),
    # so the item counts that `status` keeps need no recount.
    recount: bool = True


def _resolve(obs: Observation, error: BaseException | None) -> None:
    """Tell whoever waits on a durable observation that it is committed (or why not)."""
    if obs.done is not None and not obs.done.done():
        if error is None:
            obs.done.set_result(None)
        else:
            obs.done.set_exception(error)


async def _synchronous(conn: AsyncConnection, level: str) -> None:
    """Set SQLite's sync level on the raw connection: the engine opens a transaction (BEGIN)
    for any statement through SQLAlchemy, and SQLite refuses the change inside one."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute(f"PRAGMA synchronous={level}")


# What ``status`` says when the catalog cannot be written, by db.storage_error's kind.
_STORAGE_PROBLEMS: dict[StorageProblem, str] = {
    "full": "catalog disk full",
    "read-only": "catalog is read-only",
    "I/O": "catalog I/O error",
}


def _storage_problem(exc: DBAPIError) -> str | None:
    """What stops the catalog from being written, when it is the storage and not a bug."""
    problem = None if exc.orig is None else storage_error(exc.orig)
    return None if problem is None else _STORAGE_PROBLEMS[problem]


def _update_kind(obs: Observation, existing: Any) -> str | None:
    """The change log's word for an update of the item already at this path (None: the
    same bytes seen again, not a change anyone follows)."""
    if obs.kind == "failed":
        return None if existing.status == "failed" else "failed"
    if existing.status == "missing":
        return "restored"
    if existing.status == "failed" or existing.file_hash != obs.file_hash:
        return "changed"
    return None


def _category(obs: Observation) -> str:
    return obs.kind if obs.kind in ("gone", "sql") else "upsert"


_INSERT_COLUMNS = [c.name for c in media_items.columns if c.name != "id"]


def _datetime_processor(dialect: Dialect) -> Callable[[datetime], Any]:
    """The dialect's own conversion (on SQLite, SQLAlchemy's ISO text form)."""
    process = media_items.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda v: v)


def _chunks(seq: Sequence[Any], n: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class CatalogWriter:
    """Owns the write connection; ``put`` applies back-pressure when the queue is full."""

    def __init__(
        self,
        engine: AsyncEngine,
        state: DaemonState,
        *,
        batch_size: int,
        batch_interval: float,
        queue_size: int,
        upstream_idle: Callable[[], bool],
        on_commit: Callable[[], None],
        events_keep_s: float = 0.0,
    ) -> None:
        self._engine = engine
        self._state = state
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        # Lists of observations (a worker's whole batch is one queue operation); bounded at
        # about queue_size observations.
        self.queue: asyncio.Queue[list[Observation]] = asyncio.Queue(
            maxsize=max(4, queue_size // 512)
        )
        self.waiting = 0  # observations in the queue
        self._flushed = asyncio.Condition()
        self._received = 0
        self._committed = 0
        # True when nothing upstream is about to produce more: commit now rather than wait
        # out the batch interval (keeps a single change's latency low).
        self.upstream_idle = upstream_idle
        # Whether any item is missing or failed (None: not known yet, ask the catalog). While
        # none is, a path a reconcile saw as new can only be an insert: no lookup needed.
        self._irregular_possible: bool | None = None
        self._insert_sql: tuple[str, list[str]] | None = None
        self._closing = False
        self._close_requested = asyncio.Event()
        # Called after every commit (the event hub wakes its subscribers).
        self.on_commit = on_commit
        self.item_commits = 0  # commits that may have changed the item counts
        # The change log keeps this many seconds of events (0: forever); pruned hourly.
        self.events_keep_s = events_keep_s
        self._next_prune = 0.0
        self._last_now = datetime.min.replace(tzinfo=UTC)

    async def put(self, obs: Observation) -> None:
        await self.put_many([obs])

    async def put_many(self, observations: list[Observation]) -> None:
        if observations:
            self._received += len(observations)
            await self.queue.put(observations)
            self.waiting += len(observations)

    def _take(self, observations: list[Observation]) -> list[Observation]:
        self.waiting -= len(observations)
        return observations

    @property
    def commit_count(self) -> int:
        return self._state.commits

    async def wait_for_commit(self, after: int, at_most_s: float) -> None:
        """Until a commit beyond number ``after`` (``commit_count``), or ``at_most_s`` seconds:
        the later stages sleep on this instead of polling the catalog."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most_s), self._flushed:
                await self._flushed.wait_for(lambda: self._state.commits > after)

    async def flush(self) -> None:
        """Wait until everything put so far is committed."""
        target = self._received
        async with self._flushed:
            await self._flushed.wait_for(lambda: self._committed >= target)

    async def run(self) -> None:
        """Commit batches until ``close()``; then commit what is queued and return."""
        async with self._engine.connect() as conn:
            while not (self._closing and self.queue.empty()):
                batch = self._take(await self.queue.get())
                deadline = time.monotonic() + self._batch_interval
                while len(batch) < self._batch_size and not self._closing:
                    try:
                        batch += self._take(self.queue.get_nowait())
                        continue
                    except asyncio.QueueEmpty:
                        if self.upstream_idle():
                            break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        # In short waits: the indexer may go idle without sending anything
                        # more (its last part was in hand), and then the batch ends now, not
                        # at the deadline (batch_interval, up to minutes).
                        got = await asyncio.wait_for(
                            self.queue.get(), min(remaining, _UPSTREAM_CHECK_S)
                        )
                        batch += self._take(got)
                    except TimeoutError:
                        continue
                if batch:
                    await self._commit(conn, batch)

    async def close(self) -> None:
        """The shutdown path: no cancellation, so the batch in hand is always committed."""
        self._closing = True
        self._close_requested.set()  # ends a wait for catalog space
        await self.queue.put([])  # wakes a writer that waits on an empty queue

    async def _commit(self, conn: AsyncConnection, batch: list[Observation]) -> None:
        """Commit a batch; while the catalog cannot be written (disk full, read-only, I/O
        errors) keep it, say so in status and retry, so indexing pauses by back-pressure and
        resumes by itself when space returns."""
        delay = 1.0
        while True:
            try:
                await self._commit_once(conn, batch)
            except DBAPIError as exc:
                problem = _storage_problem(exc)
                if problem is None:
                    # A dead database or a bug: let the task fail so the daemon exits and is
                    # restarted; the next reconcile redoes the uncommitted batch.
                    log.exception("catalog_write_failed", size=len(batch))
                    for obs in batch:
                        _resolve(obs, exc)
                    raise
                if not self._state.catalog_problem:
                    log.error("catalog_unwritable", problem=problem, error=str(exc.orig))
                self._state.catalog_problem = f"{problem} ({exc.orig}); indexing waits for it"
                if self._closing:
                    # Shutting down: nothing to wait for; the next start's reconcile redoes it.
                    log.error("batch_not_committed", size=len(batch), problem=problem)
                    for obs in batch:
                        _resolve(obs, exc)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._close_requested.wait(), delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            if self._state.catalog_problem:
                log.info("catalog_writable_again", after=self._state.catalog_problem)
                self._state.catalog_problem = ""
            break
        self._state.commits += 1
        if any(obs.recount for obs in batch):
            self.item_commits += 1
        for obs in batch:
            _resolve(obs, None)
        self.on_commit()
        done: dict[Job, list[int]] = {}
        for obs in batch:
            if obs.job is not None:
                counts = done.setdefault(obs.job, [0, 0])
                counts[0] += 1
                counts[1] += obs.kind == "failed"
        for job, (n, failed) in done.items():
            job.mark_done(n, failed)
        self._committed += len(batch)
        async with self._flushed:
            self._flushed.notify_all()

    async def _commit_once(self, conn: AsyncConnection, batch: list[Observation]) -> None:
        durable = any(obs.durable for obs in batch) and conn.dialect.name == "sqlite"
        if durable:  # outside the transaction (SQLite refuses it inside): this commit syncs
            await _synchronous(conn, "FULL")
        try:
            async with conn.begin():
                await self._maybe_prune(conn)
                await self._apply(conn, batch)
        except IntegrityError:
            # A reconcile and a watch event inserting the same new path at once (the fast
            # path skipped the lookup), or a bug: redo one by one, with lookups, so one bad
            # observation never costs the batch.
            log.warning("batch_retried_one_by_one", size=len(batch))
            for obs in batch:
                try:
                    async with conn.begin():
                        await self._apply(conn, [obs], fast=False)
                except IntegrityError as exc:
                    log.error("observation_rejected", path=display_path(obs.path), error=str(exc))
                    _resolve(obs, exc)
        finally:
            if durable:  # back to NORMAL for bulk writes
                await _synchronous(conn, "NORMAL")

    async def _apply(
        self, conn: AsyncConnection, batch: list[Observation], fast: bool = True
    ) -> None:
        # Runs of the same kind keep the order of events (a delete then a re-create of the
        # same path must end present) while each run is written in bulk.
        run: list[Observation] = []
        for obs in batch:
            if run and _category(obs) != _category(run[0]):
                await self._apply_run(conn, run, fast)
                run = []
            run.append(obs)
        if run:
            await self._apply_run(conn, run, fast)

    async def _apply_run(
        self, conn: AsyncConnection, run: list[Observation], fast: bool = True
    ) -> None:
        if run[0].kind == "gone":
            await self._mark_missing(conn, run)
        elif run[0].kind == "sql":
            for obs in run:
                assert obs.sql is not None
                await obs.sql(conn)
        else:
            await self._upsert(conn, run, fast)

    async def _mark_missing(self, conn: AsyncConnection, run: list[Observation]) -> None:
        now = datetime.now(UTC)
        p: Any = bindparam("p")
        low: Any = bindparam("low")
        high: Any = bindparam("high")
        stmt = (
            update(media_items)
            .where(
                media_items.c.status != "missing",
                or_(
                    media_items.c.path_key == p,
                    and_(media_items.c.path_key >= low, media_items.c.path_key < high),
                ),
            )
            .values(status="missing", missing_since=now, updated_at=now)
        )
        params = []
        for obs in run:
            low_v, high_v = under(obs.path)
            params.append({"p": obs.path, "low": low_v, "high": high_v})
        c = media_items.c
        await changelog.record_where(
            conn,
            "missing",
            now,
            c.status != "missing",
            or_(c.path_key == p, and_(c.path_key >= low, c.path_key < high)),
            params=params,
        )
        result = await conn.execute(stmt, params)
        count = max(result.rowcount, 0)
        if count:
            self._irregular_possible = True
        self._state.marked_missing += count
        for obs in run:
            if obs.job is not None:
                obs.job.gone += 1
        if count:
            log.info("marked_missing", items=count, paths=[display_path(o.path) for o in run[:5]])

    async def _upsert(
        self, conn: AsyncConnection, run: list[Observation], fast: bool = True
    ) -> None:
        now = datetime.now(UTC)
        if now <= self._last_now:  # each batch's inserts are found by created_at == now
            now = self._last_now + timedelta(microseconds=1)
        self._last_now = now
        latest: dict[bytes, Observation] = {}
        for obs in run:  # the last word on a path wins
            latest.pop(obs.path, None)
            latest[obs.path] = obs
        paths = list(latest)

        irregular = await self._anything_irregular(conn)
        if fast and not irregular:
            paths = [p for p, o in latest.items() if not o.new_path]
        by_path: dict[bytes, Any] = {}
        for chunk in _chunks(paths):
            rows = await conn.execute(
                select(
                    media_items.c.id,
                    media_items.c.path_key,
                    media_items.c.file_hash,
                    media_items.c.error_code,
                    media_items.c.status,
                ).where(media_items.c.path_key.in_(chunk))
            )
            by_path.update({r.path_key: r for r in rows})

        claimed: set[int] = {r.id for r in by_path.values()}
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        stale: list[int] = []

        # Moves found by (dev, inode): reuse the item, keep its hash and type.
        move_ids = [
            o.move_from_id for o in latest.values() if o.path not in by_path and o.move_from_id
        ]
        moved_rows: dict[int, Any] = {}
        for chunk in _chunks(move_ids):
            rows = await conn.execute(
                select(
                    media_items.c.id,
                    media_items.c.file_hash,
                    media_items.c.hash_key,
                    media_items.c.mime_type,
                    media_items.c.media_type,
                    media_items.c.path,
                ).where(media_items.c.id.in_(chunk))
            )
            moved_rows.update({r.id: r for r in rows})

        # Files that vanished and came back elsewhere with the same bytes keep their item.
        # (Skipped while nothing is missing: the common case of a first import.)
        want_keys = [
            hash_key(o.file_hash)
            for o in latest.values()
            if o.path not in by_path and o.file_hash and o.kind == "file"
        ]
        missing_by_hash: dict[tuple[str, int], list[int]] = {}
        old_paths: dict[int, str] = {}
        logged: list[dict[str, Any]] = []  # the change log's rows for updated items

        def log_change(kind: str, item_id: int, path: str, old_path: str | None = None) -> None:
            logged.append(
                {"at": now, "kind": kind, "item_id": item_id, "path": path, "old_path": old_path}
            )

        if want_keys and irregular:
            for chunk in _chunks(want_keys):
                rows = await conn.execute(
                    select(
                        media_items.c.id,
                        media_items.c.file_hash,
                        media_items.c.size,
                        media_items.c.path,
                    )
                    .where(media_items.c.status == "missing", media_items.c.hash_key.in_(chunk))
                    .order_by(media_items.c.missing_since.desc())
                )
                for r in rows:
                    missing_by_hash.setdefault((r.file_hash, r.size), []).append(r.id)
                    old_paths[r.id] = r.path

        for path, obs in latest.items():
            values = self._values(obs, now)
            existing = by_path.get(path)
            if existing is not None:
                if obs.kind == "move":
                    # The path is already catalogued (say, a missing item at that path):
                    # the path's own item wins; the moved item is marked missing later.
                    obs.kind = "file"
                    values = self._values(obs, now)
                updates.append({"b_id": existing.id, **values})
                if obs.kind == "file" and (
                    existing.file_hash != obs.file_hash or existing.error_code is not None
                ):
                    # New content, or a file that failed and changed: extracted again.
                    stale.append(existing.id)
                kind = _update_kind(obs, existing)
                if kind:
                    log_change(kind, existing.id, values["path"])
                continue
            if obs.kind == "move" and obs.move_from_id in moved_rows:
                row = moved_rows[obs.move_from_id]
                # Same inode, same bytes: the item's hash and type hold for this path too.
                values.update(
                    file_hash=row.file_hash,
                    hash_key=row.hash_key,
                    mime_type=row.mime_type,
                    media_type=row.media_type,
                )
                if row.id in claimed:
                    # Two new paths share the old inode (hard links): the first takes the
                    # item, this one becomes an item of its own.
                    inserts.append({**values, "created_at": now})
                    continue
                claimed.add(row.id)
                updates.append({"b_id": row.id, **values})
                log_change("moved", row.id, values["path"], row.path)
                self._state.moved += 1
                log.info("moved", item=row.id, to=display_path(path))
                continue
            if obs.kind == "move":
                # The item was purged between the lookup and now: without a hash this path
                # is recorded as failed, and the next reconcile (which retries failed items)
                # indexes it.
                values.update(
                    mime_type=None,
                    media_type="other",
                    status="failed",
                    error_code="retry",
                    error="the moved item vanished; indexed again at the next reconcile",
                )
                self._irregular_possible = True
                inserts.append({**values, "created_at": now})
                continue
            if missing_by_hash and obs.file_hash and obs.st is not None:
                candidates = missing_by_hash.get((obs.file_hash, obs.st.st_size), [])
                restored = next((c for c in candidates if c not in claimed), None)
                if restored is not None:
                    claimed.add(restored)
                    updates.append({"b_id": restored, **values})
                    log_change("restored", restored, values["path"], old_paths.get(restored))
                    log.info("restored", item=restored, path=display_path(path))
                    continue
            inserts.append({**values, "created_at": now})

        # executemany needs one key set per statement: failed items keep their old hash.
        by_keys: dict[frozenset[str], list[dict[str, Any]]] = {}
        for values in updates:
            by_keys.setdefault(frozenset(values), []).append(values)
        stmt = update(media_items).where(media_items.c.id == bindparam("b_id"))
        for group in by_keys.values():
            await conn.execute(stmt, group)
        if inserts:
            await self._insert(conn, inserts)
            await changelog.record_inserted(conn, now)
        await changelog.record_rows(conn, logged)
        for chunk in _chunks(stale):
            await conn.execute(media_metadata.delete().where(media_metadata.c.item_id.in_(chunk)))
        for obs in latest.values():
            if obs.kind == "failed":
                self._irregular_possible = True
                self._state.failed += 1
                self._state.record_error(
                    display_path(obs.path), obs.error_code or "error", obs.error or ""
                )
            else:
                self._state.indexed += 1

    async def _insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Bulk insert: Core's insert() compiled once for the dialect, rows passed to the
        driver as tuples. Measured: SQLAlchemy's per-row parameter processing of dicts was
        the largest cost of a first import on the event loop; every column here either
        needs no conversion or takes the same value in the whole batch (the timestamps)."""
        dialect = conn.dialect
        if self._insert_sql is None:
            compiled = media_items.insert().compile(dialect=dialect, column_keys=_INSERT_COLUMNS)
            assert compiled.positiontup is not None
            self._insert_sql = (compiled.string, list(compiled.positiontup))
        sql, order = self._insert_sql
        now = _datetime_processor(dialect)(rows[0]["updated_at"])  # one value per batch
        row_tuple = operator.itemgetter(*order)
        params = []
        for r in rows:
            r["created_at"] = r["updated_at"] = now
            if "file_hash" not in r:  # failed and moved items carry no new hash
                r["file_hash"] = r["hash_key"] = None
            params.append(row_tuple(r))
        await conn.exec_driver_sql(sql, params)

    async def _maybe_prune(self, conn: AsyncConnection) -> None:
        if self.events_keep_s <= 0 or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + 3600.0
        pruned = await changelog.prune(
            conn, datetime.now(UTC) - timedelta(seconds=self.events_keep_s)
        )
        if pruned:
            log.info("events_pruned", events=pruned)

    async def _anything_irregular(self, conn: AsyncConnection) -> bool:
        if self._irregular_possible is None:
            found = await conn.execute(
                select(media_items.c.id).where(media_items.c.status != "present").limit(1)
            )
            self._irregular_possible = found.first() is not None
        return self._irregular_possible

    @staticmethod
    def _values(obs: Observation, now: datetime) -> dict[str, Any]:
        st = obs.st
        assert st is not None, "file, move and failed observations carry the lstat"
        values: dict[str, Any] = {
            "root_id": obs.root_id,
            "path_key": obs.path,
            "path": display_path(obs.path),
            "name": display_path(os.path.basename(obs.path)),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "dev": st.st_dev,
            "inode": st.st_ino,
            "status": "failed" if obs.kind == "failed" else "present",
            "error_code": obs.error_code,
            "error": obs.error,
            "updated_at": now,
            "missing_since": None,
        }
        if obs.kind == "failed":
            values["mime_type"] = obs.mime_type
            values["media_type"] = obs.media_type
        elif obs.kind == "file":
            values["file_hash"] = obs.file_hash
            values["hash_key"] = hash_key(obs.file_hash) if obs.file_hash else None
            values["mime_type"] = obs.mime_type
            values["media_type"] = obs.media_type
        return values
