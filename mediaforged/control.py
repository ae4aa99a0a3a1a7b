"""The control socket: a Unix stream server that frames requests and dispatches commands.

Bad input (invalid JSON, wrong types, unknown commands, an over-long line) gets an error
reply with a stable code; it never reaches the daemon's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
from pathlib import Path
from typing import Any

import structlog

from mediaforged import __version__
from mediaforged.commands import COMMANDS, Context
from mediaforged.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    ErrorCode,
    ProtocolError,
    decode_request,
    encode,
    error_reply,
    ok_reply,
    progress_line,
)

__all__ = ["AlreadyRunning", "ControlServer"]

log = structlog.get_logger("mediaforged.control")


class AlreadyRunning(Exception):
    """Another daemon answers on the socket: we must not steal it."""


def _prepare_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        log.info("stale_socket_removed", path=str(path))  # left by a crash: nobody listens
        path.unlink()
    else:
        raise AlreadyRunning(f"another mediaforged is already listening on {path}")
    finally:
        probe.close()


class ControlServer:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._path = ctx.config.socket_path
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self.closing = False

    async def start(self) -> None:
        _prepare_socket_path(self._path)
        old_umask = os.umask(0o777 & ~self._ctx.config.socket_mode)
        try:
            self._server = await asyncio.start_unix_server(
                self._handle, path=str(self._path), limit=MAX_LINE
            )
        finally:
            os.umask(old_umask)
        os.chmod(self._path, self._ctx.config.socket_mode)
        if self._ctx.config.socket_group:
            gid = grp.getgrnam(self._ctx.config.socket_group).gr_gid
            os.chown(self._path, -1, gid)
        log.info("control_listening", socket=str(self._path))

    async def close(self) -> None:
        """Stop accepting, end open connections, remove the socket file."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._send(
                writer,
                {"hello": "mediaforged", "version": __version__, "protocol": PROTOCOL_VERSION},
            )
            while not self.closing:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE: the stream cannot be trusted further
                    await self._send(
                        writer,
                        error_reply(
                            None, ErrorCode.TOO_LARGE, f"request longer than {MAX_LINE} bytes"
                        ),
                    )
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                await self._serve_one(line, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_one(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        request_id: Any = None
        try:
            request_id, cmd, args = decode_request(line)
            command = COMMANDS.get(cmd)
            if command is None:
                known = ", ".join(sorted(COMMANDS))
                raise ProtocolError(
                    ErrorCode.UNKNOWN_COMMAND, f"unknown command {cmd!r} (known: {known})"
                )

            async def progress(data: dict[str, Any]) -> None:
                await self._send(writer, progress_line(request_id, data))

            result = await command(self._ctx, args, progress)
            reply = ok_reply(request_id, result)
        except ProtocolError as exc:
            reply = error_reply(request_id, exc.code, exc.message)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug in a command must not take the daemon down
            log.exception("command_failed", request=line[:200].decode(errors="replace"))
            reply = error_reply(request_id, ErrorCode.INTERNAL, f"internal error: {exc}")
        await self._send(writer, reply)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(encode(message))
        await writer.drain()
