"""Request decoding: every malformed request gets a stable error code."""

from __future__ import annotations

import json

import pytest

from mediaforged.protocol import ErrorCode, ProtocolError, decode_request, encode


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"\xff\xfe garbage", ErrorCode.BAD_JSON),
        (b"{not json", ErrorCode.BAD_JSON),
        (b"[1, 2]", ErrorCode.BAD_REQUEST),
        (b'{"id": 1}', ErrorCode.BAD_REQUEST),
        (b'{"id": 1, "cmd": 5}', ErrorCode.BAD_REQUEST),
        (b'{"id": [1], "cmd": "status"}', ErrorCode.BAD_REQUEST),
        (b'{"id": 1, "cmd": "status", "args": []}', ErrorCode.BAD_REQUEST),
    ],
)
def test_malformed_requests(line: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_request(line)
    assert info.value.code == code


def test_a_good_request() -> None:
    assert decode_request(b'{"id": "a", "cmd": "rescan", "args": {"path": "/x"}}') == (
        "a",
        "rescan",
        {"path": "/x"},
    )
    assert decode_request(b'{"cmd": "status"}') == (None, "status", {})


def test_encode_is_one_ascii_line() -> None:
    line = encode({"path": "caf\udce9\n\x1b[31m"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.isascii()
    assert json.loads(line)["path"] == "caf\udce9\n\x1b[31m"


def test_hash_key_is_the_signed_first_8_bytes() -> None:
    import hashlib

    from mediaforged.catalog.schema import hash_key

    for i in range(200):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        assert hash_key(digest) == int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
    assert hash_key("f" * 64) == -1
    assert hash_key("8" + "0" * 63) == -(1 << 63)
    assert hash_key("7" + "f" * 63) == (1 << 63) - 1


def test_errors_keep_the_request_id_when_it_could_be_read() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_request(b'{"id": 4, "cmd": "status", "args": 3}')
    assert (info.value.code, info.value.request_id) == (ErrorCode.BAD_REQUEST, 4)
    with pytest.raises(ProtocolError) as info:
        decode_request(b'{"id": "q", "cmd": ""}')
    assert info.value.request_id == "q"


def test_hello_and_replies() -> None:
    from mediaforged.protocol import decode_reply, error_reply, hello_line, ok_reply

    hello = hello_line("9.9", "read-only")
    assert hello == {"hello": "mediaforged", "version": "9.9", "protocol": 1, "access": "read-only"}
    assert decode_reply(encode(ok_reply(3, {"a": 1}))) == {"id": 3, "ok": True, "result": {"a": 1}}
    assert decode_reply(encode(error_reply(None, "busy", "m")))["error"] == {
        "code": "busy",
        "message": "m",
    }
    with pytest.raises(ValueError, match="not a JSON object"):
        decode_reply(b"[1]")


def test_who_may_change_things() -> None:
    import os

    from mediaforged.control.access import Peer, may_change

    stranger = Peer(pid=1, uid=4242, gid=4242, groups=frozenset({4242, 65534}))
    assert not may_change(stranger, [], [])
    assert may_change(stranger, ["4242"], [])
    assert may_change(stranger, [], ["nogroup"])  # 65534 by name
    assert may_change(stranger, [], ["65534"])
    assert not may_change(stranger, ["no-such-user-here"], ["no-such-group-here"])
    assert may_change(Peer(1, 0, 0, frozenset()), [], [])  # root
    assert may_change(Peer(1, os.getuid(), 1, frozenset()), [], [])  # the daemon's own user


def test_peer_credentials_of_a_real_socket() -> None:
    import os
    import socket

    from mediaforged.control.access import peer_of

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        peer = peer_of(a)
    finally:
        a.close()
        b.close()
    assert (peer.pid, peer.uid, peer.gid) == (os.getpid(), os.getuid(), os.getgid())
    assert set(os.getgroups()) <= peer.groups


def test_every_command_is_documented_with_an_example() -> None:
    from pathlib import Path

    from mediaforged.control.commands import COMMANDS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    undocumented = [name for name in COMMANDS if f'"cmd":"{name}"' not in doc]
    assert undocumented == []
    codes = [v for k, v in vars(ErrorCode).items() if k.isupper()]
    assert [c for c in codes if f"`{c}`" not in doc] == []
