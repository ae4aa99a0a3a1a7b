"""``search``: filter, sort and page the catalog.

``q`` (or ``query``) is the search language (catalog/query.py: words, phrases, prefixes,
``field:value``, ranges, ``-``, ``OR``, parentheses, ``sort:``). The older arguments are one
line each of ``FILTERS`` (its JSON type and the SQL condition it adds) and combine with it by
AND. ``explain`` adds how the query was read, its SQL and SQLite's plan to the reply.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, exists, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog import searchindex
from mediaforged.catalog.query import Node, Query, parse
from mediaforged.catalog.querysql import (
    compile_tree,
    describe,
    match_words,
    mentions,
    now_utc,
    split_words,
    status_condition,
)
from mediaforged.catalog.schema import (
    ITEM_STATUSES,
    MEDIA_TYPES,
    collection_items,
    collections,
    item_tags,
    media_items,
    media_metadata,
    tags,
)
from mediaforged.control.commands import searchpage
from mediaforged.control.context import Context, Progress, Spec, arg, jsonable, str_list
from mediaforged.fs.fsio import under
from mediaforged.protocol import ErrorCode, ProtocolError
from mediaforged.protocol.queries import ReindexReply, SearchExplain, SearchItem, SearchReply

__all__ = ["COMMANDS", "FILTERS", "SORTS"]

m = media_items.c
md = media_metadata.c
MAX_LIMIT = 10000
STREAM_BYTES = 256 * 1024  # a streamed line's items; MAX_LINE is 1 MiB

Condition = ColumnElement[bool]


def _contains(*columns: ColumnElement[Any]) -> Callable[[str], Condition]:
    """Case-insensitive substring match on any of the columns (LIKE wildcards escaped)."""

    def condition(text: str) -> Condition:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return or_(*(c.ilike(pattern, escape="\\") for c in columns))

    return condition


def _date(text: str, end: bool) -> datetime:
    """An ISO date or date-time; a bare date as an end bound means the end of that day.
    One with a UTC offset is converted to UTC: the item timestamps are naive UTC."""
    value = _parse_date(text, end)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _local_date(name: str, end: bool) -> Callable[[str], Condition]:
    """``taken_at`` is the wall-clock time where a picture was taken, whatever its offset
    (see schema.py): it is compared with a local date or date-time, given without one."""

    def condition(text: str) -> Condition:
        value = _parse_date(text, end)
        if value.tzinfo is not None:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"{name} is a local time, as taken_at shows it: "
                f"give {text!r} without a UTC offset (YYYY-MM-DD or YYYY-MM-DDTHH:MM)",
            )
        return md.taken_at < value if end else md.taken_at >= value

    return condition


def _parse_date(text: str, end: bool) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        ) from None
    if end and len(text) <= 10:
        value += timedelta(days=1)
    return value


def _one_of(
    column: ColumnElement[Any], allowed: tuple[str, ...], name: str
) -> Callable[[str], Condition]:
    def condition(value: str) -> Condition:
        if value not in allowed:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, f"{name} must be one of {', '.join(allowed)}, got {value!r}"
            )
        return column == value

    return condition


def _tagged(name: str) -> Condition:
    return exists().where(
        item_tags.c.item_id == m.id, item_tags.c.tag_id == tags.c.id, tags.c.name == name
    )


def _in_collection(name: str) -> Condition:
    return exists().where(
        collection_items.c.item_id == m.id,
        collection_items.c.collection_id == collections.c.id,
        collections.c.name == name,
    )


def _under(text: str) -> Condition:
    if not posixpath.isabs(text):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "under must be an absolute path")
    low, high = under(os.fsencode(posixpath.normpath(text)))
    return and_(m.path_key >= low, m.path_key < high)


# name -> (JSON type, condition). Strings match as case-insensitive substrings.
FILTERS: dict[str, tuple[type, Callable[[Any], Condition]]] = {
    "text": (str, _contains(m.path, md.title, md.artist, md.album)),
    "type": (str, _one_of(m.media_type, MEDIA_TYPES, "type")),
    "artist": (str, _contains(md.artist, md.album_artist)),
    "album": (str, _contains(md.album)),
    "title": (str, _contains(md.title)),
    "genre": (str, _contains(md.genre)),
    "camera": (str, _contains(md.camera_make, md.camera_model)),
    "taken_from": (str, _local_date("taken_from", end=False)),
    "taken_to": (str, _local_date("taken_to", end=True)),
    "added_from": (str, lambda v: m.created_at >= _date(v, end=False)),
    "added_to": (str, lambda v: m.created_at < _date(v, end=True)),
    "min_width": (int, lambda v: md.width >= v),
    "min_height": (int, lambda v: md.height >= v),
    "min_duration": (float, lambda v: md.duration_s >= v),
    "max_duration": (float, lambda v: md.duration_s <= v),
    "min_size": (int, lambda v: m.size >= v),
    "year": (int, lambda v: md.year == v),
    "under": (str, _under),
    "collection": (str, _in_collection),
}

SORTS: dict[str, ColumnElement[Any]] = {
    # path_key: the unique index, in the same order as path for UTF-8 names (both bytewise)
    "path": m.path_key,
    "name": m.name,
    "size": m.size,
    "added": m.created_at,
    "modified": m.mtime_ns,
    "taken": md.taken_at,
    "duration": md.duration_s,
    "artist": md.artist,
    "album": md.album,
}

_COLUMNS = (
    m.id,
    m.path,
    m.media_type,
    m.mime_type,
    m.size,
    m.status,
    m.created_at,
    m.mtime_ns,
    md.title,
    md.artist,
    md.album,
    md.taken_at,
    md.taken_offset,  # taken_at is shown with it
    md.width,
    md.height,
    md.duration_s,
    md.camera_make,
    md.camera_model,
)


# What an item's thumbnail path is made of: read, then replaced by "thumbnail" (or null).
_THUMB = (m.file_hash.label("_hash"), md.thumb_status.label("_thumb"))


def _item(ctx: Context, row: Any) -> SearchItem:
    item = jsonable(row._mapping)
    item.pop("sort_value", None)  # the keyset's copy of the sort column
    item["thumbnail"] = ctx.thumbnail_of(item.pop("_hash"), item.pop("_thumb"))
    return cast(SearchItem, item)


def _query(args: dict[str, Any]) -> Query:
    """``q`` and ``query`` (the same argument under the HTTP API's name and the socket's),
    read; both given: both must match."""
    texts = [t for t in (arg(args, "q", str), arg(args, "query", str)) if t]
    return parse(" ".join(f"({t})" if len(texts) > 1 else t for t in texts), now_utc())


def _conditions(
    args: dict[str, Any], query: Query, fts: bool, root: Node | None, probe: bool = False
) -> list[Condition]:
    """The conditions of ``root`` (the query's tree, or what is left of it) and of the
    arguments; ``probe``: for a walk (compile_tree), the tree's condition last."""
    out: list[Condition] = []
    for name, (kind, condition) in FILTERS.items():
        value = arg(args, name, kind)
        if value is not None and value != "":
            out.append(condition(value))
    out += [_tagged(t) for t in str_list(args, "tags")]
    # A query that names a status: replaces the default (present), not the argument.
    default = None if mentions(query.root, "status") else "present"
    status = arg(args, "status", str, default)
    if status is not None and status not in ("failed", "any"):
        _one_of(m.status, ITEM_STATUSES, "status")(status)  # bad_request for another word
    found = status_condition(status) if status is not None else None
    if found is not None:
        out.append(found)
    if root is not None:
        out.insert(len(out) if probe else 0, compile_tree(root, fts, probe))
    return out


def _order(args: dict[str, Any], query: Query) -> tuple[str, ColumnElement[Any], bool]:
    """The sort's name, its column, and whether it is descending (the argument's, else the
    query's ``sort:``, else by path)."""
    text = arg(args, "sort", str, query.sort or "path")
    descending = text.startswith("-")
    column = SORTS.get(text.lstrip("-"))
    if column is None:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"sort must be one of {', '.join(SORTS)} (prefix - for descending), got {text!r}",
        )
    return text, column, descending


