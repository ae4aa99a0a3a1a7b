"""Images through Pillow: size, orientation, camera and GPS EXIF, frames. No pixel decoding.

Pillow opens only the formats we catalog (``FORMATS``; never EPS, which runs Ghostscript),
and its decompression-bomb guard is an error, not a warning (``guard_bombs``). Camera RAW
files are TIFF structures with other magic numbers: their EXIF is read from the TIFF IFDs
directly, whatever the magic.
"""

from __future__ import annotations

import os
import struct
import warnings
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
# JPEG covers MPO (multi-picture JPEGs from cameras): Pillow's JPEG opener returns those.
FORMATS = [
    f
    for f in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "ICO", "AVIF", *_HEIF)
    if f in Image.OPEN
]
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
_WIDTH, _HEIGHT = 0x0100, 0x0101


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
        return _extract_picture(stream)


def _extract_picture(stream: IO[bytes]) -> dict[str, Any]:
    with open_image(stream) as img:
        try:
            exif = img.getexif()
            values = _fields(exif, _ifd(exif, _EXIF_IFD), _ifd(exif, _GPS_IFD))
            frames = _frames(img)
        except (SyntaxError, ValueError, struct.error, EOFError, OSError) as exc:
            raise ExtractError("corrupt", f"{type(exc).__name__}: {exc}") from exc
        width, height = img.size
        values.update(width=width, height=height, frame_count=frames)
        values["extra"] = {**values.get("extra", {}), "format": img.format, "mode": img.mode}
        if frames > 1:
            values["extra"]["animated"] = True
    return _displayed(values)


def _frames(img: Image.Image) -> int:
    # n_frames walks the file for GIF/WebP: bounded by the extractor's timeout.
    return int(getattr(img, "n_frames", 1) or 1)


def _displayed(values: dict[str, Any]) -> dict[str, Any]:
    """Width and height as shown: orientations 5-8 turn the picture a quarter."""
    width, height = values.get("width"), values.get("height")
    swap = (values.get("orientation") or 1) in (5, 6, 7, 8)
    values["display_width"], values["display_height"] = (height, width) if swap else (width, height)
    return values


def _fields(exif: Any, sub: dict[int, Any], gps: dict[int, Any]) -> dict[str, Any]:
    """The typed fields from IFD0 (``exif``), the Exif sub-IFD and the GPS sub-IFD."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if not exif:
        return values
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
    if taken is None:  # no DateTimeOriginal: IFD0's DateTime (last change) is the best left
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
    ifd0 = _load_ifd(f, prefix, struct.unpack(endian + "I", header[4:8])[0])
    if not ifd0:
        raise ExtractError("corrupt", "RAW: the first IFD is empty or out of the file")
    sub = _load_ifd(f, prefix, ifd0.get(_EXIF_IFD)) if _EXIF_IFD in ifd0 else {}
    gps = _load_ifd(f, prefix, ifd0.get(_GPS_IFD)) if _GPS_IFD in ifd0 else {}
    values = _fields(ifd0, sub, gps)
    values.update(width=to_int(ifd0.get(_WIDTH)), height=to_int(ifd0.get(_HEIGHT)), frame_count=1)
    values["extra"] = {**values.get("extra", {}), "format": "RAW"}
    return _displayed(values)


def _load_ifd(f: IO[bytes], prefix: bytes, offset: Any) -> dict[int, Any]:
    size = os.fstat(f.fileno()).st_size
    if not isinstance(offset, int) or not 8 <= offset < size:
        raise ExtractError("corrupt", f"RAW: IFD offset {offset!r} is outside the file")
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=prefix)
    ifd._tag_data_limit = 1 << 24  # no tag may make it read more than 16 MiB
    try:
        f.seek(offset)
        ifd.load(f)
        return dict(ifd)
    except (struct.error, ValueError, OSError, SyntaxError, EOFError) as exc:
        raise ExtractError("corrupt", f"RAW IFD: {type(exc).__name__}: {exc}") from exc
