"""The writer's statements: the lookups that feed the identity rules, and the bulk writes
that carry out their plan. Also ``chunks``, for every IN (...) of the package."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog import changelog
from mediaforged.catalog.identity import MissingRow, MovedRow, PathRow
from mediaforged.catalog.schema import media_items, media_metadata
from mediaforged.fs.fsio import under

__all__ = [
    "IN_CHUNK",
    "ItemInserter",
    "anything_irregular",
    "checkpoint_truncate",
    "chunks",
    "delete_metadata",
    "mark_missing",
    "missing_with_keys",
    "rows_by_id",
    "rows_by_path",
    "synchronous",
    "update_items",
]

T = TypeVar("T")
IN_CHUNK = 400  # bound parameters per IN (...): well under SQLite's limit
c = media_items.c


def chunks(seq: Sequence[T], n: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``seq`` in slices of at most ``n``: one IN (...) each."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


async def synchronous(conn: AsyncConnection, level: str) -> None:
    """Set SQLite's sync level on the raw connection: the engine opens a transaction (BEGIN)
    for any statement through SQLAlchemy, and SQLite refuses the change inside one."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute(f"PRAGMA synchronous={level}")


async def checkpoint_truncate(conn: AsyncConnection) -> tuple[int, int, int]:
    """Copy the WAL into the catalog and cut the WAL file to nothing (outside a transaction,
    as ``synchronous``): what a full disk needs, since the WAL keeps its size otherwise.
    SQLite's (busy, WAL frames, frames copied); busy 1: a reader kept it from finishing."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    row = await cursor.fetchone()
    await cursor.close()
    return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))


async def anything_irregular(conn: AsyncConnection) -> bool:
    """Whether any item is missing or failed."""
    found = await conn.execute(select(c.id).where(c.status != "present").limit(1))
    return found.first() is not None


async def rows_by_path(conn: AsyncConnection, paths: Sequence[bytes]) -> dict[bytes, PathRow]:
    found: dict[bytes, PathRow] = {}
    for chunk in chunks(paths):
        rows = await conn.execute(
            select(c.id, c.path_key, c.file_hash, c.error_code, c.status, c.media_type).where(
                c.path_key.in_(chunk)
            )
        )
        found.update({r.path_key: PathRow._make(r) for r in rows})
    return found


async def rows_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, MovedRow]:
    found: dict[int, MovedRow] = {}
    for chunk in chunks(ids):
        rows = await conn.execute(
            select(c.id, c.file_hash, c.hash_key, c.mime_type, c.media_type, c.path).where(
                c.id.in_(chunk)
            )
        )
        found.update({r.id: MovedRow._make(r) for r in rows})
    return found


async def missing_with_keys(conn: AsyncConnection, keys: Sequence[int]) -> list[MissingRow]:
    """Missing items with one of these hash keys, newest missing first (per key)."""
    found: list[MissingRow] = []
    for chunk in chunks(keys):
        rows = await conn.execute(
            select(c.id, c.file_hash, c.size, c.path)
            .where(c.status == "missing", c.hash_key.in_(chunk))
            .order_by(c.missing_since.desc())
        )
        found += [MissingRow._make(r) for r in rows]
    return found


async def mark_missing(conn: AsyncConnection, paths: Sequence[bytes], now: datetime) -> int:
    """Mark every present item at these paths, or inside them (folders), missing; log it."""
    p: Any = bindparam("p")
    low: Any = bindparam("low")
    high: Any = bindparam("high")
    at_or_inside = or_(c.path_key == p, and_(c.path_key >= low, c.path_key < high))
    params = []
    for path in paths:
        low_v, high_v = under(path)
        params.append({"p": path, "low": low_v, "high": high_v})
    await changelog.record_where(
        conn, "missing", now, c.status != "missing", at_or_inside, params=params
    )
    stmt = (
        update(media_items)
        .where(c.status != "missing", at_or_inside)
        .values(status="missing", missing_since=now, updated_at=now)
    )
    result = await conn.execute(stmt, params)
    return max(result.rowcount, 0)


async def update_items(conn: AsyncConnection, updates: list[dict[str, Any]]) -> None:
    """Update items by "b_id"; executemany needs one key set per statement (failed items
    keep their old hash: no hash keys), so the rows are grouped by their keys."""
    by_keys: dict[frozenset[str], list[dict[str, Any]]] = {}
    for values in updates:
        by_keys.setdefault(frozenset(values), []).append(values)
    stmt = update(media_items).where(c.id == bindparam("b_id"))
    for group in by_keys.values():
        await conn.execute(stmt, group)


async def delete_metadata(conn: AsyncConnection, item_ids: Sequence[int]) -> None:
    """Forget the metadata of items whose content changed: the stage extracts it again."""
    for chunk in chunks(item_ids):
        await conn.execute(media_metadata.delete().where(media_metadata.c.item_id.in_(chunk)))


_INSERT_COLUMNS = [col.name for col in media_items.columns if col.name != "id"]


def _datetime_processor(dialect: Dialect) -> Callable[[datetime], Any]:
    """The dialect's own conversion (on SQLite, SQLAlchemy's ISO text form)."""
    process = c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda v: v)


class ItemInserter:
    """Bulk insert: Core's insert() compiled once for the dialect, rows passed to the driver
    as tuples. Measured: SQLAlchemy's per-row parameter processing of dicts was the largest
    cost of a first import on the event loop; every column here either needs no conversion
    or takes the same value in the whole batch (the timestamps)."""

    def __init__(self) -> None:
        self._sql: tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]] | None = None

    async def insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (every column but id; they share updated_at), converting their
        timestamps in place."""
        dialect = conn.dialect
        if self._sql is None:
            compiled = media_items.insert().compile(dialect=dialect, column_keys=_INSERT_COLUMNS)
            assert compiled.positiontup is not None
            self._sql = (compiled.string, operator.itemgetter(*compiled.positiontup))
        sql, row_tuple = self._sql
        now = _datetime_processor(dialect)(rows[0]["updated_at"])  # one value per batch
        params = []
        for r in rows:
            r["created_at"] = r["updated_at"] = now
            params.append(row_tuple(r))
        await conn.exec_driver_sql(sql, params)
