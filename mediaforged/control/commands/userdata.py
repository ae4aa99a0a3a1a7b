"""Tags and collections: user data the daemon must never lose.

Every change is a durable transaction of the single CatalogWriter: it is committed with
synchronous=FULL (bulk writes use NORMAL) before the command answers, so an acknowledged
change survives a crash or a power cut. Items are named by path (a file, or a
folder for every item in it) or by id; a name that matches nothing refuses the whole
request before anything is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.outage import CatalogUnwritable
from mediaforged.catalog.schema import collection_items, collections, item_tags, media_items, tags
from mediaforged.catalog.sql import IN_CHUNK, chunks
from mediaforged.control.context import Context, Progress, Spec, arg, iso, path_arg, str_list
from mediaforged.fs.fsio import display_path, under
from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = ["COMMANDS"]

T = TypeVar("T")
_MAX_NAME = 200
_ITEM_ARGS = ("paths", "ids")


def _name(args: dict[str, Any], key: str = "name") -> str:
    value = arg(args, key, str)
    if value is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{key} is required")
    value = str(value).strip()
    if not value or len(value) > _MAX_NAME or not value.isprintable():
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"{key} must be 1 to {_MAX_NAME} printable characters, got {value!r}",
        )
    return str(value)


def _items(
    ctx: Context, args: dict[str, Any], required: bool = True
) -> tuple[list[bytes], list[int]]:
    """The paths (checked to be inside a root) and ids a request names."""
    paths = [path_arg(ctx, p, "paths")[0] for p in str_list(args, "paths")]
    ids = arg(args, "ids", list, [])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "ids must be a list of integers")
    if required and not paths and not ids:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "name the items: paths or ids")
    return paths, ids


async def _item_ids(conn: AsyncConnection, paths: list[bytes], ids: list[int]) -> list[int]:
    """Item ids for the paths (a file, or every item under a folder) and ids; not_found
    naming whatever matched nothing."""
    found: dict[int, None] = {}
    unknown: list[str] = []
    c = media_items.c
    for path in paths:
        row = (await conn.execute(select(c.id).where(c.path_key == path))).first()
        if row is not None:
            found[row.id] = None
            continue
        low, high = under(path)
        rows = await conn.execute(
            select(c.id)
            .where(c.path_key >= low, c.path_key < high, c.status != "missing")
            .order_by(c.path_key)
        )
        before = len(found)
        found.update(dict.fromkeys(r.id for r in rows))
        if len(found) == before:
            unknown.append(display_path(path))
    for chunk in chunks(sorted(set(ids))):
        rows = await conn.execute(select(c.id).where(c.id.in_(chunk)))
        known = {r.id for r in rows}
        found.update(dict.fromkeys(known))
        unknown += [f"id {i}" for i in chunk if i not in known]
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if unknown[10:] else "")
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"not in the catalog: {shown} (new files are catalogued once they settle; "
            "`mediaforgectl why PATH` says why one is not)",
        )
    return list(found)


async def _write(ctx: Context, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``fn`` in the writer's transaction and return its result once durably committed.
    A ProtocolError it raises (not found, a conflict) undoes its writes and is raised here;
    the rest of the writer's batch is not affected. While the catalog cannot be written
    (its disk is full) the change is refused at once, and withdrawn: never made later."""
    try:
        return await ctx.writer.transaction(fn, durable=True)
    except CatalogUnwritable as exc:
        raise ProtocolError(ErrorCode.CATALOG_FULL, str(exc)) from None


async def _tag_id(conn: AsyncConnection, name: str) -> int | None:
    row = (await conn.execute(select(tags.c.id).where(tags.c.name == name))).first()
    return None if row is None else int(row.id)


async def _link(conn: AsyncConnection, table: Any, key: str, key_id: int, items: list[int]) -> int:
    """Insert (key_id, item) rows that are not there yet; how many were new."""
    have: set[int] = set()
    for chunk in chunks(items):
        rows = await conn.execute(
            select(table.c.item_id).where(table.c[key] == key_id, table.c.item_id.in_(chunk))
        )
        have.update(r.item_id for r in rows)
    new = [{key: key_id, "item_id": i} for i in items if i not in have]
    if new:
        await conn.execute(insert(table), new)
    return len(new)


