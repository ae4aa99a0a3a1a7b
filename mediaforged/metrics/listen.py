"""``metrics_listen``: ``GET /metrics`` without a token, for a Prometheus scrape on a trusted
network. A few lines of HTTP/1.1 on asyncio streams: one request per connection, nothing but
the metrics, so that it adds no dependency and no surface."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from mediaforged.control.context import Context

__all__ = ["parse_listen", "serve_metrics"]

log = structlog.get_logger("mediaforged.metrics")

_READ_S = 10.0  # a scraper sends its request at once; a silent connection is dropped
_MAX_HEADERS = 100


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` as settings checked it (``[v6]:port``; ``:port``: every address)."""
    host, _, port = text.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


async def serve_metrics(ctx: Context, listen: str) -> None:
    """Serve until cancelled. A bind failure is logged in one line; the daemon goes on."""
    host, port = parse_listen(listen)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(_answer(ctx, reader, writer), _READ_S)
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a client that went away, stalled, or sent a line too long for HTTP
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    try:
        server = await asyncio.start_server(handle, host or None, port)
    except OSError as exc:
        log.error(
            "metrics_listen_failed",
            address=listen,
            error=exc.strerror or str(exc),
            fix="choose a free address in metrics_listen, or set it to '' to turn it off",
        )
        return
    bound = [_shown(sock.getsockname()) for sock in server.sockets]
    log.info("metrics_listening", address=bound[0], addresses=bound, path="/metrics")
    async with server:
        await server.serve_forever()


def _shown(name: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _answer(ctx: Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = (await reader.readline()).decode("latin-1").split()
    for _ in range(_MAX_HEADERS):  # the headers say nothing we need: read past them
        if not (await reader.readline()).strip():
            break
    if len(request) != 3 or not request[2].startswith("HTTP/"):
        await _reply(writer, 400, b"a request line: GET /metrics HTTP/1.1\n")
        return
    method, target = request[0], request[1].split("?", 1)[0]
    if target != "/metrics":
        await _reply(writer, 404, b"only /metrics is served here\n")
    elif method not in ("GET", "HEAD"):
        await _reply(writer, 405, b"GET /metrics\n", extra=b"Allow: GET, HEAD\r\n")
    else:
        body, content_type = await ctx.metrics.render(ctx)
        await _reply(writer, 200, body, content_type, head=method == "HEAD")


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


async def _reply(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    extra: bytes = b"",
    head: bool = False,
) -> None:
    writer.write(
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n".encode("latin-1")
        + extra
        + b"\r\n"
        + (b"" if head else body)
    )
    await writer.drain()
