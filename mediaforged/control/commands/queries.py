"""Questions about the library: ``info``, ``why`` and ``duplicates`` (``failed`` and
``retry`` are in failures.py).

Reads use their own connections (WAL: they never wait for the writer); ``why`` also looks
at the daemon's live state (excludes, .mediaforgeignore folders, files still settling).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.schema import (
    collection_items,
    collections,
    events,
    item_tags,
    media_items,
    media_metadata,
    tags,
    verifications,
)
from mediaforged.catalog.sql import chunks
from mediaforged.control.commands.roots import removed_root_of
from mediaforged.control.context import (
    Context,
    Progress,
    Spec,
    abs_path,
    arg,
    iso,
    jsonable,
    path_arg,
)
from mediaforged.fs.fsio import IGNORE_MARKER, display_path
from mediaforged.fs.guard import FsTimeout
from mediaforged.fs.safepath import FileProblem, lstat_under
from mediaforged.protocol import ErrorCode, ProtocolError
from mediaforged.protocol.queries import ItemCopy, ItemEvent
from mediaforged.state import RootState

__all__ = ["COMMANDS"]


_HISTORY = 50  # change-log entries on an item page
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _limit(args: dict[str, Any], default: int) -> tuple[int, int]:
    limit = arg(args, "limit", int, default)
    offset = arg(args, "offset", int, 0)
    if limit < 0 or offset < 0:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "limit and offset must not be negative")
    return limit, offset


async def _find_item(conn: AsyncConnection, ctx: Context, args: dict[str, Any]) -> Any:
    path_text = arg(args, "path", str)
    item_id = arg(args, "id", int)
    c = media_items.c
    if path_text is not None:
        key, _root = path_arg(ctx, path_text)
        row = (await conn.execute(select(media_items).where(c.path_key == key))).first()
        what = path_text
    elif item_id is not None:
        row = (await conn.execute(select(media_items).where(c.id == item_id))).first()
        what = f"item {item_id}"
    else:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "give a path or an id")
    if row is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND, f"{what} is not in the catalog (`mediaforgectl why` says why)"
        )
    return row


async def info(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Everything the catalog knows about one item."""
    async with ctx.engine.connect() as conn:
        row = await _find_item(conn, ctx, args)
        meta = (
            await conn.execute(select(media_metadata).where(media_metadata.c.item_id == row.id))
        ).first()
        tag_rows = await conn.execute(
            select(tags.c.name)
            .join(item_tags, item_tags.c.tag_id == tags.c.id)
            .where(item_tags.c.item_id == row.id)
            .order_by(tags.c.name)
        )
        coll_rows = await conn.execute(
            select(collections.c.name)
            .join(collection_items, collection_items.c.collection_id == collections.c.id)
            .where(collection_items.c.item_id == row.id)
            .order_by(collections.c.name)
        )
        copies: list[ItemCopy] = []
        verified = None
        if row.file_hash:
            v = verifications.c
            verified = (
                await conn.execute(
                    select(v.status, v.decoder, v.error, v.at, v.verified_at).where(
                        v.hash_key == row.hash_key, v.file_hash == row.file_hash
                    )
                )
            ).first()
            c = media_items.c
            same = await conn.execute(
                select(c.id, c.path)
                .where(c.hash_key == row.hash_key, c.file_hash == row.file_hash, c.id != row.id)
                .where(c.status == "present")
                .order_by(c.path)
                .limit(50)
            )
            copies = [{"id": r.id, "path": r.path} for r in same]
        history = await _history(conn, row.id)
    metadata = {k: v for k, v in jsonable(meta._mapping).items() if v is not None} if meta else {}
    metadata.pop("item_id", None)
    item = jsonable(row._mapping)
    if verified is not None and verified.status == "corrupt" and item["error_code"] is None:
        # The damage a decode found is the item's error (kept by hash: a move keeps it).
        item["error_code"] = "corrupt"
        item["error"] = verified.error + (f" ({verified.at})" if verified.at else "")
    return {
        "item": item,
        "verify": jsonable(verified._mapping) if verified is not None else None,
        "thumbnail": ctx.thumbnail_of(row.file_hash, meta.thumb_status if meta else None),
        "metadata": metadata,
        "tags": [r.name for r in tag_rows],
        "collections": [r.name for r in coll_rows],
        "same_content": [copy["path"] for copy in copies],
        "copies": copies,
        "history": history,
    }


