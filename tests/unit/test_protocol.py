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

    from mediaforged.schema import hash_key

    for i in range(200):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        assert hash_key(digest) == int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
    assert hash_key("f" * 64) == -1
    assert hash_key("8" + "0" * 63) == -(1 << 63)
    assert hash_key("7" + "f" * 63) == (1 << 63) - 1
