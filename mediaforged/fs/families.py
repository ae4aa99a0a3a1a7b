"""Signatures of the image, audio and video families beyond the common containers: what
Pillow or ffmpeg reads (TGA, DDS, SGI, JPEG 2000, PCX, CUR, ICNS, QOI, FITS, XCF, EXR, HDR,
netpbm, DPX, ...), AC-3 and E-AC-3, TAK, DSS, Audible, RealMedia, MXF, DV, WTV, FLI/FLC.

``family(head, ext)`` returns a MIME type or None. Fixed magic numbers come from
``MAGIC`` and ``PREFIXES``; the formats without one (TGA, PCX, FLI, SGI) get a header
check strict enough not to take another file's bytes. Pure, like ``mediatype.sniff``.
"""

from __future__ import annotations

__all__ = ["PREFIXES", "family", "mxf_streams", "realmedia", "tga"]

# Exact bytes at offset 0 (any length) -> MIME type. Longest first where they overlap.
PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"DDS ", "image/vnd.ms-dds"),
    (b"icns", "image/x-icns"),
    (b"qoif", "image/qoi"),
    (b"v/1\x01", "image/x-exr"),
    (b"SIMPLE  =", "image/fits"),
    (b"gimp xcf", "image/x-xcf"),
    (b"#?RADIANCE", "image/vnd.radiance"),
    (b"#?RGBE", "image/vnd.radiance"),
    (b"/* XPM */", "image/x-xpixmap"),
    (b"\xffO\xffQ", "image/x-jp2-codestream"),  # a bare JPEG 2000 codestream (.j2k)
    (b"SDPX", "image/x-dpx"),
    (b"XPDS", "image/x-dpx"),
    (b"\x59\xa6\x6a\x95", "image/x-sun-raster"),
    (b"BLP1", "image/x-blp"),
    (b"BLP2", "image/x-blp"),
    (b"\xb1\x68\xde\x3a", "image/x-dcx"),
    (b"tBaK", "audio/x-tak"),
    (b"\x02dss", "audio/x-dss"),
    (b"\x03ds2", "audio/x-dss"),
    (b".ra\xfd", "audio/x-pn-realaudio"),
    (b"Creative Voice File\x1a", "audio/x-voc"),
    (b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00", "audio/x-w64"),
    (bytes.fromhex("b7d800203749da11a64e0007e95ead8d"), "video/x-ms-wtv"),
)
_MXF_PARTITION = bytes.fromhex("060e2b34020501010d01020101")
# MXF descriptor keys (SMPTE 377M local sets): the byte after this prefix names the kind.
_MXF_DESCRIPTOR = bytes.fromhex("060e2b34025301010d01010101")
_MXF_PICTURE = frozenset({0x27, 0x28, 0x29, 0x51, 0x5A, 0x5B})  # picture, CDCI, RGBA, MPEG...
_MXF_SOUND = frozenset({0x42, 0x47, 0x48})  # generic sound, AES3, wave audio
_NETPBM = frozenset(b"1234567"[i : i + 1] for i in range(7))
_TGA_EXTENSIONS = frozenset({".tga", ".icb", ".vda", ".vst", ".tpic"})


def family(head: bytes, ext: str) -> str | None:
    """The MIME type of one of the families above, or None."""
    for prefix, mime in PREFIXES:
        if head.startswith(prefix):
            return mime
    if head[:2] == b"\x0b\x77" and len(head) >= 6:  # AC-3 sync word; bsid says which
        bsid = head[5] >> 3
        return "audio/ac3" if bsid <= 8 else "audio/eac3" if 11 <= bsid <= 16 else None
    if head[4:8] == b"\x57\x90\x75\x36":  # Audible .aa
        return "audio/x-pn-audibleaudio"
    if head.startswith(b".RMF"):
        return realmedia(head, ext)
    if head.startswith(_MXF_PARTITION):
        return "audio/mxf" if mxf_streams(head) == "audio" else "video/mxf"
    if head[:3] == b"\x1f\x07\x00" and head[3] & 0x7F == 0x3F:  # DV DIF header block
        return "video/x-dv"
    if ext in _TGA_EXTENSIONS and tga(head):
        return "image/x-tga"
    return _headers(head)


def _headers(head: bytes) -> str | None:
    if _flic(head):
        return "video/x-flic"
    if head[:2] == b"\x01\xda" and head[2] in (0, 1) and head[3] in (1, 2):
        return "image/x-sgi"
    if head[:4] == b"\x00\x00\x02\x00" and _icon_dir(head):
        return "image/x-win-cursor"
    if head[:1] == b"P" and head[1:2] in _NETPBM and head[2:3] in (b" ", b"\n", b"\r", b"\t"):
        return "image/x-portable-anymap"
    if _pcx(head):
        return "image/x-pcx"
    return None


def tga(head: bytes) -> bool:
    # No magic: a colour-map type of 0/1 and a known image type, with a sane pixel depth.
    if len(head) < 18 or head[1] not in (0, 1):
        return False
    if head[2] not in (1, 2, 3, 9, 10, 11, 32, 33):
        return False
    width = int.from_bytes(head[12:14], "little")
    height = int.from_bytes(head[14:16], "little")
    return width > 0 and height > 0 and head[16] in (1, 8, 15, 16, 24, 32)


def _pcx(head: bytes) -> bool:
    if len(head) < 128 or head[0] != 0x0A or head[1] not in (0, 2, 3, 4, 5):
        return False
    if head[2] not in (0, 1) or head[3] not in (1, 2, 4, 8) or head[64] != 0:
        return False
    xmin, ymin, xmax, ymax = (int.from_bytes(head[i : i + 2], "little") for i in (4, 6, 8, 10))
    return xmin <= xmax and ymin <= ymax


def _flic(head: bytes) -> bool:
    # FLI (0xAF11) / FLC (0xAF12, 0xAF44, 0xAF30) with a plausible size and frame count.
    if len(head) < 16 or int.from_bytes(head[4:6], "little") not in (0xAF11, 0xAF12, 0xAF44):
        return False
    frames = int.from_bytes(head[6:8], "little")
    width, height = int.from_bytes(head[8:10], "little"), int.from_bytes(head[10:12], "little")
    return frames > 0 and 0 < width <= 8192 and 0 < height <= 8192


def _icon_dir(head: bytes) -> bool:
    count = int.from_bytes(head[4:6], "little")
    return len(head) >= 22 and 0 < count <= 256 and head[9] == 0


def realmedia(head: bytes, ext: str) -> str:
    # The MDPR (stream properties) headers near the start name each stream's MIME type.
    if b"video/x-pn-" in head or b"VIDO" in head:
        return "video/vnd.rn-realvideo"
    if b"audio/x-pn-" in head or b".ra\xfd" in head:
        return "audio/x-pn-realaudio"
    return "audio/x-pn-realaudio" if ext == ".ra" else "video/vnd.rn-realvideo"


def mxf_streams(head: bytes) -> str | None:
    """ "video" or "audio" by the essence descriptors of the header metadata, None if
    none are in ``head``."""
    sound = False
    pos = head.find(_MXF_DESCRIPTOR)
    while pos >= 0 and pos + 15 <= len(head):
        kind = head[pos + 13 + 1]
        if head[pos + 13] == 0x01 and kind in _MXF_PICTURE:
            return "video"
        sound = sound or (head[pos + 13] == 0x01 and kind in _MXF_SOUND)
        pos = head.find(_MXF_DESCRIPTOR, pos + 1)
    return "audio" if sound else None