async def _unlink(
    conn: AsyncConnection, table: Any, key: str, key_id: int, items: list[int]
) -> int:
    removed = 0
    for chunk in chunks(items):
        result = await conn.execute(
            delete(table).where(table.c[key] == key_id, table.c.item_id.in_(chunk))
        )
        removed += max(result.rowcount, 0)
    return removed


async def _count(conn: AsyncConnection, table: Any, key: str, key_id: int) -> int:
    return int(await conn.scalar(select(func.count()).where(table.c[key] == key_id)) or 0)


async def tag_add(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    name = _name(args, "tag")
    paths, ids = _items(ctx, args)

    async def write(conn: AsyncConnection) -> dict[str, Any]:
        items = await _item_ids(conn, paths, ids)
        tag_id = await _tag_id(conn, name)
        if tag_id is None:
            result = await conn.execute(insert(tags).values(name=name))
            assert result.inserted_primary_key is not None
            tag_id = int(result.inserted_primary_key[0])
        added = await _link(conn, item_tags, "tag_id", tag_id, items)
        total = await _count(conn, item_tags, "tag_id", tag_id)
        return {"tag": name, "added": added, "already": len(items) - added, "items": total}

    return await _write(ctx, write)


async def tag_remove(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    name = _name(args, "tag")
    everywhere = bool(arg(args, "all", bool, False))
    paths, ids = _items(ctx, args, required=not everywhere)

    async def write(conn: AsyncConnection) -> dict[str, Any]:
        tag_id = await _tag_id(conn, name)
        if tag_id is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no tag named {name!r}")
        if everywhere:
            removed = await _count(conn, item_tags, "tag_id", tag_id)
        else:
            items = await _item_ids(conn, paths, ids)
            removed = await _unlink(conn, item_tags, "tag_id", tag_id, items)
        left = await _count(conn, item_tags, "tag_id", tag_id) if not everywhere else 0
        if left == 0:  # a tag on no item is gone (its links go with it: ON DELETE CASCADE)
            await conn.execute(delete(tags).where(tags.c.id == tag_id))
        return {"tag": name, "removed": removed, "items": left}

    return await _write(ctx, write)


def _one_item(ctx: Context, args: dict[str, Any]) -> tuple[list[bytes], list[int]]:
    path = arg(args, "path", str)
    item_id = arg(args, "id", int)
    if path is not None:
        return [path_arg(ctx, path)[0]], []
    return [], [item_id] if item_id is not None else []


async def tag_list(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Every tag with its item count, or the tags of one item (path or id)."""
    paths, ids = _one_item(ctx, args)
    async with ctx.engine.connect() as conn:
        if paths or ids:
            items = await _item_ids(conn, paths, ids)
            rows = await conn.execute(
                select(media_items.c.id, media_items.c.path, tags.c.name)
                .select_from(media_items)
                .outerjoin(item_tags, item_tags.c.item_id == media_items.c.id)
                .outerjoin(tags, tags.c.id == item_tags.c.tag_id)
                .where(media_items.c.id.in_(items[:IN_CHUNK]))
                .order_by(media_items.c.path, tags.c.name)
            )
            out: dict[int, dict[str, Any]] = {}
            for r in rows:
                entry = out.setdefault(r.id, {"id": r.id, "path": r.path, "tags": []})
                if r.name is not None:
                    entry["tags"].append(r.name)
            return {"items": list(out.values())}
        counted = await conn.execute(
            select(tags.c.name, func.count(item_tags.c.item_id))
            .select_from(tags)
            .outerjoin(item_tags, item_tags.c.tag_id == tags.c.id)
            .group_by(tags.c.id)
            .order_by(tags.c.name)
        )
        return {"tags": [{"tag": name, "items": n} for name, n in counted]}


async def _collection(conn: AsyncConnection, name: str) -> int:
    row = (await conn.execute(select(collections.c.id).where(collections.c.name == name))).first()
    if row is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no collection named {name!r}")
    return int(row.id)


async def collection_create(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    name = _name(args)
    description = arg(args, "description", str)

    async def write(conn: AsyncConnection) -> dict[str, Any]:
        exists = (
            await conn.execute(select(collections.c.id).where(collections.c.name == name))
        ).first()
        if exists is not None:
            raise ProtocolError(ErrorCode.CONFLICT, f"a collection named {name!r} exists already")
        result = await conn.execute(
            insert(collections).values(
                name=name, description=description, created_at=datetime.now(UTC)
            )
        )
        assert result.inserted_primary_key is not None
        return {"collection": name, "id": result.inserted_primary_key[0], "created": True}

    return await _write(ctx, write)


async def collection_delete(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Delete the collection (its items stay in the catalog)."""
    name = _name(args)

    async def write(conn: AsyncConnection) -> dict[str, Any]:
        cid = await _collection(conn, name)
        items = await _count(conn, collection_items, "collection_id", cid)
        await conn.execute(delete(collections).where(collections.c.id == cid))
        return {"collection": name, "deleted": True, "items": items}

    return await _write(ctx, write)


async def _collection_edit(ctx: Context, args: dict[str, Any], adding: bool) -> Any:
    name = _name(args)
    paths, ids = _items(ctx, args)

    async def write(conn: AsyncConnection) -> dict[str, Any]:
        cid = await _collection(conn, name)
        items = await _item_ids(conn, paths, ids)
        edit = _link if adding else _unlink
        changed = await edit(conn, collection_items, "collection_id", cid, items)
        total = await _count(conn, collection_items, "collection_id", cid)
        return {"collection": name, "added" if adding else "removed": changed, "items": total}

    return await _write(ctx, write)


async def collection_add(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    return await _collection_edit(ctx, args, adding=True)


async def collection_remove(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    return await _collection_edit(ctx, args, adding=False)


async def collection_list(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    c = collections.c
    async with ctx.engine.connect() as conn:
        rows = await conn.execute(
            select(c.name, c.description, c.created_at, func.count(collection_items.c.item_id))
            .select_from(collections)
            .outerjoin(collection_items, collection_items.c.collection_id == c.id)
            .group_by(c.id)
            .order_by(c.name)
        )
        return {
            "collections": [
                {
                    "collection": name,
                    "description": description,
                    "created_at": iso(created),
                    "items": n,
                }
                for name, description, created, n in rows
            ]
        }


async def collection_show(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    name = _name(args)
    limit = arg(args, "limit", int, 100)
    offset = arg(args, "offset", int, 0)
    if limit < 0 or offset < 0:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "limit and offset must not be negative")
    c = media_items.c
    async with ctx.engine.connect() as conn:
        cid = await _collection(conn, name)
        row = (await conn.execute(select(collections).where(collections.c.id == cid))).one()
        total = await _count(conn, collection_items, "collection_id", cid)
        rows = await conn.execute(
            select(c.id, c.path, c.media_type, c.status, c.size)
            .join(
                collection_items,
                and_(collection_items.c.item_id == c.id, collection_items.c.collection_id == cid),
            )
            .order_by(c.path)
            .limit(limit)
            .offset(offset)
        )
        return {
            "collection": name,
            "description": row.description,
            "created_at": iso(row.created_at),
            "total": total,
            "items": [dict(r._mapping) for r in rows],
        }


COMMANDS: dict[str, Spec] = {
    "tag.add": Spec(tag_add, ("tag", *_ITEM_ARGS), changes=True),
    "tag.remove": Spec(tag_remove, ("tag", "all", *_ITEM_ARGS), changes=True),
    "tag.list": Spec(tag_list, ("path", "id")),
    "collection.create": Spec(collection_create, ("name", "description"), changes=True),
    "collection.delete": Spec(collection_delete, ("name",), changes=True),
    "collection.add": Spec(collection_add, ("name", *_ITEM_ARGS), changes=True),
    "collection.remove": Spec(collection_remove, ("name", *_ITEM_ARGS), changes=True),
    "collection.list": Spec(collection_list),
    "collection.show": Spec(collection_show, ("name", "limit", "offset")),
}
