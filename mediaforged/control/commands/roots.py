"""``roots`` and ``roots.forget``: every root the catalog knows, and dropping a removed one.

A root taken out of the config keeps its items, offline (``daemon/reload.py``): `roots` shows
it as ``removed`` with what it still holds, and `roots forget ROOT` deletes those items (and
their tags and collection entries), logging each as ``purged`` in the change log. A
configured root cannot be forgotten: take it out of the config and reload first.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog import changelog
from mediaforged.catalog.schema import media_items
from mediaforged.catalog.schema import roots as roots_table
from mediaforged.control.context import Context, Progress, Spec, abs_path, arg
from mediaforged.protocol import (
    CatalogRoot,
    ErrorCode,
    ForgetReply,
    ItemStatus,
    ProtocolError,
    RootsReply,
)

__all__ = ["COMMANDS", "forget", "removed_root_of", "roots"]

log = structlog.get_logger("mediaforged.commands")

# The statuses of items the catalog holds as files on disk: their sizes are a root's bytes.
_HELD = (ItemStatus.PRESENT, ItemStatus.OFFLINE)


async def _known(conn: AsyncConnection) -> dict[int, tuple[str, datetime | None]]:
    rows = await conn.execute(
        select(roots_table.c.id, roots_table.c.path, roots_table.c.last_reconcile_at)
    )
    return {r.id: (r.path, r.last_reconcile_at) for r in rows}


def _epoch(at: datetime | None) -> float | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


async def roots(ctx: Context, args: dict[str, Any], progress: Progress) -> RootsReply:
    """The configured roots (in the config's order) and then the removed ones the catalog
    still holds items of, with their item counts and bytes."""
    c = media_items.c
    async with ctx.engine.connect() as conn:
        known = await _known(conn)
        counts = await conn.execute(
            select(c.root_id, c.status, func.count(), func.coalesce(func.sum(c.size), 0))
            .group_by(c.root_id, c.status)
        )  # fmt: skip
        by_root: dict[int, dict[str, tuple[int, int]]] = {}
        for root_id, status, count, size in counts:
            by_root.setdefault(root_id, {})[status] = (count, int(size))
    configured = {r.id: r for r in ctx.state.roots}
    order = [r.id for r in ctx.state.roots if r.id in known]
    order += sorted((i for i in known if i not in configured), key=lambda i: known[i][0])
    out: list[CatalogRoot] = []
    for root_id in order:
        path, at = known[root_id]
        per = by_root.get(root_id, {})
        live = configured.get(root_id)
        state: Literal["online", "offline", "removed"] = (
            "removed" if live is None else "online" if live.online else "offline"
        )
        out.append(
            {
                "path": path,
                "configured": live is not None,
                "state": state,
                "offline_reason": (live.offline_reason or None) if live else None,
                "items": sum(n for n, _ in per.values()),
                "bytes": sum(size for s, (_, size) in per.items() if s in _HELD),
                "by_status": {s: n for s, (n, _) in per.items()},
                "last_reconcile_at": live.last_reconcile_at if live else _epoch(at),
            }
        )
    return {"roots": out}


async def forget(ctx: Context, args: dict[str, Any], progress: Progress) -> ForgetReply:
    """Delete every item of a root that is no longer configured, and the root's row."""
    text = arg(args, "root", str)
    if text is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "root is required")
    path = os.fsdecode(abs_path(text, "root"))

    async def apply(conn: AsyncConnection) -> int | None:
        # Checked in the writer's turn: a reload that configured it again came first.
        if any(str(r.path) == path for r in ctx.state.roots):
            where = ctx.config.source or "the config"
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"{path} is a configured root: take it out of roots in {where} and "
                "`mediaforgectl reload` first (its items then go offline)",
            )
        root_id = await conn.scalar(select(roots_table.c.id).where(roots_table.c.path == path))
        if root_id is None:
            return None
        now = datetime.now(UTC)
        mine = media_items.c.root_id == root_id
        await changelog.record_where(conn, "purged", now, mine)
        result = await conn.execute(delete(media_items).where(mine))
        await conn.execute(delete(roots_table).where(roots_table.c.id == root_id))
        return max(result.rowcount, 0)

    count = await ctx.writer.transaction(apply, durable=True)
    if count is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"{path} is not a root the catalog knows (`mediaforgectl roots` lists them)",
        )
    log.info("root_forgotten", root=path, items=count)
    return {"root": path, "forgotten": count}


async def removed_root_of(ctx: Context, path: bytes) -> tuple[str, int] | None:
    """The removed root (its path, and its offline items) that ``path`` is inside, for
    `why`; None when it is inside none."""
    configured = {r.id for r in ctx.state.roots}
    async with ctx.engine.connect() as conn:
        for root_id, (text, _at) in (await _known(conn)).items():
            key = os.fsencode(text)
            if root_id in configured or not (path == key or path.startswith(key + b"/")):
                continue
            c = media_items.c
            items = await conn.scalar(
                select(func.count()).where(c.root_id == root_id, c.status == ItemStatus.OFFLINE)
            )
            return str(Path(text)), int(items or 0)
    return None


COMMANDS: dict[str, Spec] = {
    "roots": Spec(roots),
    "roots.forget": Spec(forget, ("root",), changes=True),
}
