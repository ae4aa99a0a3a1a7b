"""The HTTP server's life: bind at start (a clear error if it cannot), serve inside the
daemon's TaskGroup, stop with the daemon.

uvicorn runs on a socket bound by ``listen`` with its signal handlers off (the daemon owns
SIGTERM, SIGINT and SIGHUP), its logs quiet (structlog logs what matters) and a short
graceful-shutdown bound: open event streams are told to end, then cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import structlog
import uvicorn
from starlette.types import ASGIApp, Message, Scope

from mediaforged.control.context import Context
from mediaforged.http.app import make_app
from mediaforged.http.listen import HttpBindError, bind, remove_unix, shown_address

__all__ = ["HttpBindError", "HttpServer"]

log = structlog.get_logger("mediaforged.http")

_GRACEFUL_S = 3.0
ADMIN_TOKEN_FILE = "admin.token"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's signals are the daemon's: uvicorn must not take them


class HttpServer:
    """The HTTP API of one daemon; ``start`` binds, ``serve`` runs until ``close``."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self.address: str | None = None
        self.closing = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self._ctx.config.http_listen)

    def start(self) -> None:
        """Bind http_listen (HttpBindError if it cannot be); nothing to do when it is empty."""
        if not self.enabled:
            return
        self._sock = bind(self._ctx.config.http_listen, self._ctx.config.socket_mode)
        self.address = shown_address(self._sock)
        self._ctx.state.http_address = self.address
        log.info("http_listening", address=self.address)

    async def serve(self) -> None:
        if self._sock is None:
            return
        await self._first_token()
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
        app = make_app(self._ctx, self.closing)
        await asyncio.to_thread(_warm_up, app)
        if self.closing.is_set():  # closed while warming up (a short --once run): nothing to serve
            return
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            proxy_headers=True,  # X-Forwarded-For from a proxy on this host: per-client limits
            forwarded_allow_ips="127.0.0.1,::1",
            timeout_graceful_shutdown=int(_GRACEFUL_S),
            ws_max_size=1 << 16,  # clients send nothing big on the events socket
            server_header=False,
        )
        self._server = _Server(config)
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            remove_unix(self._sock)

    async def close(self) -> None:
        """Stop accepting, end the event streams, let requests finish for a few seconds."""
        self.closing.set()
        if self._server is not None:
            self._server.should_exit = True
        elif self._sock is not None:  # bound, never served (start-up failed later)
            remove_unix(self._sock)
            self._sock.close()
            self._sock = None

    async def _first_token(self) -> None:
        """At the first start (no token at all): an admin token, in a file only we can read."""
        ctx = self._ctx
        if await ctx.tokens.any(ctx.engine):
            return
        token = await ctx.tokens.create(ctx.writer, "admin", "admin")
        path = Path(ctx.config.state_dir) / ADMIN_TOKEN_FILE
        await asyncio.to_thread(_write_private, path, token + "\n")
        log.info(
            "admin_token_created",
            path=str(path),
            hint="read it once, then keep it elsewhere; `mediaforgectl token create` makes more",
        )


def _warm_up(app: ASGIApp) -> None:
    """Ask the app for a page it does not have, in a loop of this thread's own.

    FastAPI builds each route's validation models on the first request that walks past it:
    seconds of CPU on a small NAS. Done here, off the daemon's loop, before the first real
    request, which would otherwise wait that long with every other task held up behind it.
    """

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    path = "/api/v1/.warm-up"  # no such route: every router is walked
    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [], "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0), "root_path": "",
    }  # fmt: skip

    async def ask() -> None:
        await app(scope, receive, send)

    asyncio.run(ask())


def _write_private(path: Path, text: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a file left from an older catalog: never written through
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
