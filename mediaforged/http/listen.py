"""Binding ``http_listen``: a TCP address (port 0: any free one) or a Unix socket path.

The socket is made here, not by uvicorn, so that an address in use is one clear error
(``HttpBindError``) before the daemon starts, rather than uvicorn's ``sys.exit`` inside a
task, and so that the address really bound (the port chosen for port 0) is known.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path

__all__ = ["HttpBindError", "bind", "remove_unix", "shown_address"]

_BACKLOG = 256


class HttpBindError(Exception):
    """http_listen cannot be bound (in use, not allowed, no such address)."""


def _split(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _bind_unix(path: Path, mode: int) -> socket.socket:
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # left by a crash: nobody listens
        else:
            raise HttpBindError(f"http_listen {path}: another server listens on it")
        finally:
            probe.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise HttpBindError(f"http_listen {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    os.chmod(path, mode)
    return sock


def bind(text: str, mode: int = 0o660) -> socket.socket:
    """A listening socket for ``text`` (HOST:PORT or an absolute path)."""
    if text.startswith("/"):
        sock = _bind_unix(Path(text), mode)
    else:
        host, port = _split(text)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except OSError as exc:
            raise HttpBindError(f"http_listen {text}: {exc.strerror or exc}") from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            why = (
                "the address is in use"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or str(exc)
            )
            raise HttpBindError(
                f"http_listen {text}: {why} (another mediaforged, or another server: "
                'choose another port with http_listen, or "" to turn HTTP off)'
            ) from None
    sock.listen(_BACKLOG)
    sock.setblocking(False)
    return sock


def shown_address(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a bound TCP socket, or ``unix:PATH``."""
    if sock.family == socket.AF_UNIX:
        return f"unix:{sock.getsockname()}"
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def remove_unix(sock: socket.socket) -> None:
    if sock.family == socket.AF_UNIX:
        with contextlib.suppress(OSError):
            os.unlink(sock.getsockname())
