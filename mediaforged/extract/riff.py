"""The RIFF INFO list of a WAV file (INAM, IART, IPRD...): the tags ffmpeg, Windows and most
recorders write, which mutagen does not read (it reads only an ``id3 `` chunk)."""

from __future__ import annotations

import struct
from typing import IO

__all__ = ["riff_info"]

# INFO chunk id -> the tag name the audio extractor looks up (as in Vorbis comments).
_INFO_KEYS = {
    b"INAM": "title",
    b"IART": "artist",
    b"IPRD": "album",
    b"IGNR": "genre",
    b"ICRD": "date",
    b"ITRK": "tracknumber",
    b"IPRT": "tracknumber",
    b"IMUS": "composer",
    b"ICMT": "comment",
}
_MAX_CHUNKS = 256
_MAX_INFO = 1 << 20  # an INFO list larger than 1 MiB is not tags


def riff_info(stream: IO[bytes]) -> dict[str, list[str]]:
    """The INFO list's tags as name -> [value] (empty when there is none)."""
    stream.seek(0)
    header = stream.read(12)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX") or header[8:12] != b"WAVE":
        return {}
    order = "<" if header[:4] == b"RIFF" else ">"
    pos = 12
    for _ in range(_MAX_CHUNKS):
        stream.seek(pos)
        chunk = stream.read(12)
        if len(chunk) < 8:
            return {}
        kind, size = chunk[:4], struct.unpack(order + "I", chunk[4:8])[0]
        if kind == b"LIST" and chunk[8:12] == b"INFO" and size <= _MAX_INFO:
            return _entries(stream.read(size - 4), order)
        pos += 8 + size + (size & 1)
    return {}


def _entries(body: bytes, order: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    pos = 0
    while pos + 8 <= len(body):
        kind, size = body[pos : pos + 4], struct.unpack(order + "I", body[pos + 4 : pos + 8])[0]
        raw = body[pos + 8 : pos + 8 + size].split(b"\x00", 1)[0]
        name = _INFO_KEYS.get(kind)
        if name is not None and raw:
            out.setdefault(name, []).append(_text(raw))
        pos += 8 + size + (size & 1)
    return out


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")