async def _history(conn: AsyncConnection, item_id: int) -> list[ItemEvent]:
    """The item's last changes from the change log, newest first (pruned after
    events_keep_days), through the index on (item_id, id)."""
    e = events.c
    rows = await conn.execute(
        select(e.id, e.at, e.kind, e.path, e.old_path)
        .where(e.item_id == item_id)
        .order_by(e.id.desc())
        .limit(_HISTORY)
    )
    return [
        {"cursor": r.id, "at": iso(r.at) or "", "kind": r.kind, "path": r.path,
         "old_path": r.old_path}
        for r in rows
    ]  # fmt: skip


def _exclude_rule(ctx: Context, root: RootState, name: bytes) -> str | None:
    for pattern in ctx.config.exclude_of(root.path):
        if re.match(os.fsencode(fnmatch.translate(pattern)), name, re.DOTALL):
            return pattern
    return None


def _on_disk(root: bytes, path: bytes) -> tuple[os.stat_result | None, str]:
    """The lstat of ``path`` reached from its root without following a link on the way,
    or None and, when a folder on the way is a symlink, the sentence that says so."""
    try:
        return lstat_under(root, path), ""
    except FileProblem as problem:
        return None, problem.message if problem.code == "symlink" else ""


def _marked(root: RootState, parts: list[bytes]) -> bytes | None:
    """The first folder on the way to the path that holds a .mediaforgeignore marker."""
    for i in range(len(parts)):
        folder = b"/".join([root.key, *parts[:i]])
        if folder in root.ignored_dirs or _on_disk(root.key, folder + b"/" + IGNORE_MARKER)[0]:
            return folder
    return None