def _query_digest(args: dict[str, Any]) -> str:
    """What a cursor is bound to: the filters and the sort (not the page)."""
    skip = ("limit", "offset", "cursor", "stream", "explain", "exact_count")
    query = {k: v for k, v in args.items() if k not in skip}
    text = json.dumps(query, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def search(ctx: Context, args: dict[str, Any], progress: Progress) -> SearchReply:
    """Items matching every given filter, sorted and paged, with the total count. Pages by
    ``offset``, or by ``cursor`` (keyset: the ``next_cursor`` of the page before; a page
    never repeats or skips an item while the catalog changes between pages)."""
    limit = arg(args, "limit", int, 100)
    offset = arg(args, "offset", int, 0)
    cursor = arg(args, "cursor", str)
    if not 0 <= limit <= MAX_LIMIT or offset < 0:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"limit must be 0 to {MAX_LIMIT} and offset not negative"
        )
    if cursor is not None and offset:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "give a cursor or an offset, not both")
    query = _query(args)
    fts = ctx.engine.dialect.name == "sqlite"  # the word index (0005_search): SQLite only
    where = _conditions(args, query, fts, query.root)
    # The words the whole query needs, read from the index in order with each item joined:
    # the count, and a page of few matches (a walk tests the full conditions instead).
    words, rest = split_words(query.root) if fts and query.root else (None, query.root)
    driven = (searchpage.SOURCE, where)
    if words is not None:
        driven = (
            searchpage.WORDS_SOURCE,
            [match_words(words), *_conditions(args, query, fts, rest)],
        )
    text, column, descending = _order(args, query)
    key = column.desc() if descending else column.asc()
    digest = _query_digest(args)
    after = None if cursor is None else searchpage.decode_cursor(cursor, digest)
    exact = arg(args, "exact_count", bool, False)
    async with ctx.engine.connect() as conn:
        total = await searchpage.count(conn, *driven, None if exact else searchpage.COUNT_CAP)
        walk = (
            fts
            and text.lstrip("-") in searchpage.WALKABLE
            and await searchpage.dense(conn, total, limit + offset)
        )
        # Missing values last either way; the id: a stable order. A walk orders by what the
        # index holds; otherwise "IS NULL" first keeps SQLite from walking the index.
        order = [key, m.id] if walk else [column.is_(None), key, m.id]
        bound = [] if after is None else [searchpage.after(column, descending, *after, walk)]
        page = searchpage.page(
            searchpage.SOURCE if walk else driven[0],
            _conditions(args, query, fts, query.root, probe=True) if walk else driven[1],
            bound=bound, order=order, walk=walk,
            columns=(*_COLUMNS, *_THUMB, column.label("sort_value")),
        ).limit(limit).offset(offset)  # fmt: skip
        rows = list(await conn.execute(page))
        explained = await _explain(conn, query, page) if arg(args, "explain", bool) else None
    items = [_item(ctx, r) for r in rows]
    next_cursor = None
    if rows and len(rows) == limit:
        next_cursor = searchpage.encode_cursor(digest, rows[-1].sort_value, rows[-1].id)
    capped = not exact and total > searchpage.COUNT_CAP
    reply: SearchReply = {
        "total": searchpage.COUNT_CAP if capped else total,
        "total_exact": not capped,
        "offset": offset,
        "items": items,
        "next_cursor": next_cursor,
    }
    if explained is not None:
        reply["explain"] = explained
    if arg(args, "stream", bool, False):
        await _stream(items, progress)
        reply["items"], reply["streamed"] = [], len(items)
    return reply


