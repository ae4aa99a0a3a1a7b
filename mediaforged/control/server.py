"""The control socket: a Unix stream server that frames requests and dispatches commands.

Bad input (invalid JSON, wrong types, unknown commands or arguments, an over-long line) gets
an error reply with a stable code; it never reaches the daemon's state. Every connection is
logged with the peer's pid/uid/gid (SO_PEERCRED); only trusted peers may run commands that
change things. Silent connections time out (a query-only peer's sooner), and the number of
connections is capped in total and per user, with slots kept for root and the daemon's user
(gate.py); what one peer makes the daemon log is rate-limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import os
import pwd
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from mediaforged import __version__
from mediaforged.control.access import Peer, may_change, peer_of
from mediaforged.control.commands import command_spec
from mediaforged.control.context import Context
from mediaforged.control.gate import LIMITED_COMMANDS, Gate, PeerLog, Slot, is_privileged
from mediaforged.protocol import (
    MAX_LINE,
    ErrorCode,
    ProtocolError,
    decode_request,
    encode,
    error_reply,
    hello_line,
    ok_reply,
    progress_line,
)

__all__ = ["AlreadyRunning", "ControlServer", "SocketUnusable", "prepare_socket_folder"]

_CLOSE_WAIT_S = 1.0
_LIMITED_IDLE_S = 5.0  # a limited connection (past the cap) asks its status and goes

log = structlog.get_logger("mediaforged.control")


class _TooSlow(Exception):
    """An event subscriber did not read for events_max_wait seconds."""


class AlreadyRunning(Exception):
    """Another daemon answers on the socket: we must not steal it."""


@dataclass(frozen=True, slots=True)
class _Conn:
    """One admitted connection: who, what it may do, and how long it may stay silent."""

    peer: Peer
    trusted: bool
    slot: Slot
    idle: float  # seconds without a request (or without reading a reply) before it is closed


class SocketUnusable(Exception):
    """The control socket cannot be made where the config says; the message names the path
    and the fix. ``permission``: the folder is not ours to write (else: a wrong path)."""

    def __init__(self, message: str, *, permission: bool) -> None:
        super().__init__(message)
        self.permission = permission


def _user() -> str:
    uid = os.geteuid()
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:  # a container's --user with no passwd entry
        return f"uid {uid}"


def _unusable(path: Path, folder: Path, reason: str) -> SocketUnusable:
    fix = (
        f"as root, `install -d -o {os.geteuid()} -g {os.getegid()} -m 0750 {path.parent}` "
        "(README: the socket folder), or set socket_path (--socket) to a folder it can write"
    )
    return SocketUnusable(
        f"cannot create the control socket {path}: {folder} {reason} for {_user()}; fix: {fix}",
        permission=True,
    )


def prepare_socket_folder(path: Path) -> None:
    """Make the socket's folder if needed and check that we may create the socket in it,
    before anything else starts; SocketUnusable says what is wrong and how to fix it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # EACCES, EROFS; or a file where a folder should be
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the folder in which the missing one could not be made
        if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            raise _unusable(path, folder, f"is not writable ({exc.strerror})") from None
        raise SocketUnusable(
            f"cannot create the folder {path.parent} for the control socket: {exc.strerror}; "
            "set socket_path (--socket) to a path in a folder",
            permission=False,
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK, effective_ids=True):
        raise _unusable(path, path.parent, "is not writable")


