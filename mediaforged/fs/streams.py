"""Audio or video, by the streams a container's own headers declare (not its brand or name).

An MP4 holding only a sound track is audio whatever its extension (``.mp4``, ``.3gp``); an
H.264 track makes a ``.m4a`` a video. The first bytes seldom say: an MP4's ``moov`` is often
at the end, an ASF header or MXF metadata may outgrow them. ``refine`` reads what it needs
through ``read_at(offset, size)`` (``os.pread`` on the file the hasher already has open): a
few box headers for MP4, the Tracks element for Matroska, up to ``_HEADER_READ`` bytes for
ASF and MXF. Cover art is no video: MP4 keeps it in a ``covr`` tag, Matroska as an attachment.
"""

from __future__ import annotations

from collections.abc import Callable

from mediaforged.fs.families import mxf_streams
from mediaforged.fs.signatures import asf

__all__ = ["ReadAt", "refine"]

ReadAt = Callable[[int, int], bytes]

_HEADER_READ = 1 << 18  # 256 KiB: an ASF header object, an MXF header partition
_MAX_BOXES = 4096  # box headers walked per file: bounds a hostile file's cost

_MP4_FAMILY = frozenset(
    {"video/mp4", "audio/mp4", "video/x-m4v", "video/quicktime", "video/3gpp", "video/3gpp2"}
)
_AUDIO_OF = {"video/3gpp": "audio/3gpp", "video/3gpp2": "audio/3gpp2"}
_VIDEO_OF = {"audio/3gpp": "video/3gpp", "audio/3gpp2": "video/3gpp2", "audio/mp4": "video/mp4"}
_MATROSKA = {"video/x-matroska": "audio/x-matroska", "video/webm": "audio/webm"}
_MATROSKA_VIDEO = {audio: video for video, audio in _MATROSKA.items()}
_ASF = frozenset({"video/x-ms-wmv", "video/x-ms-asf", "audio/x-ms-wma"})
_MXF = frozenset({"video/mxf", "audio/mxf"})


def refine(mime: str, read_at: ReadAt, size: int, ext: str) -> str:
    """``mime`` corrected by the streams the container declares (unchanged when it cannot tell)."""
    try:
        if mime in _MP4_FAMILY:
            return _mp4(mime, _mp4_handlers(read_at, size))
        if mime in _MATROSKA or mime in _MATROSKA_VIDEO:
            return _matroska(mime, _ebml_track_types(read_at, size))
        if mime in _ASF:
            return asf(read_at(0, _HEADER_READ), ext)
        if mime in _MXF:
            kind = mxf_streams(read_at(0, _HEADER_READ))
            return mime if kind is None else f"{kind}/mxf"
    except OSError:
        return mime  # unreadable past the head: the head's answer stands
    return mime


def _mp4(mime: str, handlers: set[bytes]) -> str:
    if b"vide" in handlers:
        return mime if mime.startswith("video/") else _VIDEO_OF.get(mime, "video/mp4")
    if b"soun" in handlers:
        return mime if mime.startswith("audio/") else _AUDIO_OF.get(mime, "audio/mp4")
    return mime


def _boxes(read_at: ReadAt, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between start and end."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(out) < _MAX_BOXES:
        header = read_at(pos, 16)
        if len(header) < 8:
            break
        size, kind = int.from_bytes(header[:4], "big"), header[4:8]
        payload = pos + 8
        if size == 1 and len(header) == 16:
            size, payload = int.from_bytes(header[8:16], "big"), pos + 16
        elif size == 0:
            size = end - pos
        if size < payload - pos:
            break
        out.append((kind, payload, min(pos + size, end)))
        pos += size
    return out


def _mp4_handlers(read_at: ReadAt, size: int) -> set[bytes]:
    """The handler types (``vide``, ``soun``, ...) of the tracks in ``moov``."""
    handlers: set[bytes] = set()
    for kind, start, end in _boxes(read_at, 0, size):
        if kind != b"moov":
            continue
        for trak, t_start, t_end in _boxes(read_at, start, end):
            if trak != b"trak":
                continue
            for mdia, m_start, m_end in _boxes(read_at, t_start, t_end):
                if mdia != b"mdia":
                    continue
                for hdlr, h_start, _ in _boxes(read_at, m_start, m_end):
                    if hdlr == b"hdlr":
                        handlers.add(read_at(h_start + 8, 4))  # version/flags, pre_defined
    return handlers


def _matroska(mime: str, types: set[int]) -> str:
    if 1 in types:  # TrackType 1: video
        return _MATROSKA_VIDEO.get(mime, mime)
    if 2 in types:
        return _MATROSKA.get(mime, mime)
    return mime


def _vint(buf: bytes, pos: int, strip: bool) -> tuple[int, int] | None:
    if pos >= len(buf) or buf[pos] == 0:
        return None
    width = 9 - buf[pos].bit_length()
    if pos + width > len(buf):
        return None
    value = buf[pos] & ((1 << (8 - width)) - 1) if strip else buf[pos]
    for byte in buf[pos + 1 : pos + width]:
        value = (value << 8) | byte
    if strip and value == (1 << (7 * width)) - 1:
        value = -1  # unknown size (live streams): runs to the parent's end
    return value, width


def _elements(read_at: ReadAt, start: int, end: int) -> list[tuple[int, int, int]]:
    """(id, payload start, element end) of the EBML elements between start and end."""
    out: list[tuple[int, int, int]] = []
    pos = start
    while pos < end and len(out) < _MAX_BOXES:
        header = read_at(pos, 12)
        ident = _vint(header, 0, strip=False)
        sized = None if ident is None else _vint(header, ident[1], strip=True)
        if ident is None or sized is None:
            break
        payload = pos + ident[1] + sized[1]
        stop = end if sized[0] < 0 else min(payload + sized[0], end)
        out.append((ident[0], payload, stop))
        pos = stop
    return out


_SEGMENT, _TRACKS, _TRACK_ENTRY, _TRACK_TYPE, _CLUSTER = (
    0x18538067,
    0x1654AE6B,
    0xAE,
    0x83,
    0x1F43B675,
)


def _ebml_track_types(read_at: ReadAt, size: int) -> set[int]:
    types: set[int] = set()
    for ident, start, end in _elements(read_at, 0, size):
        if ident != _SEGMENT:
            continue
        for child, c_start, c_end in _elements(read_at, start, end):
            if child == _CLUSTER and types:
                break  # the tracks come before the media
            if child != _TRACKS:
                continue
            for entry, e_start, e_end in _elements(read_at, c_start, c_end):
                if entry != _TRACK_ENTRY:
                    continue
                for field, f_start, f_end in _elements(read_at, e_start, e_end):
                    if field == _TRACK_TYPE and f_end - f_start == 1:
                        types.add(read_at(f_start, 1)[0])
        break
    return types
