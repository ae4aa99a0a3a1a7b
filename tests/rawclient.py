"""The tests' own raw client of the control socket (mediaforgectl's ``Client`` is the other)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class RawClient:
    """The tests' own client of the control socket, below mediaforgectl's ``Client``: JSON lines
    out and in, or any bytes at all for the tests that send garbage on purpose (``write``,
    ``readline``; ``sock`` stays theirs to tune). It reads the hello on connecting."""

    def __init__(self, path: Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError:
            self.sock.close()
            raise
        self.file = self.sock.makefile("rb")
        self.hello = self.read()

    def write(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def readline(self) -> bytes:
        """The next line as it came; b"" once the daemon closed the connection."""
        line: bytes = self.file.readline()
        return line

    def read(self) -> dict[str, Any]:
        line = self.readline()
        assert line, "the daemon closed the connection"
        data: dict[str, Any] = json.loads(line)
        return data

    def send(self, raw: bytes) -> dict[str, Any]:
        """Send ``raw`` (one or more lines) and read one message back."""
        self.write(raw)
        return self.read()

    def final(self) -> dict[str, Any] | None:
        """The next final reply (the message with "ok": progress lines come before it), or
        None if the daemon closed the connection first."""
        while line := self.readline():
            message: dict[str, Any] = json.loads(line)
            if "ok" in message:
                return message
        return None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request as a JSON line and return its final reply."""
        self.write(json.dumps(message).encode() + b"\n")
        reply = self.final()
        assert reply is not None, f"the daemon closed the connection after {message}"
        return reply

    def close(self) -> None:
        # The reader holds the socket open after sock.close(): close both, the reader first.
        self.file.close()
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
