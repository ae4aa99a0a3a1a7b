"""The change log as its consumers read it: a page of changes after a cursor (with the item's
media type, and only files that were hashed), the head, and each consumer's durable cursor
(written through the single writer, after the consumer's work succeeded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import (
    EXTRACTED,
    consumer_cursors,
    events,
    media_items,
    media_metadata,
)
from mediaforged.catalog.writer import CatalogWriter
from mediaforged.notify.model import SENT_KINDS, Change

__all__ = ["head", "load_cursor", "metadata_of", "read_changes", "save_cursor"]

e, m, c = events.c, media_items.c, consumer_cursors.c


async def head(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.max(e.id))) or 0)


async def load_cursor(engine: AsyncEngine, name: str) -> int | None:
    async with engine.connect() as conn:
        value = await conn.scalar(select(c.cursor).where(c.name == name))
    return None if value is None else int(value)


async def save_cursor(writer: CatalogWriter, name: str, cursor: int) -> None:
    async def write(conn: AsyncConnection) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        done = await conn.execute(
            update(consumer_cursors).where(c.name == name).values(cursor=cursor, updated_at=now)
        )
        if not done.rowcount:
            await conn.execute(
                insert(consumer_cursors).values(name=name, cursor=cursor, updated_at=now)
            )

    await writer.transaction(write, recount=False)


async def read_changes(
    engine: AsyncEngine, after: int, limit: int = 500, *, extracted: bool = False
) -> tuple[list[Change], int, int]:
    """The changes after ``after`` a consumer may hear of, the cursor of the last event read
    (filtered or not) and how many events were read (``limit``: there may be more). With
    ``extracted`` (the plugins), the ``extracted`` events too.

    A present-day item without a hash (never the case once the indexer wrote it) is left
    out: a target never hears of a file before it settled and was hashed."""
    stmt = (
        select(e.id, e.kind, e.path, e.old_path, e.item_id, e.at, m.media_type, m.file_hash)
        .select_from(events.outerjoin(media_items, m.id == e.item_id))
        .where(e.id > after)
        .order_by(e.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = list(await conn.execute(stmt))
    out: list[Change] = []
    kinds = SENT_KINDS | {EXTRACTED} if extracted else SENT_KINDS
    for row in rows:
        if row.kind not in kinds or row.path is None:
            continue
        if row.kind != "missing" and row.file_hash is None:
            continue
        at = row.at.isoformat() if row.at else ""
        common = {"at": at, "item": row.item_id, "media_type": row.media_type}
        if row.kind == "moved" and row.old_path:
            out.append(Change(row.id, "moved_from", row.old_path, **common))
        out.append(Change(row.id, row.kind, row.path, old_path=row.old_path, **common))
    return out, (rows[-1].id if rows else after), len(rows)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


async def metadata_of(engine: AsyncEngine, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The metadata rows of these items as plain dicts (dates in ISO 8601, empty fields
    left out); an item without a row (its content changed since) is left out."""
    if not ids:
        return {}
    async with engine.connect() as conn:
        rows = list(
            await conn.execute(select(media_metadata).where(media_metadata.c.item_id.in_(ids)))
        )
    return {
        row.item_id: {k: _plain(v) for k, v in row._mapping.items() if v is not None}
        for row in rows
    }
