"""Writing the change log (the ``events`` table) inside the transaction of the change.

The writer records each batch's changes with a few set-based statements, so the log costs
the first import little: the batch's new items are found by their shared ``created_at``
(indexed), missing and purged ones by the same condition that changes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.schema import events, media_items

__all__ = ["prune", "record_inserted", "record_rows", "record_where"]

_COLUMNS = ["at", "kind", "item_id", "path"]
m = media_items.c


async def record_inserted(conn: AsyncConnection, created_at: datetime) -> None:
    """``added`` (or ``failed``) for every item the batch inserted (they share created_at)."""
    kind = case((m.status == "failed", literal("failed")), else_=literal("added"))
    rows = select(m.created_at, kind, m.id, m.path).where(m.created_at == created_at)
    await conn.execute(insert(events).from_select(_COLUMNS, rows.order_by(m.id)))


async def record_where(
    conn: AsyncConnection, kind: str, at: datetime, *where: ColumnElement[bool], params: Any = None
) -> None:
    """``kind`` for every item matching ``where`` (before the statement that changes them)."""
    rows = select(literal(at, events.c.at.type), literal(kind), m.id, m.path).where(*where)
    stmt = insert(events).from_select(_COLUMNS, rows.order_by(m.id))
    await (conn.execute(stmt, params) if params else conn.execute(stmt))


async def record_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Events built by the writer itself (changed, moved, restored, failed updates)."""
    if rows:
        await conn.execute(insert(events), rows)


async def prune(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(delete(events).where(events.c.at < before))
    return max(result.rowcount, 0)
