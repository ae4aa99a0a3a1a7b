"""Content sniffing: a MIME type and a coarse media type from a file's first bytes.

The content decides; the file name only refines containers whose magic bytes are shared
by several formats (a camera RAW is a TIFF, a WMA and a WMV are both ASF, an MP4 brand
may be generic). When no signature matches, the extension is looked up instead.

``sniff`` is a pure function called for every file the daemon hashes, so it does no I/O
and builds nothing per call: every table is a module constant. Here: the dispatch on the
first bytes and the signatures that need no parsing; the containers' sniffers are in
``signatures``, the extension table in ``extensions``.
"""

from __future__ import annotations

import os

from mediaforged.fs.extensions import BY_EXTENSION, extension
from mediaforged.fs.families import family
from mediaforged.fs.signatures import (
    ASF_GUID,
    EBML_MAGIC,
    MP4_BY_EXTENSION,
    QT_ATOMS,
    adts_stream,
    asf,
    bmp,
    ico,
    iso_bmff,
    matroska,
    mpeg_audio_stream,
    ogg,
    plausible_box_size,
    tiff,
    transport_stream,
)
from mediaforged.fs.streams import refine

__all__ = ["SNIFF_BYTES", "sniff", "sniff_open"]

SNIFF_BYTES: int = 4096  # enough for an ID3 tag with padding, an ASF header, an Ogg page

EMPTY_MIME = "inode/x-empty"
UNKNOWN_MIME = "application/octet-stream"
_MEDIA_MAJORS = frozenset({"image", "audio", "video"})

# Exact four-byte signatures at offset 0 that identify a format on their own.
_MAGIC4: dict[bytes, str] = {
    b"fLaC": "audio/flac",
    b"MAC ": "audio/x-ape",
    b"wvpk": "audio/x-wavpack",
    b"MPCK": "audio/x-musepack",
    b"DSD ": "audio/x-dsf",
    b"TTA1": "audio/x-tta",
    b"OFR ": "audio/x-optimfrog",
    b"caff": "audio/x-caf",
    b"MThd": "audio/midi",
    b".snd": "audio/basic",
    b"\x89PNG": "image/png",
    b"8BPS": "image/vnd.adobe.photoshop",
    b"IIRO": "image/x-olympus-orf",
    b"IIRS": "image/x-olympus-orf",
    b"MMOR": "image/x-olympus-orf",
    b"IIU\x00": "image/x-panasonic-rw2",
    b"%PDF": "application/pdf",
}

_JP2_BRANDS = {b"jpx ": "image/jpx", b"jpm ": "image/jpm"}


def sniff(head: bytes, name: bytes) -> tuple[str, str]:
    """Return (mime_type, media_type) where media_type is one of "image", "audio", "video", "other".

    ``head`` is the file's first bytes (up to SNIFF_BYTES, possibly fewer); ``name`` is
    the raw file name, which need not be UTF-8.
    """
    if not head:
        return EMPTY_MIME, "other"
    ext = extension(name)
    mime = _from_content(head, ext) or BY_EXTENSION.get(ext, UNKNOWN_MIME)
    return mime, _media_type(mime)


def sniff_open(fd: int, head: bytes, name: bytes) -> tuple[str, str]:
    """``sniff``, then audio or video by the streams the container declares, read from the
    open file ``fd`` past ``head`` where it must be (an MP4's ``moov`` at its end)."""
    mime, media_type = sniff(head, name)
    if media_type not in ("audio", "video"):
        return mime, media_type
    size = os.fstat(fd).st_size
    refined = refine(mime, lambda offset, count: os.pread(fd, count, offset), size, extension(name))
    return refined, _media_type(refined)


def _media_type(mime: str) -> str:
    major = mime.partition("/")[0]
    return major if major in _MEDIA_MAJORS else "other"


def _from_content(head: bytes, ext: str) -> str | None:
    """The MIME type the signature in ``head`` implies, or None if nothing matched."""
    magic = head[:4]
    known = _MAGIC4.get(magic)
    if known is not None:
        return known

    other = family(head, ext)
    if other is not None:
        return other
    if magic == b"FLV\x01":  # the header's flags: 4 = has audio, 1 = has video
        return "audio/x-flv" if len(head) > 4 and head[4] & 0x05 == 0x04 else "video/x-flv"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"

    if magic in (b"RIFF", b"RIFX", b"RF64", b"BW64"):
        form = head[8:12]
        if form == b"WAVE":
            return "audio/wav"
        if form in (b"AVI ", b"AVIX"):
            return "video/x-msvideo"
        if form == b"WEBP":
            return "image/webp"
        return None

    if magic in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return tiff(head, ext)

    if head[4:8] == b"ftyp":
        return iso_bmff(head, ext)

    if magic == EBML_MAGIC:
        return matroska(head, ext)

    if magic == b"OggS":
        return ogg(head, ext)

    if magic == b"FORM":
        return "audio/x-aiff" if head[8:12] in (b"AIFF", b"AIFC") else None
    if magic == b"FRM8":
        return "audio/x-dff" if head[12:16] == b"DSD " else None

    if head.startswith(ASF_GUID):
        return asf(head, ext)

    if head.startswith(b"ID3"):
        return _id3(head, ext)

    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):  # before MPEG sync
        return "image/jxl"
    if head[:1] == b"\xff" and len(head) >= 4:
        if (head[1] & 0xF6) == 0xF0:  # 12-bit sync with layer 00: AAC in ADTS framing
            return "audio/aac" if adts_stream(head) else None
        return "audio/mpeg" if mpeg_audio_stream(head) else None

    if magic in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # pack / sequence header
        return "video/mpeg"

    if transport_stream(head):
        return "video/mp2t"

    if head.startswith(b"MP+"):  # Musepack SV7
        return "audio/x-musepack"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "image/x-fuji-raf"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return _JP2_BRANDS.get(head[20:24], "image/jp2")

    if head[4:8] in QT_ATOMS and plausible_box_size(head):
        return MP4_BY_EXTENSION.get(ext, "video/quicktime")

    if head.startswith(b"BM") and bmp(head):
        return "image/bmp"
    if ico(head):
        return "image/vnd.microsoft.icon"
    return None


def _id3(head: bytes, ext: str) -> str:
    # ID3v2 also prefixes FLAC, AAC and others, so look at what follows the tag.
    if len(head) >= 10 and head[3] < 0xFF and all(b < 0x80 for b in head[6:10]):
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        end = 10 + size + (10 if head[5] & 0x10 else 0)
        inner = _from_content(head[end:], ext) if end < len(head) else None
        if inner is not None and inner.startswith("audio/"):
            return inner
    # The tag (often with cover art) may outrun head: an audio extension is the best hint.
    guess = BY_EXTENSION.get(ext, "")
    return guess if guess.startswith("audio/") else "audio/mpeg"
