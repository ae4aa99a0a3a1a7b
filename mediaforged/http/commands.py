"""Running a control command for an HTTP request: the socket's own function, arguments and
errors; a command that streams (rescan, confirm, retry, events) answers in NDJSON.

A streamed reply is one JSON object per line, as on the socket: ``{"progress": ...}`` or
``{"event": ...}`` lines, then ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
...}``. A command that fails before its first line gets a plain error reply with its
status instead (a bad path is a 400, not a 200 with an error at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import structlog
from starlette.responses import Response, StreamingResponse

from mediaforged.control.commands import command_spec
from mediaforged.control.context import Context, Spec
from mediaforged.http.errors import JsonResponse, error_response
from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = ["NDJSON", "run_command"]

log = structlog.get_logger("mediaforged.http")

NDJSON = "application/x-ndjson"
_LINES_AHEAD = 64  # lines a stream holds for a client that reads slowly; then the command waits


class _TooSlow(Exception):
    pass


async def _no_progress(data: dict[str, Any], key: str = "progress") -> None:
    return None


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


async def run_command(ctx: Context, name: str, args: dict[str, Any]) -> Response:
    """The reply of command ``name`` with ``args``: JSON, or NDJSON for a streaming one
    (timed for the metrics until its reply, or its stream, begins)."""
    began = time.monotonic()
    code: str | None = None
    try:
        spec = command_spec(name, args)
        if spec.streams:
            return await _streamed(ctx, spec, args)
        return JsonResponse(await spec.fn(ctx, args, _no_progress))
    except ProtocolError as exc:
        code = exc.code
        return error_response(exc.code, exc.message)
    except Exception as exc:  # a bug in a command must not take the server down
        code = ErrorCode.INTERNAL
        log.exception("http_command_failed", cmd=name)
        return error_response(ErrorCode.INTERNAL, f"internal error: {exc}")
    finally:
        ctx.metrics.request("http", name, time.monotonic() - began, code)


async def _streamed(ctx: Context, spec: Spec, args: dict[str, Any]) -> Response:
    lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_LINES_AHEAD)
    wait = ctx.config.events_max_wait

    async def progress(data: dict[str, Any], key: str = "progress") -> None:
        if key == "progress":
            await lines.put({key: data})
            return
        try:  # events: a reader that stops reading is cut off, not waited for
            await asyncio.wait_for(lines.put({key: data}), wait)
        except TimeoutError:
            raise _TooSlow from None

    task = asyncio.ensure_future(spec.fn(ctx, args, progress))
    first = asyncio.ensure_future(lines.get())
    await asyncio.wait({task, first}, return_when=asyncio.FIRST_COMPLETED)
    if not first.done():
        first.cancel()
        if task.exception() is not None:  # failed before its first line: a plain error
            exc = task.exception()
            if isinstance(exc, ProtocolError):
                return error_response(exc.code, exc.message)
            log.error("http_command_failed", error=repr(exc))
            return error_response(ErrorCode.INTERNAL, f"internal error: {exc}")
        pending: list[dict[str, Any]] = []
    else:
        pending = [first.result()]
    return StreamingResponse(_lines(task, lines, pending, wait), media_type=NDJSON)


async def _lines(
    task: asyncio.Future[Any],
    lines: asyncio.Queue[dict[str, Any]],
    pending: list[dict[str, Any]],
    wait: float,
) -> AsyncIterator[bytes]:
    try:
        for message in pending:
            yield _line(message)
        while not (task.done() and lines.empty()):
            getter = asyncio.ensure_future(lines.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield _line(getter.result())
            else:
                getter.cancel()
        yield _line(_final(task, wait))
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _final(task: asyncio.Future[Any], wait: float) -> dict[str, Any]:
    exc = task.exception()
    if exc is None:
        return {"ok": True, "result": task.result()}
    if isinstance(exc, ProtocolError):
        code, message = exc.code, exc.message
    elif isinstance(exc, _TooSlow):
        code = ErrorCode.TOO_SLOW
        message = (
            f"events were not read for {wait:g}s (events_max_wait): cut off; resume with "
            "since=CURSOR of the last event received"
        )
    else:
        log.error("http_command_failed", error=repr(exc))
        code, message = ErrorCode.INTERNAL, f"internal error: {exc}"
    return {"ok": False, "error": {"code": code, "message": message}}
