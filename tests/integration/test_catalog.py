"""The catalog on real SQLite: migrations, and the writer's identity rules."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from structlog.testing import capture_logs

from mediaforged.catalog.db import create_engine, head_revision, migrate, storage_error
from mediaforged.catalog.schema import media_items, metadata_obj, roots, tags
from mediaforged.catalog.writer import CatalogWriter, Observation
from mediaforged.fs.fsio import hash_file
from mediaforged.state import DaemonState, RootState


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}")
    await migrate(eng)
    yield eng
    await eng.dispose()


async def test_migrations_build_exactly_the_schema(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        # The search index (0005_search) is an FTS5 table and its shadow tables: SQL only.
        def ours(name: str | None, kind: str, _parent: object) -> bool:
            return not (kind == "table" and (name or "").startswith("search_fts"))

        context = MigrationContext.configure(conn, opts={"include_name": ours})
        return list(compare_metadata(context, metadata_obj))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await migrate(engine) == (head_revision(), head_revision())  # idempotent


async def test_an_items_history_is_read_through_its_index(engine: AsyncEngine) -> None:
    # queries._history: the item page's last changes, newest first (0010_events_item).
    sql = (
        "EXPLAIN QUERY PLAN SELECT id, at, kind FROM events WHERE item_id = 5"
        " ORDER BY id DESC LIMIT 50"
    )
    async with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in await conn.execute(text(sql)))
    assert "USING INDEX ix_events_item_id_id (item_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the index gives the order too


def _sqlite_error(database: Path, *sql: str, uri: str = "") -> sqlite3.Error:
    """The error SQLite raises for the last of ``sql`` (run in order on one connection)."""
    conn = sqlite3.connect(f"file:{database}{uri}", uri=True, isolation_level=None)
    try:
        for statement in sql:
            conn.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{sql[-1]!r} did not fail")


def test_storage_errors_are_told_from_content_errors(tmp_path: Path) -> None:
    """One classification (db.storage_error) for the start-up checks and the writer."""
    db = tmp_path / "c.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE t (x UNIQUE)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    grow = ("PRAGMA max_page_count = 2", "INSERT INTO t VALUES (randomblob(20000))")
    assert storage_error(_sqlite_error(db, *grow)) == "full"
    insert = "INSERT INTO t VALUES (2)"
    assert storage_error(_sqlite_error(db, insert, uri="?mode=ro")) == "read-only"
    assert storage_error(_sqlite_error(db, "INSERT INTO t VALUES (1)")) is None  # content
    assert storage_error(_sqlite_error(db, "SELECT FROM")) is None  # a bug


async def test_sqlite_runs_in_wal_with_foreign_keys(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


class Harness:
    """A writer whose task runs, as in the daemon; ``apply`` puts and waits for the commit."""

    def __init__(self, engine: AsyncEngine, root: Path, root_id: int) -> None:
        self.engine = engine
        self.root = RootState(root_id, root, os.fsencode(root))
        self.state = DaemonState([self.root])
        self.writer = CatalogWriter(
            engine,
            self.state,
            batch_size=100,
            batch_interval=0.01,
            queue_size=100,
            upstream_idle=lambda: True,
            on_commit=lambda: None,
        )
        self.task = asyncio.create_task(self.writer.run())

    def file(self, path: Path) -> Observation:
        result = hash_file(os.fsencode(path), root=os.fsencode(path.parent))
        return Observation(
            "file",
            self.root.id,
            os.fsencode(path),
            st=result.st,
            file_hash=result.sha256,
            mime_type=result.mime_type,
            media_type=result.media_type,
        )

    async def apply(self, *observations: Observation) -> None:
        """One batch: put together (the writer task runs only when this one waits)."""
        await self.writer.put_many(list(observations))
        await asyncio.wait_for(self.writer.flush(), 30)

    async def stop(self) -> None:
        await self.writer.close()
        await asyncio.wait_for(self.task, 30)

    async def rows(self) -> dict[bytes, dict[str, object]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(media_items))
            return {r.path_key: dict(r._mapping) for r in result}


@pytest.fixture
async def harness(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Harness]:
    lib = tmp_path / "lib"
    lib.mkdir()
    async with engine.begin() as conn:
        result = await conn.execute(roots.insert().values(path=str(lib)))
        assert result.inserted_primary_key is not None
    running = Harness(engine, lib, result.inserted_primary_key[0])
    yield running
    await running.stop()


async def test_duplicates_are_two_items_with_one_hash(harness: Harness) -> None:
    a = harness.root.path / "a.jpg"
    b = harness.root.path / "b.jpg"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    await harness.apply(harness.file(a), harness.file(b))
    rows = await harness.rows()
    assert len(rows) == 2
    ra, rb = rows[os.fsencode(a)], rows[os.fsencode(b)]
    assert ra["id"] != rb["id"] and ra["file_hash"] == rb["file_hash"]


async def test_same_path_twice_in_a_batch_keeps_the_last(harness: Harness) -> None:
    a = harness.root.path / "a.txt"
    a.write_bytes(b"first")
    first = harness.file(a)
    a.write_bytes(b"second version")
    await harness.apply(first, harness.file(a))
    rows = await harness.rows()
    assert len(rows) == 1
    assert rows[os.fsencode(a)]["size"] == len(b"second version")


async def test_move_keeps_the_item_and_its_hash(harness: Harness) -> None:
    old = harness.root.path / "old.jpg"
    old.write_bytes(b"photo")
    await harness.apply(harness.file(old))
    item = (await harness.rows())[os.fsencode(old)]
    new = harness.root.path / "new.jpg"
    old.rename(new)
    move = Observation(
        "move", harness.root.id, os.fsencode(new), st=os.lstat(new), move_from_id=int(item["id"])
    )
    await harness.apply(move)
    rows = await harness.rows()
    assert set(rows) == {os.fsencode(new)}
    moved = rows[os.fsencode(new)]
    assert moved["id"] == item["id"] and moved["file_hash"] == item["file_hash"]
    assert harness.state.moved == 1


async def test_gone_marks_a_folder_missing_and_the_bytes_come_back(harness: Harness) -> None:
    folder = harness.root.path / "album"
    folder.mkdir()
    (folder / "1.flac").write_bytes(b"track one")
    (folder / "2.flac").write_bytes(b"track two")
    sibling = harness.root.path / "album2.flac"  # shares the prefix "album" but is not inside
    sibling.write_bytes(b"other")
    await harness.apply(*(harness.file(p) for p in (folder / "1.flac", folder / "2.flac", sibling)))
    ids = {k: v["id"] for k, v in (await harness.rows()).items()}

    await harness.apply(Observation("gone", harness.root.id, os.fsencode(folder)))
    rows = await harness.rows()
    assert rows[os.fsencode(folder / "1.flac")]["status"] == "missing"
    assert rows[os.fsencode(folder / "1.flac")]["missing_since"] is not None
    assert rows[os.fsencode(folder / "2.flac")]["status"] == "missing"
    assert rows[os.fsencode(sibling)]["status"] == "present"
    assert harness.state.marked_missing == 2

    # The same bytes reappear somewhere else (copied back from a backup, another inode).
    back = harness.root.path / "restored" / "one.flac"
    back.parent.mkdir()
    back.write_bytes(b"track one")
    await harness.apply(harness.file(back))
    rows = await harness.rows()
    assert rows[os.fsencode(back)]["id"] == ids[os.fsencode(folder / "1.flac")]
    assert rows[os.fsencode(back)]["status"] == "present"
    assert os.fsencode(folder / "1.flac") not in rows


async def test_a_failure_is_recorded_and_keeps_the_old_hash(harness: Harness) -> None:
    path = harness.root.path / "song.mp3"
    path.write_bytes(b"music")
    await harness.apply(harness.file(path))
    digest = (await harness.rows())[os.fsencode(path)]["file_hash"]
    failed = Observation(
        "failed",
        harness.root.id,
        os.fsencode(path),
        st=os.lstat(path),
        mime_type="audio/mpeg",
        media_type="audio",
        error_code="permission_denied",
        error="permission denied reading song.mp3",
    )
    await harness.apply(failed)
    row = (await harness.rows())[os.fsencode(path)]
    assert row["status"] == "failed" and row["error_code"] == "permission_denied"
    assert row["file_hash"] == digest
    assert harness.state.recent_errors[-1]["code"] == "permission_denied"

    await harness.apply(harness.file(path))  # readable again
    row = (await harness.rows())[os.fsencode(path)]
    assert row["status"] == "present" and row["error"] is None


async def test_flush_waits_for_the_writer_task(harness: Harness) -> None:
    path = harness.root.path / "x.bin"
    path.write_bytes(b"x")
    await harness.writer.put(harness.file(path))
    await asyncio.wait_for(harness.writer.flush(), 10)
    assert os.fsencode(path) in await harness.rows()


async def test_indexer_records_a_file_that_changed_under_it(harness: Harness) -> None:
    """The indexer with real hashing processes: a stale stat is recorded as a failure, the
    next look indexes the file, and an unchanged file is skipped without hashing."""
    from mediaforged.fs.hashpool import HashPool
    from mediaforged.pipeline.indexer import Indexer, IndexRequest

    path = harness.root.path / "video.mkv"
    path.write_bytes(b"first bytes")
    stale = os.lstat(path)
    path.write_bytes(b"the copy went on")
    pool = HashPool(1)
    indexer = Indexer(harness.engine, harness.writer, harness.state, pool, queue_size=64, workers=1)
    tasks = [asyncio.create_task(indexer.run())]
    try:
        await indexer.put(IndexRequest(harness.root, os.fsencode(path), stale))
        await asyncio.wait_for(_until(lambda: harness.state.failed == 1), 30)
        await harness.writer.flush()
        row = (await harness.rows())[os.fsencode(path)]
        assert row["status"] == "failed" and row["error_code"] == "changed_during_read"

        await indexer.put(IndexRequest(harness.root, os.fsencode(path), os.lstat(path)))
        await asyncio.wait_for(_until(lambda: harness.state.indexed == 1), 30)
        await harness.writer.flush()
        row = (await harness.rows())[os.fsencode(path)]
        assert row["status"] == "present" and row["error_code"] is None
        assert row["size"] == len(b"the copy went on")

        await indexer.put(IndexRequest(harness.root, os.fsencode(path), os.lstat(path)))
        await asyncio.wait_for(_until(lambda: harness.state.skipped_unchanged == 1), 30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pool.close()


async def _until(condition: object) -> None:
    assert callable(condition)
    while not condition():  # noqa: ASYNC110 - polls counters owned by the code under test
        await asyncio.sleep(0.02)


async def test_a_stale_new_path_hint_falls_back_to_a_lookup(harness: Harness) -> None:
    """A reconcile saw a path as new while a watch event already inserted it: the fast
    insert conflicts, and the batch is redone with lookups instead of failing."""
    path = harness.root.path / "both.jpg"
    path.write_bytes(b"seen twice")
    await harness.apply(harness.file(path))
    first = (await harness.rows())[os.fsencode(path)]
    path.write_bytes(b"seen twice, then changed")
    again = harness.file(path)
    again.new_path = True
    with capture_logs() as logs:
        await harness.apply(again)
    # Nothing is missing or failed, so the fast path skipped the lookup and the insert hit
    # the path's unique index.
    assert "batch_retried_one_by_one" in [e["event"] for e in logs]
    rows = await harness.rows()
    assert len(rows) == 1
    assert rows[os.fsencode(path)]["id"] == first["id"]
    assert rows[os.fsencode(path)]["size"] == len(b"seen twice, then changed")


async def test_two_new_links_to_a_moved_inode(harness: Harness) -> None:
    """The old name is gone and two new hard links remain: one keeps the item, the other
    becomes an item of its own with the same hash (same inode, same bytes)."""
    old = harness.root.path / "old.jpg"
    old.write_bytes(b"one inode")
    await harness.apply(harness.file(old))
    item = (await harness.rows())[os.fsencode(old)]
    a, b = harness.root.path / "a.jpg", harness.root.path / "b.jpg"
    os.link(old, a)
    os.link(old, b)
    old.unlink()
    moves = [
        Observation(
            "move", harness.root.id, os.fsencode(p), st=os.lstat(p), move_from_id=item["id"]
        )
        for p in (a, b)
    ]
    await harness.apply(*moves)
    rows = await harness.rows()
    assert set(rows) == {os.fsencode(a), os.fsencode(b)}
    assert rows[os.fsencode(a)]["id"] == item["id"]
    assert rows[os.fsencode(b)]["id"] != item["id"]
    assert rows[os.fsencode(b)]["file_hash"] == item["file_hash"]
    assert rows[os.fsencode(b)]["status"] == "present"


async def test_a_move_whose_item_vanished_is_retried_later(harness: Harness) -> None:
    path = harness.root.path / "late.jpg"
    path.write_bytes(b"late")
    move = Observation(
        "move", harness.root.id, os.fsencode(path), st=os.lstat(path), move_from_id=424242
    )
    await harness.apply(move)
    row = (await harness.rows())[os.fsencode(path)]
    assert row["status"] == "failed" and row["error_code"] == "retry"


async def _tag_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(tags.c.name).order_by(tags.c.name))).scalars())


async def _hold_the_writer(harness: Harness) -> asyncio.Event:
    """Keep the writer busy inside a transaction until the event is set, so that whatever
    is queued meanwhile is taken as one batch."""
    release = asyncio.Event()
    entered = asyncio.Event()

    async def wait(conn: AsyncConnection) -> None:
        entered.set()
        await release.wait()

    await harness.writer.submit(wait)
    await asyncio.wait_for(entered.wait(), 10)
    return release


async def test_a_durable_transaction_commits_with_full_sync(
    harness: Harness, tmp_path: Path
) -> None:
    """A durable transaction runs with synchronous=FULL (2), is committed when the await
    returns, and hands back fn's result; bulk writes before and after it keep NORMAL (1)."""

    async def probe(conn: AsyncConnection) -> int:
        return int((await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one())

    async def add_tag(conn: AsyncConnection) -> int:
        await conn.execute(insert(tags).values(name="kept"))
        return await probe(conn)

    seen = [await harness.writer.transaction(probe)]
    photo = harness.root.path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 p")
    await harness.writer.put(harness.file(photo))
    seen.append(await harness.writer.transaction(add_tag, durable=True))
    # Committed before the await returned: a connection of its own sees it at once.
    plain = sqlite3.connect(tmp_path / "catalog.db")
    try:
        assert plain.execute("SELECT name FROM tags").fetchall() == [("kept",)]
    finally:
        plain.close()
    seen.append(await harness.writer.transaction(probe))
    assert seen == [1, 2, 1]
    assert os.fsencode(photo) in await harness.rows()


async def test_an_exception_in_a_transaction_reaches_its_caller_only(harness: Harness) -> None:
    """fn's exception (and its writes) are its own: the other work of the same batch
    commits, and the writer goes on."""
    a, b = harness.root.path / "a.jpg", harness.root.path / "b.jpg"
    a.write_bytes(b"a")
    b.write_bytes(b"b")

    async def fails(conn: AsyncConnection) -> None:
        await conn.execute(insert(tags).values(name="undone"))
        raise ValueError("refused")

    async def conflicts(conn: AsyncConnection) -> None:
        await conn.execute(insert(tags).values(name="undone too"))
        await conn.execute(roots.insert().values(path=str(harness.root.path)))  # unique

    async def succeeds(conn: AsyncConnection) -> int:
        await conn.execute(insert(tags).values(name="written"))
        return 42

    async def count_items(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(media_items))).scalar_one())

    release = await _hold_the_writer(harness)
    commits = harness.writer.commit_count
    # The queue holds 4 puts (queue_size 100): the files go in one.
    await harness.writer.put_many([harness.file(a), harness.file(b)])
    calls = [
        asyncio.ensure_future(harness.writer.transaction(fn)) for fn in (fails, conflicts, succeeds)
    ]
    while harness.writer.waiting < 5:  # noqa: ASYNC110 - the queue fills as the calls start
        await asyncio.sleep(0.01)
    release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
    assert isinstance(outcomes[0], ValueError) and str(outcomes[0]) == "refused"
    assert isinstance(outcomes[1], IntegrityError)
    assert outcomes[2] == 42
    await harness.writer.flush()
    assert harness.writer.commit_count == commits + 2  # the held batch, then all of these
    assert {os.fsencode(a), os.fsencode(b)} <= set(await harness.rows())
    assert await _tag_names(harness.engine) == ["written"]
    assert not harness.task.done()
    assert await harness.writer.transaction(count_items) == 2  # the writer still runs