async def _explain(conn: AsyncConnection, query: Query, page: Select[Any]) -> SearchExplain:
    """How the query was read, the page's SQL (parameters apart) and SQLite's plan for it."""
    compiled = page.compile(dialect=conn.dialect)
    sql = str(compiled)
    params = [_plain(compiled.params[name]) for name in compiled.positiontup or ()]
    plan: list[str] = []
    if conn.dialect.name == "sqlite":
        found = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(params))
        depth: dict[int, int] = {0: -1}
        for row in found:
            node, parent, *_unused, detail = tuple(row)
            depth[node] = depth.get(parent, -1) + 1
            plan.append("  " * depth[node] + str(detail))
    return {"read": describe(query.root), "sort": query.sort, "sql": sql,
            "params": [str(p) for p in params], "plan": plan}  # fmt: skip


def _plain(value: Any) -> Any:
    """A bound value as the driver takes it (the plan does not depend on its type)."""
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


async def _stream(items: Sequence[Mapping[str, object]], progress: Progress) -> None:
    """The items as ``{"items": [...]}`` progress lines of at most about STREAM_BYTES each, so
    that no line comes near MAX_LINE however long the result (the reply then has none)."""
    chunk: list[Mapping[str, object]] = []
    size = 0
    for item in items:
        chunk.append(item)
        size += len(json.dumps(item, ensure_ascii=True))
        if size >= STREAM_BYTES:
            await progress({"items": chunk})
            chunk, size = [], 0
    if chunk:
        await progress({"items": chunk})


SEARCH_ARGS = (*FILTERS, "q", "query", "tags", "status", "sort", "limit", "offset", "cursor",
               "stream", "explain", "exact_count")  # fmt: skip


async def reindex(ctx: Context, args: dict[str, Any], progress: Progress) -> ReindexReply:
    """``search.reindex`` (mediaforgectl reindex-search): make the word index again from the
    catalog, in one of the writer's transactions (searches meanwhile see the old index);
    progress lines ``{"indexed", "total"}``."""
    if ctx.engine.dialect.name != "sqlite":
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, "only an SQLite catalog has a word index to rebuild"
        )
    begun = time.monotonic()

    async def step(done: int, total: int) -> None:
        await progress({"indexed": done, "total": total})

    rows = await ctx.writer.transaction(
        lambda conn: searchindex.rebuild(conn, step), durable=True, recount=False
    )
    return {"rows": rows, "elapsed_s": round(time.monotonic() - begun, 3)}


COMMANDS: dict[str, Spec] = {
    "search": Spec(search, SEARCH_ARGS),
    "search.reindex": Spec(reindex, (), changes=True, streams=True),
}