async def _look(ctx: Context, root: RootState, fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``fn(*args)`` through the root's guard: a hung root answers ``unreachable``."""
    try:
        return await ctx.reconciler.fs(root).call(fn, *args)
    except FsTimeout as exc:
        raise ProtocolError(ErrorCode.UNREACHABLE, str(exc)) from None


def _catalogued(row: Any, on_disk: bool) -> tuple[str, str]:
    """The reason and the sentence for a path the catalog has an item at."""
    if row.status == "present":
        return "catalogued", f"catalogued as item {row.id} ({row.media_type})"
    if row.status == "failed":
        return (
            "failed",
            f"reading it failed: {row.error_code}: {row.error} "
            "(`mediaforgectl retry PATH` tries again)",
        )
    back = " It is on disk again: it is restored once it settles or at the next reconcile."
    return (
        "missing",
        f"item {row.id} vanished from disk ({jsonable(row._mapping)['missing_since']}); "
        f"it keeps its tags for missing_grace_days.{back if on_disk else ''}",
    )


async def why(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Why a path is, or is not, in the catalog: one reason code and a sentence."""
    text = arg(args, "path", str)
    if text is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "path is required")
    path = abs_path(text)

    def answer(reason: str, message: str, **extra: Any) -> dict[str, Any]:
        return {"path": text, "catalogued": reason == "catalogued", "reason": reason,
                "message": message, **extra}  # fmt: skip

    root = ctx.state.root_for(path)
    if root is None and (removed := await removed_root_of(ctx, path)) is not None:
        return answer(
            "removed",
            f"its root {removed[0]} was removed from the config: its {removed[1]} items are "
            f"offline (`mediaforgectl roots forget {removed[0]}` drops them)",
        )
    if root is None:
        shown = ", ".join(str(r.path) for r in ctx.state.roots)
        return answer("outside", f"not inside any library root ({shown})")
    async with ctx.engine.connect() as conn:
        row = (
            await conn.execute(select(media_items).where(media_items.c.path_key == path))
        ).first()
    on_disk, through_link = await _look(ctx, root, _on_disk, root.key, path)
    if row is not None:
        return answer(*_catalogued(row, on_disk is not None), id=row.id, status=row.status)
    parts = path[len(root.key) + 1 :].split(b"/") if path != root.key else []
    marked = await _look(ctx, root, _marked, root, parts)
    if marked is not None:
        return answer(
            "ignored", f"inside {display_path(marked)}, which holds a .mediaforgeignore file"
        )
    for i, name in enumerate(parts):
        rule = _exclude_rule(ctx, root, name)
        if rule is not None:
            shown = display_path(b"/".join([root.key, *parts[: i + 1]]))
            return answer("excluded", f"{shown} matches the exclude pattern {rule!r}", rule=rule)
    if through_link:
        return answer("not_regular", f"{through_link}: the files below it are not catalogued")
    if on_disk is None:
        return answer("not_found", "no such file on disk, and nothing catalogued at this path")
    if stat.S_ISLNK(on_disk.st_mode):
        return answer("not_regular", "a symbolic link: links are not followed")
    if stat.S_ISDIR(on_disk.st_mode):
        return answer("not_regular", "a folder: the files in it are catalogued one by one")
    if not stat.S_ISREG(on_disk.st_mode):
        return answer("not_regular", "not a regular file (a FIFO, socket or device)")
    if path in ctx.settler:
        return answer(
            "settling",
            f"changed just now: it is catalogued once its size and mtime stay still for "
            f"{ctx.config.settle_seconds:g}s",
        )
    if not root.online:
        return answer("offline", f"its root is offline: {root.offline_reason}")
    if root.paused or ctx.state.paused:
        return answer("paused", "indexing is paused (`mediaforgectl resume`)")
    return answer(
        "not_seen",
        "not catalogued yet (being indexed, or a change the watch missed): "
        "`mediaforgectl rescan PATH` catalogs it now",
    )


async def duplicates(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Groups of present items with identical content, most wasted space first. Hard links
    (the same dev and inode) are one copy, not duplicates."""
    limit, offset = _limit(args, 50)
    min_size = arg(args, "min_size", int, 1)
    c = media_items.c
    copies = (
        select(c.file_hash, c.size, c.dev, c.inode)
        .where(c.status == "present", c.file_hash.is_not(None), c.size >= min_size)
        .distinct()
        .subquery()
    )
    groups = (
        select(copies.c.file_hash, copies.c.size, func.count().label("copies"))
        .group_by(copies.c.file_hash, copies.c.size)
        .having(func.count() > 1)
        .subquery()
    )
    waste = (groups.c.size * (groups.c.copies - 1)).label("waste")
    async with ctx.engine.connect() as conn:
        totals = (await conn.execute(select(func.count(), func.coalesce(func.sum(waste), 0)))).one()
        top = list(
            await conn.execute(
                select(groups.c.file_hash, groups.c.size, groups.c.copies, waste)
                .order_by(waste.desc(), groups.c.file_hash)
                .limit(limit)
                .offset(offset)
            )
        )
        paths: dict[str, list[dict[str, Any]]] = {}
        thumb = media_metadata.c.thumb_status
        hashes = [g.file_hash for g in top]
        for chunk in chunks(hashes):
            rows = await conn.execute(
                select(c.id, c.path, c.file_hash, c.dev, c.inode, c.media_type, thumb)
                .outerjoin(media_metadata, media_metadata.c.item_id == c.id)
                .where(c.file_hash.in_(chunk), c.status == "present")
                .order_by(c.path)
            )
            for r in rows:
                paths.setdefault(r.file_hash, []).append(
                    {"id": r.id, "path": r.path, "dev": r.dev, "inode": r.inode,
                     "media_type": r.media_type,
                     "thumbnail": ctx.thumbnail_of(r.file_hash, r.thumb_status)}
                )  # fmt: skip
    return {
        "groups": totals[0],
        "wasted_bytes": int(totals[1]),
        "duplicates": [
            {
                "file_hash": g.file_hash,
                "size": g.size,
                "copies": g.copies,
                "wasted_bytes": g.waste,
                "items": paths.get(g.file_hash, []),
            }
            for g in top
        ],
    }


COMMANDS: dict[str, Spec] = {
    "info": Spec(info, ("path", "id")),
    "why": Spec(why, ("path",)),
    # "duplicates" itself is similar.py's: this is its exact tier
}
