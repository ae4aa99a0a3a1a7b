"""Duplicate tiers, the copy to keep, merging, and ``similar``.

``duplicates`` lists groups in three tiers (``tier`` filters): ``exact`` (the same bytes:
queries.duplicates, hard links one copy), ``same-content`` (the same decoded pixels, sound
or video packets: another container or other tags) and ``near`` (catalog/similar.py's
thresholds). Each group has an ``id`` (``TIER:`` and its first SHA-256's first 16 digits),
suggests the copy to ``keep`` and says why. ``duplicates.merge`` moves the other copies' tags
and collections to the kept one; no file is ever deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.schema import (
    collection_items,
    item_tags,
    media_items,
    media_metadata,
)
from mediaforged.catalog.similar import (
    content_groups,
    near_candidates,
    near_groups,
    present_by_hash,
    signature_of,
    signatures_of,
)
from mediaforged.control.commands import queries
from mediaforged.control.context import Context, Progress, Spec, arg
from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = ["COMMANDS"]

TIERS = ("exact", "same-content", "near")
_LOSSY = {"mp3", "aac", "vorbis", "opus", "jpeg", "webp", "h264", "hevc", "vp9", "av1"}


def _tier(args: dict[str, Any]) -> str | None:
    tier: str | None = arg(args, "tier", str)
    if tier is not None and tier not in TIERS:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"tier must be one of {', '.join(TIERS)}")
    return tier


async def _details(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Any]:
    i, m = media_items.c, media_metadata.c
    rows = await conn.execute(
        select(media_items, media_metadata)
        .select_from(media_items.outerjoin(media_metadata, m.item_id == i.id))
        .where(i.id.in_(list(ids)))
    )
    return {r.id: r for r in rows}


def _score(row: Any) -> tuple[Any, ...]:
    """What makes a copy the one to keep, most important first."""
    pixels = (row.width or 0) * (row.height or 0)
    codec = (row.audio_codec or row.video_codec or row.mime_type or "").lower()
    lossless = bool(row.lossless) or not any(k in codec for k in _LOSSY)
    filled = sum(1 for k, v in row._mapping.items() if v is not None and k not in ("extra",))
    return (pixels, lossless, row.bits_per_sample or 0, row.bit_rate or 0, filled, -row.mtime_ns)


_REASONS = (
    "the highest resolution",
    "lossless rather than lossy",
    "the highest bit depth",
    "the highest bit rate",
    "the most complete metadata",
    "the oldest",
)


def suggest(rows: Sequence[Any]) -> tuple[int, str]:
    """The copy to keep and why (the first criterion where it beats the next best)."""
    ranked = sorted(rows, key=lambda r: (_score(r), -r.id), reverse=True)
    best = ranked[0]
    if len(ranked) == 1:
        return best.id, "the only copy"
    a, b = _score(best), _score(ranked[1])
    for reason, x, y in zip(_REASONS, a, b, strict=True):
        if x != y:
            return best.id, reason
    return best.id, "all alike: the first catalogued"


async def _group(
    ctx: Context,
    conn: AsyncConnection,
    tier: str,
    hashes: list[str],
    by_hash: dict[str, list[Any]],
) -> dict[str, Any] | None:
    items = [r for h in hashes for r in by_hash.get(h, [])]
    copies = {(r.dev, r.inode) for r in items}
    if len(copies) < 2:
        return None
    details = await _details(conn, [r.id for r in items])
    keep, why = suggest([details[r.id] for r in items])
    sizes = sorted((r.size for r in items), reverse=True)
    return {
        "id": f"{tier}:{min(hashes)[:16]}",
        "tier": tier,
        "file_hash": min(hashes),
        "size": sizes[0],
        "copies": len(copies),
        "wasted_bytes": sum(sizes[1:]),
        "keep": keep,
        "keep_reason": why,
        "items": [
            {
                "id": r.id,
                "path": r.path,
                "dev": r.dev,
                "inode": r.inode,
                "file_hash": r.file_hash,
                "media_type": r.media_type,
                "thumbnail": ctx.thumbnail_of(r.file_hash, details[r.id].thumb_status),
            }
            for r in items
        ],
    }


async def _tier_groups(ctx: Context, conn: AsyncConnection, tier: str) -> list[dict[str, Any]]:
    found = await (content_groups(conn) if tier == "same-content" else near_groups(conn))
    by_hash = await present_by_hash(conn, [h for g in found for h in g])
    out = [g for hashes in found if (g := await _group(ctx, conn, tier, hashes, by_hash))]
    out.sort(key=lambda g: (-g["wasted_bytes"], g["id"]))
    return out


async def _exact(ctx: Context, conn: AsyncConnection, args: dict[str, Any]) -> list[Any]:
    exact = await queries.duplicates(ctx, {**args, "limit": 1 << 30, "offset": 0}, _quiet)
    out = []
    for g in exact["duplicates"]:
        details = await _details(conn, [i["id"] for i in g["items"]])
        keep, why = suggest([details[i["id"]] for i in g["items"]])
        item_list = [dict(i, file_hash=g["file_hash"]) for i in g["items"]]
        out.append(
            g
            | {
                "id": f"exact:{g['file_hash'][:16]}",
                "tier": "exact",
                "keep": keep,
                "keep_reason": why,
                "items": item_list,
            }
        )
    return out


async def _quiet(data: dict[str, Any], key: str = "progress") -> None:
    return None


async def all_groups(ctx: Context, args: dict[str, Any], tier: str | None) -> list[Any]:
    groups: list[Any] = []
    async with ctx.engine.connect() as conn:
        for name in TIERS:
            if tier in (None, name):
                if name == "exact":
                    groups += await _exact(ctx, conn, {"min_size": args.get("min_size", 1)})
                else:
                    groups += await _tier_groups(ctx, conn, name)
    return groups


async def duplicates(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Groups of copies in tiers (exact, same-content, near), most wasted space first in
    each, with the copy to keep and why."""
    limit, offset = queries._limit(args, 50)
    tier = _tier(args)
    min_size = arg(args, "min_size", int, 1)
    groups = await all_groups(ctx, {"min_size": min_size}, tier)
    groups = [g for g in groups if g["size"] >= min_size]
    tiers = {name: sum(1 for g in groups if g["tier"] == name) for name in TIERS}
    return {
        "groups": len(groups),
        "tiers": tiers,
        "wasted_bytes": sum(g["wasted_bytes"] for g in groups),
        "duplicates": groups[offset : offset + limit],
    }


