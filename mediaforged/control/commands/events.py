"""``events``: the stream of catalog changes, resumable by cursor (Watchman's ``since``).

The writer records each change in the ``events`` table in the transaction that makes it
(changelog.py) and pokes the hub after each commit. Every subscriber reads the table from
its own cursor on its own connection: subscribers never slow the writer, any number can
follow at once, and catching up after a pause is the same code as following live. A
subscriber that stops reading while events wait is cut off (``too_slow``) by the control
server, which owns the socket.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from mediaforged.catalog.schema import EXTRACTED, events
from mediaforged.control.context import Context, Progress, Spec, arg, iso
from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = ["COMMANDS"]

_PAGE = 500  # events read per query
_DEFAULT_RECENT = 100  # `events` with neither --since nor --follow: the last ones


def _event(row: Any) -> dict[str, Any]:
    out = {
        "cursor": row.id,
        "at": iso(row.at),
        "kind": row.kind,
        "item": row.item_id,
        "path": row.path,
    }
    if row.old_path is not None:
        out["old_path"] = row.old_path
    return out


async def stream(ctx: Context, args: dict[str, Any], progress: Progress) -> Any:
    """Send events after ``since`` as ``event`` lines; with ``follow``, keep sending new
    ones until the client leaves (or the daemon stops); else reply with the cursor."""
    hub = ctx.events
    since = arg(args, "since", int)
    follow = bool(arg(args, "follow", bool, False))
    limit = arg(args, "limit", int)
    if (since is not None and since < 0) or (limit is not None and limit < 0):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "since and limit must not be negative")
    e = events.c
    async with ctx.engine.connect() as conn:
        head, oldest = (await conn.execute(select(func.max(e.id), func.min(e.id)))).one()
    head = head or 0
    if since is None:
        since = head if follow else max(head - (limit or _DEFAULT_RECENT), 0)
    if since > head:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"cursor {since} is ahead of the change log (newest {head}): "
            "a cursor from another catalog?",
        )
    if oldest is not None and since < oldest - 1 and since != 0:
        raise ProtocolError(
            ErrorCode.CURSOR_EXPIRED,
            f"events after {since} were pruned (the oldest kept is {oldest}; events_keep_days): "
            "start again from a full listing (search), then follow from the cursor it gives",
        )
    cursor, sent = since, 0
    slot = hub.join(since)
    try:
        while True:
            tick = hub.tick
            page = _PAGE if limit is None else min(_PAGE, limit - sent)
            async with ctx.engine.connect() as conn:
                rows = list(
                    await conn.execute(
                        select(events)
                        .where(e.id > cursor, e.kind != EXTRACTED)  # the plugins' alone
                        .order_by(e.id)
                        .limit(page)
                    )
                )
            for row in rows:
                await progress(_event(row), key="event")
            if rows:
                cursor, sent = rows[-1].id, sent + len(rows)
                hub.cursors[slot] = cursor
            if limit is not None and sent >= limit:
                break
            if len(rows) == page:
                continue  # more waiting: no need to wait for a commit
            if not follow:
                break
            await tick.wait()
    finally:
        hub.leave(slot)
    async with ctx.engine.connect() as conn:
        head = await conn.scalar(select(func.max(e.id))) or 0
    return {"cursor": cursor, "sent": sent, "head": head}


COMMANDS: dict[str, Spec] = {
    "events": Spec(stream, ("since", "follow", "limit"), streams=True),
}
