"""``failed`` and ``retry``: the files that failed at any stage, and trying them again.

A file fails at one of three stages, each recorded in the catalog on its own:

- ``index``: it could not be read or hashed (``media_items.status`` is ``failed``, the error
  in ``error_code`` / ``error``); it is not catalogued as present.
- ``metadata``: it is catalogued, but its metadata could not be read (the item stays
  ``present``, the error in ``error_code`` / ``error``).
- ``thumbnail``: no thumbnail could be made (``media_metadata.thumb_status`` is ``failed``,
  ``thumb_error`` holds ``"code: message"``).
- ``verify``: a full decode found the bytes damaged (code ``corrupt``; the decoder's message
  and where it failed, from ``verifications``, kept by content hash).

``retry`` runs the failed stage again: a reconcile of the file (index), the metadata read
(its metadata row goes, so the stage reads it again), or the thumbnail (pending again); it
waits for the result and says how many still fail.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from mediaforged.catalog.schema import media_items, media_metadata, verifications
from mediaforged.catalog.sql import chunks
from mediaforged.control.context import (
    Context,
    Progress,
    Spec,
    arg,
    follow_jobs,
    jsonable,
    path_arg,
)
from mediaforged.fs.fsio import under
from mediaforged.protocol import ErrorCode, ProtocolError
from mediaforged.protocol.queries import FailedItem, FailedReply, RetryReply
from mediaforged.state import JobKind, RootState

__all__ = ["COMMANDS", "STAGES"]

STAGES = ("index", "metadata", "thumbnail", "verify")
_WAIT_S = 1.0  # progress lines this often while the stages work

i, md, vf = media_items.c, media_metadata.c, verifications.c


def _failures(where: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """Every failure as one row (item, stage, code, error), items limited by ``where``."""
    base = (i.id, i.root_id, i.path_key, i.path, i.size, i.updated_at)
    index = select(*base, literal("index").label("stage"), i.error_code, i.error).where(
        i.status == "failed", *where
    )
    metadata = select(*base, literal("metadata").label("stage"), i.error_code, i.error).where(
        i.status == "present", i.error_code.is_not(None), *where
    )
    # The thumbnail's code is the head of its "code: message" text: split in Python.
    thumbnail = (
        select(
            *base,
            literal("thumbnail").label("stage"),
            md.thumb_error.label("error_code"),
            md.thumb_error.label("error"),
        )
        .select_from(media_items.join(media_metadata, md.item_id == i.id))
        .where(i.status == "present", md.thumb_status == "failed", *where)
    )
    verify = (
        select(
            *base,
            literal("verify").label("stage"),
            literal("corrupt").label("error_code"),
            (vf.error + func.coalesce(" (" + vf.at + ")", "")).label("error"),
        )
        .select_from(
            media_items.join(
                verifications, and_(vf.hash_key == i.hash_key, vf.file_hash == i.file_hash)
            )
        )
        .where(i.status == "present", vf.status == "corrupt", *where)
    )
    return select(union_all(index, metadata, thumbnail, verify).subquery())


def _code_and_error(stage: str, code: str | None, error: str | None) -> tuple[str, str]:
    if stage == "thumbnail":
        head, _, rest = (error or "").partition(": ")
        return (head or "error", rest) if rest else ("error", head)
    return code or "error", error or ""


def _scope(ctx: Context, args: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The item conditions of ``path`` (a file or a folder) and ``stage``."""
    where: list[ColumnElement[bool]] = []
    text = arg(args, "path", str)
    if text is not None:
        key, _root = path_arg(ctx, text)
        low, high = under(key)
        where.append(or_(i.path_key == key, and_(i.path_key >= low, i.path_key < high)))
    return where


def _stage_arg(args: dict[str, Any]) -> str | None:
    stage: str | None = arg(args, "stage", str)
    if stage is not None and stage not in STAGES:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"stage must be one of {', '.join(STAGES)}, got {stage!r}"
        )
    return stage


async def failed(ctx: Context, args: dict[str, Any], progress: Progress) -> FailedReply:
    """The files that failed at any stage (index, metadata, thumbnail), with each error."""
    limit = arg(args, "limit", int, 100)
    offset = arg(args, "offset", int, 0)
    if limit < 0 or offset < 0:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "limit and offset must not be negative")
    stage = _stage_arg(args)
    u = _failures(_scope(ctx, args)).subquery()
    chosen = [u.c.stage == stage] if stage else []
    async with ctx.engine.connect() as conn:
        counts = await conn.execute(
            select(u.c.stage, u.c.error_code, func.count())
            .where(*chosen)
            .group_by(u.c.stage, u.c.error_code)
        )
        by_stage: dict[str, int] = dict.fromkeys(STAGES, 0)
        by_code: dict[str, int] = {}
        for row_stage, code, n in counts:
            by_stage[row_stage] += n
            shown, _ = _code_and_error(row_stage, code, code)
            by_code[shown] = by_code.get(shown, 0) + n
        rows = await conn.execute(
            select(u.c.id, u.c.path, u.c.size, u.c.stage, u.c.error_code, u.c.error, u.c.updated_at)
            .where(*chosen)
            .order_by(u.c.path, u.c.stage)
            .limit(limit)
            .offset(offset)
        )
        items: list[FailedItem] = []
        for r in rows:
            item = cast(FailedItem, jsonable(r._mapping))
            item["error_code"], item["error"] = _code_and_error(r.stage, r.error_code, r.error)
            items.append(item)
    return {
        "total": sum(by_stage.values()),
        "by_stage": by_stage,
        "by_code": by_code,
        "items": items,
    }