def _prepare_socket_path(path: Path) -> None:
    prepare_socket_folder(path)
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
        self._gate = Gate()
        self._peer_log = PeerLog()
        self.closing = False

    async def start(self) -> None:
        _prepare_socket_path(self._path)
        old_umask = os.umask(0o777 & ~self._ctx.config.socket_mode)
        try:
            self._server = await self._listen()
        finally:
            os.umask(old_umask)
        os.chmod(self._path, self._ctx.config.socket_mode)
        if self._ctx.config.socket_group:
            gid = grp.getgrnam(self._ctx.config.socket_group).gr_gid
            os.chown(self._path, -1, gid)
        log.info("control_listening", socket=str(self._path))

    async def _listen(self) -> asyncio.Server:
        try:
            return await asyncio.start_unix_server(
                self._handle,
                path=str(self._path),
                limit=MAX_LINE,
                # As many waiting connects as clients served: with asyncio's default of 100,
                # 200 clients connecting at once got EAGAIN.
                backlog=self._ctx.config.control_max_clients,
            )
        except OSError as exc:
            if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
                why = f"refused it ({exc.strerror})"
                raise _unusable(self._path, self._path.parent, why) from None
            raise

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
        conn = self._admit(writer)
        if isinstance(conn, str):
            try:
                await self._send(writer, error_reply(None, ErrorCode.BUSY, conn), _CLOSE_WAIT_S)
            except (ConnectionError, TimeoutError):
                writer.transport.abort()  # gone, or not reading even this: no more time for it
            writer.close()
            return
        peer = conn.peer
        self._clients.add(task)
        if is_privileged(peer) or self._peer_log.allow(peer.uid, "connect"):
            log.debug(  # every ctl call connects: info would be a line per `status`
                "client_connected",
                pid=peer.pid,
                uid=peer.uid,
                gid=peer.gid,
                user=peer.user,
                access="full" if conn.trusted else "read-only",
                slot=conn.slot.value,
                clients=len(self._clients),
            )
        try:
            hello = hello_line(__version__, "full" if conn.trusted else "read-only")
            if conn.slot is Slot.LIMITED:
                hello["only"] = sorted(LIMITED_COMMANDS)
            await self._send(writer, hello, conn.idle)
            await self._serve(reader, writer, conn)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, _TooSlow):
            pass  # the client went away or stopped reading; nothing more to answer
        except asyncio.CancelledError:
            if not self.closing:
                raise
            # close() cancelled us (an `events --follow` waits forever) and awaits us: end
            # normally, for Python 3.11's stream callback calls exception() on a cancelled
            # handler and logs a traceback for it.
        finally:
            self._clients.discard(task)
            self._gate.release(peer.uid, conn.slot)
            log.debug("client_disconnected", pid=peer.pid, uid=peer.uid)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), _CLOSE_WAIT_S)
            except (TimeoutError, OSError):
                # A peer that never reads keeps unsent bytes in the buffer, and the close
                # would wait for them forever (a shutdown hung on it): drop them.
                writer.transport.abort()

    def _admit(self, writer: asyncio.StreamWriter) -> _Conn | str:
        """The admitted connection, or why it is refused (logged, a few times a minute)."""
        config = self._ctx.config
        try:
            peer = peer_of(writer.get_extra_info("socket"))
        except OSError:
            peer = Peer(0, -1, -1, frozenset())  # cannot happen on Linux; trust nobody then
        trusted = may_change(peer, config.control_users, config.control_groups)
        slot = self._gate.admit(peer, trusted, config)
        if isinstance(slot, str):
            if self._peer_log.allow(peer.uid, "error"):
                log.warning(
                    "client_refused_busy", pid=peer.pid, uid=peer.uid, gid=peer.gid, why=slot
                )
            return slot
        idle = config.control_idle_timeout
        if slot is Slot.LIMITED:
            idle = min(idle, _LIMITED_IDLE_S)
        elif not trusted:  # a reader's idle connections are what a lock-out is made of
            idle = min(idle, config.control_reader_idle_timeout)
        return _Conn(peer, trusted, slot, idle)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        """Read requests and answer them until the client goes, idles or misbehaves."""
        while not self.closing:
            try:
                line = await asyncio.wait_for(reader.readline(), conn.idle)
            except TimeoutError:
                message = f"no request for {conn.idle:g}s: closing"
                await self._send(
                    writer, error_reply(None, ErrorCode.IDLE_TIMEOUT, message), conn.idle
                )
                return
            except ValueError:  # longer than MAX_LINE: the stream cannot be trusted further
                message = f"request longer than {MAX_LINE} bytes"
                await self._send(writer, error_reply(None, ErrorCode.TOO_LARGE, message), conn.idle)
                return
            if not line:
                return
            if not line.strip():
                continue
            await self._serve_one(line, writer, conn)

    async def _serve_one(self, line: bytes, writer: asyncio.StreamWriter, conn: _Conn) -> None:
        peer = conn.peer
        request_id: Any = None
        cmd, began = "", time.monotonic()
        try:
            request_id, cmd, args = decode_request(line)
            spec = command_spec(cmd, args)
            if conn.slot is Slot.LIMITED and cmd not in LIMITED_COMMANDS:
                raise ProtocolError(
                    ErrorCode.BUSY,
                    f"mediaforged serves {self._ctx.config.control_max_clients} connections "
                    "at most (control_max_clients), and this one past them answers only "
                    f"{', '.join(sorted(LIMITED_COMMANDS))}; try {cmd} again shortly",
                )
            if spec.changes and not conn.trusted:
                if self._peer_log.allow(peer.uid, "error"):
                    log.warning("command_forbidden", cmd=cmd, uid=peer.uid, user=peer.user)
                raise ProtocolError(
                    ErrorCode.FORBIDDEN,
                    f"{cmd} changes things, and user {peer.user} (uid {peer.uid}) may only "
                    "query: use sudo, or add the user or one of its groups to control_users "
                    "or control_groups in the daemon's config",
                )
            if spec.changes:
                log.info("command", cmd=cmd, uid=peer.uid, user=peer.user)

            async def progress(data: dict[str, Any], key: str = "progress") -> None:
                if key == "progress":
                    await self._send(writer, progress_line(request_id, data), conn.idle)
                else:  # event lines: a subscriber that stops reading is cut off, not waited for
                    await self._send(
                        writer,
                        {"id": request_id, key: data},
                        self._ctx.config.events_max_wait,
                        slow=True,
                    )

            result = await spec.fn(self._ctx, args, progress)
            reply = ok_reply(request_id, result)
        except ProtocolError as exc:
            reply = error_reply(request_id or exc.request_id, exc.code, exc.message)
        except _TooSlow:
            await self._cut_off(writer, request_id, peer)
            raise
        except asyncio.CancelledError:
            if self.closing:  # the daemon stops: say so, rather than only hanging up
                with contextlib.suppress(Exception):
                    writer.write(
                        encode(
                            error_reply(
                                request_id,
                                ErrorCode.CANCELLED,
                                "mediaforged is stopping; run the command again once it is back",
                            )
                        )
                    )
            raise
        except (ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # a bug in a command must not take the daemon down
            if self._peer_log.allow(peer.uid, "error"):  # a traceback each: a few a minute
                log.exception(
                    "command_failed", uid=peer.uid, request=line[:200].decode(errors="replace")
                )
            reply = error_reply(request_id, ErrorCode.INTERNAL, f"internal error: {exc}")
        code = None if reply["ok"] else reply["error"]["code"]
        self._ctx.metrics.request("socket", cmd, time.monotonic() - began, code)
        await self._send(writer, reply, conn.idle)

    async def _send(
        self, writer: asyncio.StreamWriter, message: dict[str, Any], wait: float, slow: bool = False
    ) -> None:
        """Write one line; a client that does not read it within ``wait`` seconds (its idle
        timeout) is dropped (TimeoutError ends its connection) rather than holding a command
        forever. With ``slow``, an event subscriber, it raises _TooSlow instead."""
        line = encode(message)
        if len(line) > MAX_LINE and "ok" in message:
            # No client reads a longer line (the framing's limit): say so instead.
            line = encode(
                error_reply(
                    message.get("id"),
                    ErrorCode.TOO_LARGE,
                    f"the reply is longer than {MAX_LINE} bytes, the most a line may hold: "
                    "ask for fewer (a lower limit), or for a streamed reply",
                )
            )
        writer.write(line)
        try:
            await asyncio.wait_for(writer.drain(), wait)
        except TimeoutError:
            if slow:
                raise _TooSlow from None
            raise

    async def _cut_off(self, writer: asyncio.StreamWriter, request_id: Any, peer: Peer) -> None:
        """Say why, give a reader that is merely slow a while to take the rest, then drop."""
        wait = self._ctx.config.events_max_wait
        if self._peer_log.allow(peer.uid, "error"):
            log.warning("subscriber_cut_off", pid=peer.pid, uid=peer.uid, waited_s=wait)
        writer.write(
            encode(
                error_reply(
                    request_id,
                    ErrorCode.TOO_SLOW,
                    f"events were not read for {wait:g}s (events_max_wait): cut off so the "
                    "daemon does not wait for this subscriber; resume with --since CURSOR of "
                    "the last event received",
                )
            )
        )
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), self._ctx.config.control_idle_timeout)
        except (TimeoutError, ConnectionError):
            writer.transport.abort()
