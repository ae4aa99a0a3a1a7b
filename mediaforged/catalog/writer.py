"""The single catalog writer: one task owns every write and commits in batches.

Workers hand it observations (facts about paths); it looks up what the catalog holds for
them inside its own transaction and carries out what the identity rules decide
(``identity.plan``), so no two writers can disagree about an item. Any other write is a
function it runs in the same transactions (``transaction``), so nothing else writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog import changelog, identity, searchindex, sql, writes
from mediaforged.catalog.identity import Holdings, Observation, Plan
from mediaforged.catalog.outage import CatalogUnwritable, Outage
from mediaforged.catalog.writes import Entry, Write, log_failure, storage_problem
from mediaforged.fs.fsio import display_path
from mediaforged.state import DaemonState, Job

__all__ = ["CatalogUnwritable", "CatalogWriter", "Entry", "Observation", "Write"]

log = structlog.get_logger("mediaforged.writer")

T = TypeVar("T")
_UPSTREAM_CHECK_S = 0.05  # how often an open batch checks whether indexing went idle
_RETRY_MAX_S = 30.0  # longest wait between attempts to write an unwritable catalog


@dataclass(slots=True)
class _Done:
    """What one transaction did: counted, logged and answered only once it commits."""

    plans: list[Plan] = field(default_factory=list)
    missing: list[tuple[int, list[Observation]]] = field(default_factory=list)
    writes: list[Write[Any]] = field(default_factory=list)


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
        self.queue: asyncio.Queue[list[Entry]] = asyncio.Queue(maxsize=max(4, queue_size // 512))
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
        self._inserter = sql.ItemInserter()
        self._closing = False
        self._close_requested = asyncio.Event()
        # Called after every commit (the event hub wakes its subscribers).
        self.on_commit = on_commit
        self.item_commits = 0  # commits that may have changed the item counts
        # The change log keeps this many seconds of events (0: forever); pruned hourly.
        self.events_keep_s = events_keep_s
        self._next_prune = 0.0
        self._last_now = datetime.min.replace(tzinfo=UTC)
        self._outage = Outage(engine, state)

    async def put(self, obs: Observation) -> None:
        await self.put_many([obs])

    async def put_many(self, observations: list[Observation]) -> None:
        await self._put(list[Entry](observations))

    async def _put(self, entries: list[Entry]) -> None:
        if entries:
            self._received += len(entries)
            try:
                await self.queue.put(entries)
            except asyncio.CancelledError:
                self._received -= len(entries)  # never queued: flush() must not wait for it
                raise
            self.waiting += len(entries)

    async def transaction(
        self,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        *,
        durable: bool = False,
        recount: bool = True,
    ) -> T:
        """Run ``fn`` in the writer's transaction, batched with the other queued work, and
        return its result once committed (or raise its exception; its own writes are then
        undone, the rest of the batch is not). ``fn`` may run more than once (a batch
        retried one by one runs again): the result is that of the run that committed.

        durable: the commit syncs (synchronous=FULL; bulk writes use NORMAL), so that an
        acknowledged change survives a power cut. recount: False when ``fn`` changes no
        item's root, type or status, so the item counts of ``status`` stay as they are.

        A durable write is one a user waits on: while the catalog cannot be written it is
        refused at once (CatalogUnwritable), and withdrawn with that error if the trouble
        starts before it commits: it is applied or the caller is told it was not, never both."""
        if not durable:
            return await (await self._enqueue(fn, durable, recount))
        if self._outage.problem:
            raise self._outage.refusal()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        write = Write(fn, future, durable=True, recount=recount)
        return await self._outage.durable(write, asyncio.ensure_future(self._put([write])))

    async def submit(
        self, fn: Callable[[AsyncConnection], Awaitable[Any]], *, recount: bool = True
    ) -> None:
        """``transaction`` without waiting for the commit (a stage's own bookkeeping): the
        queue's back-pressure holds, ``flush()`` waits for it, and a failure is logged."""
        future = await self._enqueue(fn, False, recount)
        future.add_done_callback(log_failure)

    async def _enqueue(
        self, fn: Callable[[AsyncConnection], Awaitable[T]], durable: bool, recount: bool
    ) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._put([Write(fn, future, durable=durable, recount=recount)])
        return future

    def _take(self, entries: list[Entry]) -> list[Entry]:
        self.waiting -= len(entries)
        return entries

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
            await searchindex.install(conn)  # the writer keeps the word index in step
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

    async def _commit(self, conn: AsyncConnection, batch: list[Entry]) -> None:
        """Commit a batch; while the catalog cannot be written (disk full, read-only, I/O
        errors) keep it, say so in status and retry, so indexing pauses by back-pressure and
        resumes by itself when space returns."""
        left = list(batch)  # what no transaction has committed yet
        delay = 1.0
        while True:
            try:
                await self._commit_once(conn, left)
            except DBAPIError as exc:
                problem = storage_problem(exc)
                if problem is None:
                    # A dead database or a bug: let the task fail so the daemon exits and is
                    # restarted; the next reconcile redoes the uncommitted batch.
                    log.exception("catalog_write_failed", size=len(left))
                    writes.fail_all(left, exc)
                    raise
                self._outage.begin(problem, exc.orig, left)  # refuses the durable writes
                if self._closing:
                    # Shutting down: nothing to wait for; the next start's reconcile redoes it.
                    log.error("batch_not_committed", size=len(left), problem=problem)
                    writes.fail_all(left, exc)
                    return
                # Truncate the WAL; retry after the backoff, or at once when space is freed.
                await self._outage.wait(conn, delay, self._close_requested)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            await self._outage.committed(conn)  # may truncate the WAL
            break
        await self._committed_batch(batch)

    async def _committed_batch(self, batch: list[Entry]) -> None:
        self._state.commits += 1
        if any(not isinstance(e, Write) or e.recount for e in batch):
            self.item_commits += 1
        self.on_commit()
        done: dict[Job, list[int]] = {}
        for obs in batch:
            if isinstance(obs, Observation) and obs.job is not None:
                counts = done.setdefault(obs.job, [0, 0])
                counts[0] += 1
                counts[1] += obs.kind == "failed"
        for job, (n, failed) in done.items():
            job.mark_done(n, failed)
        self._committed += len(batch)
        async with self._flushed:
            self._flushed.notify_all()

    async def _commit_once(self, conn: AsyncConnection, left: list[Entry]) -> None:
        """One attempt at ``left``; what commits is settled and taken off it."""
        durable = conn.dialect.name == "sqlite" and any(
            isinstance(e, Write) and e.durable for e in left
        )
        if durable:  # outside the transaction (SQLite refuses it inside): this commit syncs
            await sql.synchronous(conn, "FULL")
        try:
            try:
                async with conn.begin():
                    await self._maybe_prune(conn)
                    done = await self._apply(conn, left)
                    await searchindex.flush(conn)
            except IntegrityError:
                # A reconcile and a watch event inserting the same new path at once (the fast
                # path skipped the lookup), or a bug: redo one by one, with lookups, so one bad
                # observation never costs the batch.
                log.warning("batch_retried_one_by_one", size=len(left))
                await self._one_by_one(conn, left)
            else:
                left.clear()
                self._settle(done)
        finally:
            if durable:  # back to NORMAL for bulk writes
                await sql.synchronous(conn, "NORMAL")

    async def _one_by_one(self, conn: AsyncConnection, left: list[Entry]) -> None:
        taken = 0
        try:
            for entry in left:
                try:
                    async with conn.begin():
                        done = await self._apply(conn, [entry], fast=False)
                        await searchindex.flush(conn)
                except IntegrityError as exc:
                    if isinstance(entry, Write):
                        entry.fail(exc)
                    else:
                        log.error(
                            "observation_rejected", path=display_path(entry.path), error=str(exc)
                        )
                else:
                    self._settle(done)
                taken += 1
        finally:
            del left[:taken]  # committed or rejected: a retry after a storage error skips them

    def _settle(self, done: _Done) -> None:
        """A transaction committed: count what it did, say so, answer its writes."""
        state = self._state
        for plan in done.plans:
            state.indexed += plan.indexed
            state.moved += plan.moved
            for path, code, message in plan.failed:
                state.failed += 1
                state.record_error(path, code, message)
            for event, fields in plan.logs:
                log.info(event, **fields)
        for count, run in done.missing:
            state.marked_missing += count
            for obs in run:
                if obs.job is not None:
                    obs.job.gone += 1
            if count:
                log.info(
                    "marked_missing", items=count, paths=[display_path(o.path) for o in run[:5]]
                )
        for write in done.writes:
            write.settle()

    async def _apply(self, conn: AsyncConnection, batch: list[Entry], fast: bool = True) -> _Done:
        # Runs of the same kind keep the order of events (a delete then a re-create of the
        # same path must end present) while each run is written in bulk.
        done = _Done()
        run: list[Entry] = []
        for entry in batch:
            if run and writes.category(entry) != writes.category(run[0]):
                await self._apply_run(conn, run, done, fast)
                run = []
            run.append(entry)
        if run:
            await self._apply_run(conn, run, done, fast)
        return done

    async def _apply_run(
        self, conn: AsyncConnection, run: list[Entry], done: _Done, fast: bool
    ) -> None:
        kind = writes.category(run[0])
        if kind == "write":
            for write in cast(list[Write[Any]], run):
                if write.withdrawn:  # refused while the catalog could not be written
                    continue
                await write.attempt(conn)
                done.writes.append(write)
            return
        observations = cast(list[Observation], run)
        if kind == "gone":
            now = datetime.now(UTC)
            count = await sql.mark_missing(conn, [o.path for o in observations], now)
            if count:
                self._irregular_possible = True
            done.missing.append((count, observations))
        else:
            done.plans.append(await self._upsert(conn, observations, fast))

    async def _upsert(
        self, conn: AsyncConnection, run: list[Observation], fast: bool = True
    ) -> Plan:
        """Look up what the catalog holds for the run, plan by the identity rules, write."""
        now = datetime.now(UTC)
        if now <= self._last_now:  # each batch's inserts are found by created_at == now
            now = self._last_now + timedelta(microseconds=1)
        self._last_now = now
        latest = identity.latest_by_path(run)
        irregular = await self._anything_irregular(conn)
        # While nothing is missing or failed, a path a reconcile saw as new is an insert.
        paths = [p for p, o in latest.items() if not (fast and not irregular and o.new_path)]
        by_path = await sql.rows_by_path(conn, paths)
        moved = await sql.rows_by_id(conn, identity.move_ids(latest, by_path))
        # Bytes that vanished and came back elsewhere keep their item (skipped while nothing
        # is missing: the common case of a first import).
        keys = identity.restore_keys(latest, by_path) if irregular else []
        missing = await sql.missing_with_keys(conn, keys)
        plan = identity.plan(latest, Holdings(by_path, moved, missing), now)
        if plan.irregular:
            self._irregular_possible = True
        await sql.update_items(conn, plan.updates)
        if plan.inserts:
            await self._inserter.insert(conn, plan.inserts)
            await changelog.record_inserted(conn, now)
        await changelog.record_rows(conn, plan.changes)
        await sql.delete_metadata(conn, plan.stale)
        return plan

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
            self._irregular_possible = await sql.anything_irregular(conn)
        return self._irregular_possible
