"""A daemon whose reply cannot be read (a line over the protocol's limit, or not JSON) is a
protocol error, exit 76, never "no daemon" (69): mediaforgectl against a peer on a real Unix
socket that greets as the daemon does and then answers with such a line."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaforged import __version__
from mediaforged.cli.client import EXIT_PROTOCOL
from mediaforged.protocol import MAX_LINE, encode, hello_line


@pytest.fixture
def broken_peer(short_tmp: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    reply: bytes = request.param
    path = short_tmp / "d.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(encode(hello_line(__version__, "full")))
            conn.recv(65536)  # the request
            conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield path
    server.close()
    thread.join(10)


@pytest.mark.parametrize(
    ("broken_peer", "said"),
    [
        (b"{not json\n", "not a mediaforged reply"),
        (b'{"id": 1, "ok": true, "result": "' + b"x" * MAX_LINE + b'"}\n', "longer than"),
    ],
    indirect=["broken_peer"],
    ids=["not-json", "too-long"],
)
def test_an_unreadable_reply_is_a_protocol_error(broken_peer: Path, said: str) -> None:
    ctl = [sys.executable, "-m", "mediaforged.cli.main", "--socket", str(broken_peer), "status"]
    result = subprocess.run(ctl, capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_PROTOCOL, result
    assert said in result.stderr
