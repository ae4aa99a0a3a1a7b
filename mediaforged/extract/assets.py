"""3GPP's own tag boxes (3GPP TS 26.244 "asset information") in ``moov/udta``: ``titl``,
``perf``, ``auth``, ``albm`` (with its track number), ``gnre``, ``yrrc``. Phones and
ffmpeg's 3GP muxer write these instead of iTunes atoms; mutagen reads only the iTunes ones.

Each text box is a full box (version, flags), a packed ISO 639-2 language, then a string in
UTF-8, or UTF-16 with a byte-order mark, ended by a NUL. Only box headers are read.
"""

from __future__ import annotations

import struct
from typing import IO

__all__ = ["asset_tags"]

# box -> the tag name the audio extractor looks up (as in Vorbis comments).
_TEXT = {
    b"titl": "title",
    b"perf": "artist",
    b"auth": "author",
    b"albm": "album",
    b"gnre": "genre",
}
_MAX_BOXES = 512
_MAX_UDTA = 1 << 20  # tag boxes: a udta of more than 1 MiB holds no tags we read


def asset_tags(stream: IO[bytes]) -> dict[str, list[str]]:
    """The asset boxes' tags as name -> [value] (empty when the file has none)."""
    moov = _find(stream, 0, stream.seek(0, 2), b"moov")
    udta = None if moov is None else _find(stream, moov[0], moov[1], b"udta")
    if udta is None or udta[1] - udta[0] > _MAX_UDTA:
        return {}
    stream.seek(udta[0])
    return _tags(stream.read(udta[1] - udta[0]))


def _find(stream: IO[bytes], start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, end) of the first ``kind`` box between start and end."""
    pos = start
    for _ in range(_MAX_BOXES):
        if pos + 8 > end:
            return None
        stream.seek(pos)
        header = stream.read(16)
        if len(header) < 8:
            return None
        box, payload = struct.unpack(">I", header[:4])[0], pos + 8
        if box == 1 and len(header) == 16:
            box, payload = struct.unpack(">Q", header[8:16])[0], pos + 16
        elif box == 0:
            box = end - pos
        if box < payload - pos:
            return None
        if header[4:8] == kind:
            return payload, min(pos + box, end)
        pos += box
    return None


def _tags(body: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    pos = 0
    while pos + 8 <= len(body):
        size, kind = struct.unpack(">I", body[pos : pos + 4])[0], body[pos + 4 : pos + 8]
        if size < 8:
            break
        payload = body[pos + 14 : pos + size]  # after version/flags and the language
        if kind in _TEXT:
            text, rest = _string(payload)
            if text:
                out.setdefault(_TEXT[kind], []).append(text)
            if kind == b"albm" and rest[:1] and rest[0]:  # the optional track number
                out.setdefault("tracknumber", []).append(str(rest[0]))
        elif kind == b"yrrc" and size >= 14:
            year = struct.unpack(">H", body[pos + 12 : pos + 14])[0]
            if year:
                out.setdefault("date", []).append(str(year))
        pos += size
    return out


def _string(payload: bytes) -> tuple[str, bytes]:
    """The box's string and the bytes after its NUL."""
    if payload[:2] in (b"\xfe\xff", b"\xff\xfe"):
        codec = "utf-16-be" if payload[:2] == b"\xfe\xff" else "utf-16-le"
        raw = payload[2:]
        for end in range(0, len(raw) - 1, 2):
            if raw[end : end + 2] == b"\x00\x00":
                return raw[:end].decode(codec, "replace"), raw[end + 2 :]
        return raw.decode(codec, "replace"), b""
    raw, _, rest = payload.partition(b"\x00")
    return raw.decode("utf-8", "replace"), rest
