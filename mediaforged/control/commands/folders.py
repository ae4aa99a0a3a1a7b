"""``folders``: one folder of the library as the catalog holds it, for browsing.

No path: the configured roots, each with its present items and bytes. A path (a root or a
folder inside one): its immediate sub-folders, each with the present items and bytes below it
at any depth, and the present items directly in it. One grouped statement over the range of
the unique index on ``path_key`` that the folder spans (the same bounds as search's
``under``): it reads the index entries below the folder once, and returns one row per
sub-folder, never one per item. The catalog holds no folder rows: a folder with no
catalogued file below it is not listed.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mediaforged.catalog.schema import media_items
from mediaforged.control.context import Context, Progress, Spec, arg, path_arg
from mediaforged.fs.fsio import under
from mediaforged.fs.safepath import display_path
from mediaforged.protocol import ErrorCode, ItemStatus, ProtocolError
from mediaforged.protocol.queries import FolderEntry, FoldersReply

__all__ = ["COMMANDS", "folders"]

_DEFAULT_LIMIT = 1000  # sub-folders listed; `more` says when there were others
m = media_items.c


class _position(FunctionElement[int]):
    """The 1-based position of bytes ``needle`` in bytes ``haystack``, 0 if absent: SQLite's
    instr(); PostgreSQL spells it position(needle IN haystack)."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _position_default(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = element.clauses
    return f"instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


@compiles(_position, "postgresql")
def _position_pg(element: _position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = element.clauses
    return f"position({compiler.process(needle, **kw)} IN {compiler.process(haystack, **kw)})"


def _child(prefix: bytes) -> ColumnElement[Any]:
    """The first name after ``prefix/`` of an item's path when it is a folder's (more follows
    it), NULL for an item directly in the folder."""
    rest = func.substr(m.path_key, len(prefix) + 2)
    slash = _position(rest, b"/")
    return case((slash > 0, func.substr(rest, 1, slash - 1)), else_=None)


async def _roots(ctx: Context) -> FoldersReply:
    async with ctx.engine.connect() as conn:
        rows = await conn.execute(
            select(m.root_id, func.count(), func.coalesce(func.sum(m.size), 0))
            .where(m.status == ItemStatus.PRESENT)
            .group_by(m.root_id)
        )
        counts = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    entries: list[FolderEntry] = []
    for root in ctx.state.roots:
        items, size = counts.get(root.id, (0, 0))
        path = os.fsdecode(root.key)
        entries.append({"name": path, "path": path, "items": items, "bytes": size})
    return {"path": None, "root": None, "items": 0, "bytes": 0, "folders": entries, "more": False}


async def folders(ctx: Context, args: dict[str, Any], progress: Progress) -> FoldersReply:
    """The sub-folders of a folder with their item counts and bytes (every depth below), and
    the items directly in it (present items only); no path: the roots."""
    text = arg(args, "path", str)
    limit = arg(args, "limit", int, _DEFAULT_LIMIT)
    if limit < 1:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "limit must be at least 1")
    if text is None:
        return await _roots(ctx)
    key, root = path_arg(ctx, text)
    low, high = under(key)
    child = _child(key).label("child")
    statement = (
        select(child, func.count().label("n"), func.coalesce(func.sum(m.size), 0).label("b"))
        .where(m.path_key >= low, m.path_key < high, m.status == ItemStatus.PRESENT)
        .group_by(child)
        .order_by(child)
    )
    async with ctx.engine.connect() as conn:
        rows = list(await conn.execute(statement))
    direct = next((r for r in rows if r.child is None), None)
    subs = [r for r in rows if r.child is not None]
    entries: list[FolderEntry] = [
        {
            "name": display_path(bytes(r.child)),
            "path": os.fsdecode(key + b"/" + bytes(r.child)),
            "items": int(r.n),
            "bytes": int(r.b),
        }
        for r in subs[:limit]
    ]
    return {
        "path": os.fsdecode(key),
        "root": os.fsdecode(root.key),
        "items": int(direct.n) if direct else 0,
        "bytes": int(direct.b) if direct else 0,
        "folders": entries,
        "more": len(subs) > limit,
    }


COMMANDS: dict[str, Spec] = {
    "folders": Spec(folders, ("path", "limit")),
}