async def _index_again(ctx: Context, rows: list[Any], progress: Progress) -> list[str]:
    """Reconcile the files that failed to index; the jobs' errors."""
    roots = {r.id: r for r in ctx.state.roots}
    # One job per folder holding failed files when there are many: a folder's reconcile
    # re-reads every file in it that is not catalogued as present, and skips the rest cheaply.
    targets: dict[tuple[int, bytes], RootState] = {}
    for row in rows:
        root = roots.get(row.root_id)
        if root is not None:
            folder = posixpath.dirname(row.path_key) if len(rows) > 20 else row.path_key
            targets[(row.root_id, folder if ctx.state.root_for(folder) else row.path_key)] = root
    jobs = [
        ctx.reconciler.request(root, path, JobKind.RETRY) for (_, path), root in targets.items()
    ]
    if jobs:
        await progress({"jobs": [j.progress() for j in jobs]})
        await follow_jobs(jobs, progress)
    return [j.error for j in jobs if j.error]


async def _count(conn: AsyncConnection, query: Select[Any], ids: list[int]) -> int:
    total = 0
    for chunk in chunks(ids):
        total += int(await conn.scalar(query.where(i.id.in_(chunk))) or 0)
    return total


async def _still_pending(ctx: Context, metadata: list[int], thumbnails: list[int]) -> int:
    """How many of the items given to the stages again they have not handled yet."""
    joined = media_items.outerjoin(media_metadata, md.item_id == i.id)
    present = select(func.count()).select_from(joined).where(i.status == "present")
    async with ctx.engine.connect() as conn:
        return await _count(conn, present.where(md.item_id.is_(None)), metadata) + await _count(
            conn, present.where(md.thumb_status.is_(None)), thumbnails
        )


async def _stages_again(
    ctx: Context, rows: list[Any], progress: Progress
) -> tuple[list[int], list[int]]:
    """Give the metadata and thumbnail failures to their stages again, and wait until the
    stages have handled them (they work while indexing is idle)."""
    metadata = [r.id for r in rows if r.stage == "metadata"]
    thumbnails = [r.id for r in rows if r.stage == "thumbnail"] if ctx.thumbnails else []
    await ctx.metadata.retry_items(metadata)
    if ctx.thumbnails is not None:
        await ctx.thumbnails.retry_items(thumbnails)
    damaged = [r.id for r in rows if r.stage == "verify"]
    if damaged and ctx.verifier is not None:
        await ctx.verifier.request(None, damaged)

        async def decoding(n: int) -> None:
            await progress({"jobs": [], "pending": n})

        await ctx.verifier.wait_requested(decoding)
    while True:
        seen = ctx.writer.commit_count  # before the count: no commit slips between
        left = await _still_pending(ctx, metadata, thumbnails)
        if not left:
            return metadata, thumbnails
        await progress({"jobs": [], "pending": left})
        await ctx.writer.wait_for_commit(seen, _WAIT_S)


async def retry(ctx: Context, args: dict[str, Any], progress: Progress) -> RetryReply:
    """Run the failed stage of each failed item again (all, or those under a path, or of one
    stage), wait for the result, and say how many still fail."""
    stage = _stage_arg(args)
    where = _scope(ctx, args)
    query = _failures(where).subquery()
    chosen = [query.c.stage == stage] if stage else []
    async with ctx.engine.connect() as conn:
        rows = list(await conn.execute(select(query).where(*chosen)))
    errors = await _index_again(ctx, [r for r in rows if r.stage == "index"], progress)
    await _stages_again(ctx, rows, progress)
    retried = sorted({r.id for r in rows})
    by_stage = dict.fromkeys(STAGES, 0)
    for r in rows:
        by_stage[r.stage] += 1
    still_by_stage = dict.fromkeys(STAGES, 0)
    async with ctx.engine.connect() as conn:
        for chunk in chunks(retried):
            again = _failures([*where, i.id.in_(chunk)]).subquery()
            for row_stage, n in await conn.execute(
                select(again.c.stage, func.count()).group_by(again.c.stage)
            ):
                still_by_stage[row_stage] += n
    still = sum(still_by_stage.values())
    return {
        "retried": len(rows),
        "still_failed": still,
        "fixed": max(len(rows) - still, 0),
        "by_stage": {
            s: {"retried": by_stage[s], "still_failed": still_by_stage[s]} for s in STAGES
        },
        "errors": errors,
    }


COMMANDS: dict[str, Spec] = {
    "failed": Spec(failed, ("limit", "offset", "stage", "path")),
    "retry": Spec(retry, ("path", "stage"), changes=True, streams=True),
}