async def test_a_retried_batch_answers_from_the_run_that_committed(harness: Harness) -> None:
    """A batch that fails on an observation is redone one by one: fn runs twice, and the
    caller gets the result of the second run, the one that committed."""
    path = harness.root.path / "both.jpg"
    path.write_bytes(b"seen twice")
    await harness.apply(harness.file(path))
    path.write_bytes(b"seen twice, then changed")
    again = harness.file(path)
    again.new_path = True  # a stale hint: the fast path's insert conflicts
    runs: list[int] = []

    async def count_runs(conn: AsyncConnection) -> int:
        runs.append(1)
        await conn.execute(insert(tags).values(name="once"))
        return len(runs)

    release = await _hold_the_writer(harness)
    call = asyncio.ensure_future(harness.writer.transaction(count_runs))
    while harness.writer.waiting < 1:  # noqa: ASYNC110 - the queue fills as the call starts
        await asyncio.sleep(0.01)
    await harness.writer.put(again)
    with capture_logs() as logs:
        release.set()
        assert await asyncio.wait_for(call, 30) == 2
        await harness.writer.flush()
    assert "batch_retried_one_by_one" in [e["event"] for e in logs]
    assert runs == [1, 1]
    assert await _tag_names(harness.engine) == ["once"]
    assert (await harness.rows())[os.fsencode(path)]["size"] == len(b"seen twice, then changed")


async def test_a_submitted_write_is_flushed_and_its_failure_logged(harness: Harness) -> None:
    async def fails(conn: AsyncConnection) -> None:
        raise RuntimeError("a bug in a stage")

    async def succeeds(conn: AsyncConnection) -> None:
        await conn.execute(insert(tags).values(name="later"))

    with capture_logs() as logs:
        await harness.writer.submit(fails)
        await harness.writer.submit(succeeds)
        await asyncio.wait_for(harness.writer.flush(), 30)
    failures = [e for e in logs if e["event"] == "write_failed"]
    assert len(failures) == 1 and "a bug in a stage" in failures[0]["error"]
    assert await _tag_names(harness.engine) == ["later"]
    assert not harness.task.done()
