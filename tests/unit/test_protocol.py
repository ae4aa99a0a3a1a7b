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