async def merge(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Move the other copies' tags and collections to the kept item (no file is deleted)."""
    group_id, keep = arg(args, "group", str), arg(args, "keep", int)
    if not group_id or keep is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "give a group (its id) and keep (an item id)")
    tier = group_id.partition(":")[0]
    if tier not in TIERS:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{group_id}: not a group id (TIER:HASH)")
    found = [g for g in await all_groups(ctx, {}, tier) if g["id"] == group_id]
    if not found:
        raise ProtocolError(
            ErrorCode.NOT_FOUND, f"no group {group_id} (`mediaforgectl duplicates` lists them)"
        )
    ids = [i["id"] for i in found[0]["items"]]
    if keep not in ids:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"item {keep} is not in group {group_id}")
    others = [i for i in ids if i != keep]

    async def apply(conn: AsyncConnection) -> dict[str, int]:
        moved: dict[str, int] = {}
        for table, col in ((item_tags, "tag_id"), (collection_items, "collection_id")):
            rows = await conn.execute(
                select(table.c[col]).where(table.c.item_id.in_(others)).distinct()
            )
            values = [{"item_id": keep, col: r[0]} for r in rows]
            if values:
                await conn.execute(sqlite_insert(table).on_conflict_do_nothing(), values)
            await conn.execute(delete(table).where(table.c.item_id.in_(others)))
            moved["tags" if table is item_tags else "collections"] = len(values)
        return moved

    moved = await ctx.writer.transaction(apply, durable=True)
    return {"group": group_id, "kept": keep, "others": others, **moved}


async def similar(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """The items closest to one item, closest first."""
    limit, _ = queries._limit(args, 20)
    max_distance = arg(args, "max_distance", float)
    if ctx.similar is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "signatures are off in this daemon")
    async with ctx.engine.connect() as conn:
        row = await queries._find_item(conn, ctx, args)
        sig = await signature_of(conn, row.file_hash) if row.file_hash else None
        if sig is None or sig.status != "ok":
            what = "is still pending (`mediaforgectl status`)" if sig is None else sig.error
            raise ProtocolError(ErrorCode.NOT_FOUND, f"{row.path}: no signature: {what}")
        hits = await near_candidates(conn, sig, ctx.similar.index, max_distance)
        same = [h for h in (await present_by_hash(conn, [row.file_hash])).get(row.file_hash, [])]
        by_hash = await present_by_hash(conn, [h for h, _ in hits])
        sigs = await signatures_of(conn, [h for h, _ in hits])
    out: list[dict[str, Any]] = [
        {"id": r.id, "path": r.path, "distance": 0, "tier": "exact"} for r in same if r.id != row.id
    ]
    for file_hash, distance in hits:
        tier = "same-content" if sigs[file_hash].content_hash == sig.content_hash else "near"
        for r in by_hash.get(file_hash, []):
            out.append({"id": r.id, "path": r.path, "distance": distance, "tier": tier})
    return {"item": {"id": row.id, "path": row.path}, "kind": sig.kind, "similar": out[:limit]}


COMMANDS: dict[str, Spec] = {
    "duplicates": Spec(duplicates, ("limit", "offset", "min_size", "tier")),
    "duplicates.merge": Spec(merge, ("group", "keep"), changes=True),
    "similar": Spec(similar, ("path", "id", "max_distance", "limit")),
}
