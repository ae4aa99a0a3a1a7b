"""Images through Pillow: size, orientation, camera and GPS EXIF, frames. No pixel decoding.

Pillow opens every format it has a plugin for (``FORMATS``) but those that run another
program or need a handler we do not register (EPS runs Ghostscript); its decompression-bomb
guard is an error, not a warning (``guard_bombs``). Camera RAW files are TIFF structures
with other magic numbers: their EXIF is read from the TIFF IFDs directly, whatever the
magic, and their size is the full sensor image's, not the preview's (``raw``). What Pillow
cannot open, ffmpeg may (``read.py`` asks ffprobe); a GIMP XCF's size is in its header.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import warnings
from datetime import datetime
from typing import IO, Any

from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from mediaforged.extract.common import (
    ExtractError,
    clean_text,
    exif_datetime,
    open_media,
    to_float,
    to_int,
)

__all__ = ["FORMATS", "RAW_EXTENSIONS", "extract_image", "guard_bombs", "open_image"]

try:  # HEIC/HEIF (iPhone photos): Pillow has no decoder of its own.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _HEIF = ["HEIF"]
except ImportError:  # pragma: no cover - a declared dependency; tolerated when absent
    _HEIF = []

Image.init()
# EPS and PDF run Ghostscript; WMF needs Windows; the scientific stubs (BUFR, GRIB, HDF5)
# need a handler we never register; MPEG and IPTC only name a file, they read no image.
_REFUSED = frozenset({"EPS", "PDF", "WMF", "BUFR", "GRIB", "HDF5", "MPEG", "IPTC"})
# JPEG covers MPO (multi-picture JPEGs from cameras): Pillow's JPEG opener returns those.
FORMATS = sorted(f for f in Image.OPEN if f not in _REFUSED)
RAW_EXTENSIONS = frozenset(
    b".dng .cr2 .nef .nrw .arw .srf .sr2 .orf .rw2 .raw .rwl .pef .srw .3fr .erf .kdc .dcr .mrw "
    b".iiq".split()
)

# EXIF tag numbers (IFD0, the Exif sub-IFD, the GPS sub-IFD).
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_EXPOSURE, _FNUMBER, _ISO, _FOCAL = 0x829A, 0x829D, 0x8827, 0x920A
_ORIGINAL, _OFFSET_ORIGINAL, _SUBSEC_ORIGINAL = 0x9003, 0x9011, 0x9291
_LENS_MAKE, _LENS_MODEL = 0xA433, 0xA434
_WIDTH, _HEIGHT, _SUBFILE_TYPE, _SUB_IFDS, _XMP = 0x0100, 0x0101, 0x00FE, 0x014A, 0x02BC
_MAX_IFDS = 16  # IFDs looked at in a RAW file: its chain and sub-IFDs
# The XMP packet's DateTimeOriginal, as an attribute or an element.
_XMP_ORIGINAL = re.compile(
    rb"exif:DateTimeOriginal(?:=[\"']|>)\s*(\d{4}-\d\d-\d\d(?:T[\d:.]+)?(?:Z|[+-]\d\d:\d\d)?)"
)


def guard_bombs(max_pixels: int) -> None:
    """Refuse images above ``max_pixels`` (Pillow only warns between 1x and 2x: make that an
    error). Process-wide, set once before any thread opens an image."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def open_image(stream: IO[bytes]) -> Image.Image:
    """Open (headers only) with the bomb guard and the format allow-list; typed errors.
    ``stream`` (from ``open_media``) must stay open while the image is used."""
    try:
        return Image.open(stream, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ExtractError("decompression_bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ExtractError("not_an_image", "not an image in a format we read") from exc
    except OSError as exc:
        raise ExtractError("unreadable", f"{type(exc).__name__}: {exc}") from exc
    except (SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ExtractError("corrupt", f"{type(exc).__name__}: {exc}") from exc


def extract_image(path: bytes, *, root: bytes) -> dict[str, Any]:
    """An image's columns; the file is reached from ``root`` without following a link."""
    with open_media(root, path) as stream:
        if path.lower().endswith(tuple(RAW_EXTENSIONS)):
            return _extract_raw(stream)
        head = stream.read(32)
        stream.seek(0)
        if head.startswith(b"gimp xcf"):
            return _xcf(head)
        return _extract_picture(stream)


def _xcf(head: bytes) -> dict[str, Any]:
    """GIMP's XCF: "gimp xcf <version>\\0", then width and height (big-endian)."""
    end = head.find(b"\x00")
    if end < 0 or end + 9 > len(head):
        raise ExtractError("corrupt", "XCF: the header is cut short")
    width, height = struct.unpack(">II", head[end + 1 : end + 9])
    values: dict[str, Any] = {"width": width, "height": height, "frame_count": 1}
    values["extra"] = {"format": "XCF"}
    return _displayed(values)


def _extract_picture(stream: IO[bytes]) -> dict[str, Any]:
    with open_image(stream) as img:
        try:
            exif = img.getexif()
            values = _fields(exif, _ifd(exif, _EXIF_IFD), _ifd(exif, _GPS_IFD), _xmp_of(img))
            frames = _frames(img)
        except (SyntaxError, ValueError, struct.error, EOFError, OSError) as exc:
            raise ExtractError("corrupt", f"{type(exc).__name__}: {exc}") from exc
        width, height = _stored_size(img)
        values.update(width=width, height=height, frame_count=frames)
        values["extra"] = {**values.get("extra", {}), "format": img.format, "mode": img.mode}
        if frames > 1:
            values["extra"]["animated"] = True
    return _displayed(values)


def _stored_size(img: Image.Image) -> tuple[int, int]:
    """Width and height as stored. Pillow's TIFF reader already turns ``size`` by the
    orientation tag; ``_displayed`` turns it once, from the stored size, for every format."""
    if isinstance(img, TiffImagePlugin.TiffImageFile):
        width, height = to_int(img.tag_v2.get(_WIDTH)), to_int(img.tag_v2.get(_HEIGHT))
        if width and height:
            return width, height
    return img.size


def _frames(img: Image.Image) -> int:
    # n_frames walks the file for GIF/WebP: bounded by the extractor's timeout.
    return int(getattr(img, "n_frames", 1) or 1)


def _displayed(values: dict[str, Any]) -> dict[str, Any]:
    """Width and height as shown: orientations 5-8 turn the picture a quarter."""
    width, height = values.get("width"), values.get("height")
    swap = (values.get("orientation") or 1) in (5, 6, 7, 8)
    values["display_width"], values["display_height"] = (height, width) if swap else (width, height)
    return values


def _xmp_of(img: Image.Image) -> bytes:
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
    if not xmp and isinstance(img, TiffImagePlugin.TiffImageFile):
        xmp = img.tag_v2.get(_XMP) or b""
    return xmp.encode("utf-8", "replace") if isinstance(xmp, str) else bytes(xmp)


def _xmp_taken(xmp: Any) -> tuple[datetime | None, str | None]:
    """XMP's exif:DateTimeOriginal ("2021-05-06T10:11:12+02:00") and its offset."""
    raw = xmp.encode("utf-8", "replace") if isinstance(xmp, str) else xmp
    match = _XMP_ORIGINAL.search(raw) if isinstance(raw, bytes) else None
    if match is None:
        return None, None
    try:
        when = datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00"))
    except ValueError:
        return None, None
    offset = when.strftime("%z") if when.tzinfo is not None else ""
    return when, f"{offset[:3]}:{offset[3:]}" if offset else None


def _fields(
    exif: Any, sub: dict[int, Any], gps: dict[int, Any], xmp: bytes = b""
) -> dict[str, Any]:
    """The typed fields from IFD0 (``exif``), the Exif sub-IFD, the GPS sub-IFD and XMP."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if not exif and not xmp:
        return values
    exif = exif or {}
    values["camera_make"] = clean_text(exif.get(_MAKE))
    values["camera_model"] = clean_text(exif.get(_MODEL))
    orientation = to_int(exif.get(_ORIENTATION))
    values["orientation"] = orientation if orientation in range(1, 9) else None
    values["lens"] = clean_text(sub.get(_LENS_MODEL))
    if sub.get(_LENS_MAKE):
        extra["lens_make"] = clean_text(sub.get(_LENS_MAKE))
    values["exposure_time"] = to_float(sub.get(_EXPOSURE))
    values["f_number"] = to_float(sub.get(_FNUMBER))
    iso = sub.get(_ISO)
    values["iso"] = to_int(iso[0] if isinstance(iso, tuple) and iso else iso)
    values["focal_length"] = to_float(sub.get(_FOCAL))
    taken, offset = exif_datetime(
        sub.get(_ORIGINAL), sub.get(_OFFSET_ORIGINAL), sub.get(_SUBSEC_ORIGINAL)
    )
    if taken is None:  # XMP's DateTimeOriginal (a photo edited in Lightroom keeps only that)
        taken, offset = _xmp_taken(xmp or (exif.get(_XMP) if exif else None))
    if taken is None and exif:  # IFD0's DateTime (last change) is the best left
        taken, offset = exif_datetime(exif.get(_DATETIME))
    if taken is not None:
        values["taken_at"], values["taken_offset"] = taken, offset
        extra["taken_at"] = taken.isoformat()
    values.update(_gps(gps))
    values["extra"] = extra
    return values


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except (KeyError, ValueError, TypeError, struct.error, OSError):
        return {}  # a broken sub-IFD costs its fields, not the rest


def _gps(gps: dict[int, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        out["gps_latitude"], out["gps_longitude"] = lat, lon
    altitude = to_float(gps.get(6))
    if altitude is not None:
        ref = gps.get(5)
        below = ref in (1, b"\x01") or (isinstance(ref, bytes) and ref[:1] == b"\x01")
        out["gps_altitude"] = -altitude if below else altitude
    return out


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    if not isinstance(dms, tuple | list) or len(dms) != 3:
        return None
    parts = [to_float(p) for p in dms]
    if any(p is None for p in parts):
        return None
    d, m, s = (p or 0.0 for p in parts)
    value = d + m / 60 + s / 3600
    return -value if clean_text(ref) == negative else value


def _extract_raw(f: IO[bytes]) -> dict[str, Any]:
    """A RAW file's TIFF IFDs (any magic: CR2 "II*", ORF "IIRO", RW2 "IIU"), no decoding."""
    header = f.read(8)
    if len(header) < 8 or header[:2] not in (b"II", b"MM"):
        raise ExtractError("not_an_image", "not a TIFF-based RAW file")
    endian = "<" if header[:2] == b"II" else ">"
    prefix = header[:2]  # the byte order; the magic number is what RAW formats change
    ifd0, following = _load_ifd(f, prefix, struct.unpack(endian + "I", header[4:8])[0])
    if not ifd0:
        raise ExtractError("corrupt", "RAW: the first IFD is empty or out of the file")
    sub = _load_ifd(f, prefix, ifd0.get(_EXIF_IFD))[0] if _EXIF_IFD in ifd0 else {}
    gps = _load_ifd(f, prefix, ifd0.get(_GPS_IFD))[0] if _GPS_IFD in ifd0 else {}
    values = _fields(ifd0, sub, gps, _bytes(ifd0.get(_XMP)))
    width, height = _sensor_size(f, prefix, ifd0, following)
    values.update(width=width, height=height, frame_count=1)
    values["extra"] = {**values.get("extra", {}), "format": "RAW"}
    return _displayed(values)


def _bytes(value: Any) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray | tuple) else b""


def _sensor_size(
    f: IO[bytes], prefix: bytes, ifd0: dict[int, Any], following: int
) -> tuple[int | None, int | None]:
    """The full-resolution image's size: IFD0 is often a preview (NEF, DNG keep the sensor
    image in a sub-IFD, marked NewSubfileType 0); the largest full-size IFD wins."""
    ifds = [ifd0]
    offset = following
    while offset and len(ifds) < _MAX_IFDS:  # the IFD chain (CR2: IFD0..IFD3)
        try:
            ifd, offset = _load_ifd(f, prefix, offset)
        except ExtractError:
            break
        ifds.append(ifd)
    for ifd in list(ifds):
        children = ifd.get(_SUB_IFDS)
        for child in children if isinstance(children, tuple) else (children,):
            if isinstance(child, int) and len(ifds) < _MAX_IFDS:
                with contextlib.suppress(ExtractError):
                    ifds.append(_load_ifd(f, prefix, child)[0])
    sized = [i for i in ifds if to_int(i.get(_WIDTH)) and to_int(i.get(_HEIGHT))]
    full = [i for i in sized if not (to_int(i.get(_SUBFILE_TYPE)) or 0) & 1] or sized
    if not full:
        return None, None
    best = max(full, key=lambda i: (to_int(i.get(_WIDTH)) or 0) * (to_int(i.get(_HEIGHT)) or 0))
    return to_int(best.get(_WIDTH)), to_int(best.get(_HEIGHT))


def _load_ifd(f: IO[bytes], prefix: bytes, offset: Any) -> tuple[dict[int, Any], int]:
    """One IFD's tags and the offset of the next IFD in the chain (0: none)."""
    size = os.fstat(f.fileno()).st_size
    if not isinstance(offset, int) or not 8 <= offset < size:
        raise ExtractError("corrupt", f"RAW: IFD offset {offset!r} is outside the file")
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=prefix)
    ifd._tag_data_limit = 1 << 24  # no tag may make it read more than 16 MiB
    try:
        f.seek(offset)
        ifd.load(f)
        following = int(ifd.next or 0)
        return dict(ifd), following if 8 <= following < size else 0
    except (struct.error, ValueError, OSError, SyntaxError, EOFError) as exc:
        raise ExtractError("corrupt", f"RAW IFD: {type(exc).__name__}: {exc}") from exc
