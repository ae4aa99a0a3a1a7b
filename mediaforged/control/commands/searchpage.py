"""How a search runs at a million items: its count, its page (walk the sort's index, or sort
the matches), and its keyset cursors.

The count stops at ``COUNT_CAP`` (``total_exact`` false) unless asked for every match. A page
of many matches walks the sort's index and stops after the page; a page of few gathers them
(from the word index, in order, each item joined) and sorts them.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import FromClause

from mediaforged.catalog.querysql import search_fts
from mediaforged.catalog.schema import media_items, media_metadata
from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = ["COUNT_CAP", "SOURCE", "WALKABLE", "WORDS_SOURCE", "after", "count", "decode_cursor",
           "dense", "encode_cursor", "page"]  # fmt: skip

m = media_items.c
md = media_metadata.c
Condition = ColumnElement[bool]

# Sorts whose column is never NULL and has an index on media_items: a page of many matches
# walks the index in the sort's order and stops after the page, instead of sorting them all.
WALKABLE = ("path", "size", "added")
# ``total`` counts at most this many matches unless ``exact_count``: counting the 150,000
# items of a common word at a million items would cost many times its first page.
COUNT_CAP = 10000

SOURCE = media_items.outerjoin(media_metadata, md.item_id == m.id)
WORDS_SOURCE = search_fts.join(media_items, m.id == search_fts.c.rowid).outerjoin(
    media_metadata, md.item_id == m.id
)


async def count(
    conn: AsyncConnection, source: FromClause, where: list[Condition], cap: int | None
) -> int:
    """The matches, counted up to ``cap + 1`` (SQLite stops looking there)."""
    counted = select(m.id).select_from(source).where(*where)
    if cap is not None:
        counted = counted.limit(cap + 1)
    return await conn.scalar(select(func.count()).select_from(counted.subquery())) or 0


async def dense(conn: AsyncConnection, total: int, reach: int) -> bool:
    """Whether walking the sort's index beats sorting the matches: a walk reads about
    items / total rows per row of the page (and offset), a sort every match, each at a few
    times the cost of a row of the walk."""
    if total > COUNT_CAP:
        return True
    items = await conn.scalar(select(func.max(m.id))) or 0
    return total * total * 4 > items * (reach + 1)


def page(
    source: FromClause,
    where: list[Condition],
    *,
    bound: list[Condition],
    order: list[ColumnElement[Any]],
    walk: bool,
    columns: tuple[ColumnElement[Any], ...],
) -> Select[Any]:
    """The page's statement. ``walk`` (many matches): the conditions as one expression that
    no index can serve, so that SQLite walks the sort's index from the cursor's bound and
    stops after the page, instead of gathering every match (from the word index or a range's
    index) to sort them all for the first hundred."""
    conditions = list(where)
    if walk and conditions:
        conditions = [func.coalesce(and_(*conditions), false(), type_=Boolean)]
    return (
        select(*columns).select_from(source)
        .where(*conditions, *bound).order_by(*order)
    )  # fmt: skip


def encode_cursor(digest: str, value: Any, item_id: int) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    elif isinstance(value, bytes):  # the path's sort is by path_key
        value = {"b": base64.urlsafe_b64encode(value).decode()}
    raw = json.dumps([digest, value, item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, digest: str) -> tuple[Any, int]:
    """(sort value, id) of the last item of the page before; bad_request if it is not one
    this query gave (another sort or other filters: its place would mean nothing)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        bound, value, item_id = json.loads(raw)
        if isinstance(value, dict):
            b = value.get("b")
            value = base64.urlsafe_b64decode(b) if b else datetime.fromisoformat(value["dt"])
        if not isinstance(item_id, int) or isinstance(value, (list, dict, bool)):
            raise ValueError("not a cursor")  # noqa: TRY004 - caught just below
    except (ValueError, TypeError, KeyError):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, "cursor is not one a search reply gave (next_cursor)"
        ) from None
    if bound != digest:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            "cursor belongs to a search with other filters or another sort: "
            "repeat that search's arguments with it, or start again without a cursor",
        )
    return value, item_id


def after(
    column: ColumnElement[Any], descending: bool, value: Any, item_id: int, walk: bool
) -> Condition:
    """The rows after (value, id) in the order ``[column IS NULL, column, id]``: missing
    values sort last either way; the id breaks ties and is always ascending. A walk (of a
    column never NULL) gets a bound its index can start from (``size <= v AND ...``)."""
    if walk:
        if descending:
            return and_(column <= value, or_(column < value, m.id > item_id))
        return and_(column >= value, or_(column > value, m.id > item_id))
    if value is None:
        return and_(column.is_(None), m.id > item_id)
    beyond = column < value if descending else column > value
    return or_(column.is_(None), beyond, and_(column == value, m.id > item_id))
