"""``WS /api/v1/events?since=CURSOR``: the change log from a cursor, as ``events --follow``
sends it on the socket (the same command function), and the progress of running jobs.

Messages: ``{"event": {...}}`` (resume after its ``cursor``), ``{"progress": {"jobs": [...]}}``
while jobs run, and ``{"ok": false, "error": {...}}`` before a close for a bad request.
Memory stays bounded: the lines wait in a short queue; a client that leaves it full for
``events_max_wait`` seconds is closed with ``CLOSE_TOO_SLOW`` and resumes with ``since``.
Close codes are 4000 + the HTTP status of the error (4400 bad cursor, 4410 pruned cursor,
4401/4403 refused, 4429 too slow); 1001 when the daemon stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from mediaforged.control.commands import COMMANDS
from mediaforged.control.context import Context
from mediaforged.http.auth import authenticate, same_origin
from mediaforged.http.errors import STATUS, HttpError, error_response
from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = ["CLOSE_TOO_SLOW", "events_router"]

log = structlog.get_logger("mediaforged.http")

CLOSE_TOO_SLOW = 4000 + STATUS[ErrorCode.TOO_SLOW]
_QUEUE = 256  # messages waiting for a slow client at most
_JOBS_EVERY_S = 1.0
_CLOSE_WAIT_S = 2.0

Put = Callable[[dict[str, Any]], Awaitable[None]]


class _TooSlow(Exception):
    pass


async def _jobs(ctx: Context, put: Put) -> None:
    """The progress of the jobs that run, every second (and once more when they end)."""
    reported: set[int] = set()
    while True:
        jobs = [j for j in ctx.state.jobs.values() if not j.complete or j.id in reported]
        if jobs:
            await put({"progress": {"jobs": [j.progress() for j in jobs]}})
        reported = {j.id for j in jobs if not j.complete}
        await asyncio.sleep(_JOBS_EVERY_S)


async def _send(ws: WebSocket, lines: asyncio.Queue[dict[str, Any]], wait: float) -> None:
    while True:
        message = await lines.get()
        try:
            await asyncio.wait_for(ws.send_json(message), wait)
        except TimeoutError:
            raise _TooSlow from None


async def _receive(ws: WebSocket) -> None:
    """Until the client goes (what it sends is ignored)."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _close(ws: WebSocket, code: int, reason: str, message: dict[str, Any] | None) -> None:
    with contextlib.suppress(Exception):
        if message is not None:
            await asyncio.wait_for(ws.send_json(message), _CLOSE_WAIT_S)
        await asyncio.wait_for(ws.close(code, reason[:120]), _CLOSE_WAIT_S)


async def _follow(ws: WebSocket, ctx: Context, since: int | None, closing: asyncio.Event) -> None:
    lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE)
    wait = ctx.config.events_max_wait

    async def put(message: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(lines.put(message), wait)
        except TimeoutError:
            raise _TooSlow from None

    async def progress(data: dict[str, Any], key: str = "progress") -> None:
        await put({key: data})

    args: dict[str, Any] = {"follow": True} if since is None else {"since": since, "follow": True}
    tasks = [
        asyncio.ensure_future(COMMANDS["events"].fn(ctx, args, progress)),
        asyncio.ensure_future(_jobs(ctx, put)),
        asyncio.ensure_future(_send(ws, lines, wait)),
        asyncio.ensure_future(_receive(ws)),
        asyncio.ensure_future(closing.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    failure = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
    if isinstance(failure, _TooSlow):
        client = ws.client.host if ws.client else "unix"
        log.warning("subscriber_cut_off", transport="websocket", client=client, waited_s=wait)
        await _close(
            ws,
            CLOSE_TOO_SLOW,
            f"too_slow: not read for {wait:g}s (events_max_wait); resume with since=CURSOR",
            None,
        )
    elif isinstance(failure, ProtocolError):
        body = {"ok": False, "error": {"code": failure.code, "message": failure.message}}
        await _close(ws, 4000 + STATUS.get(failure.code, 400), failure.code, body)
    elif closing.is_set():
        await _close(ws, 1001, "mediaforged is stopping", None)
    elif tasks[3] not in done:  # not the client's leaving: a bug
        await _close(ws, 1011, "internal error", None)


def events_router(closing: asyncio.Event) -> APIRouter:
    router = APIRouter()

    @router.websocket("/api/v1/events")
    async def events(ws: WebSocket) -> None:
        ctx: Context = ws.app.state.ctx
        since_text = ws.query_params.get("since")
        try:
            caller = await authenticate(ctx, ws.headers, ws.cookies, "GET", admin=False)
            # A page elsewhere can open a WebSocket with the cookie: only this site's may.
            if caller.cookie and not same_origin(ws.headers):
                raise HttpError(ErrorCode.FORBIDDEN, "the session cookie works from this site only")
            if since_text is not None and not since_text.isdigit():
                raise HttpError(ErrorCode.BAD_REQUEST, "since must be a cursor (an integer)")
        except HttpError as exc:
            await ws.send_denial_response(error_response(exc.code, exc.message, exc.headers))
            return
        await ws.accept()
        await _follow(ws, ctx, int(since_text) if since_text is not None else None, closing)

    return router
