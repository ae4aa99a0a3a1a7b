"""File extension -> MIME type: the table ``sniff`` falls back on when no signature matches,
and that refines containers shared by several formats.

A private ``mimetypes.MimeTypes`` (Python's built-in defaults, never the host's
``/etc/mime.types``) plus the media types below, so results do not vary between machines.
"""

from __future__ import annotations

import mimetypes
import os

__all__ = ["BY_EXTENSION", "extension"]

# Extensions the standard library does not know (or maps differently between Python
# versions). These win over the defaults so the catalog stays stable across upgrades.
_EXTRA_TYPES: dict[str, str] = {
    # Camera RAW: all TIFF-like or proprietary, all images.
    ".nef": "image/x-nikon-nef",
    ".nrw": "image/x-nikon-nrw",
    ".cr2": "image/x-canon-cr2",
    ".cr3": "image/x-canon-cr3",
    ".crw": "image/x-canon-crw",
    ".arw": "image/x-sony-arw",
    ".srf": "image/x-sony-srf",
    ".sr2": "image/x-sony-sr2",
    ".dng": "image/x-adobe-dng",
    ".orf": "image/x-olympus-orf",
    ".rw2": "image/x-panasonic-rw2",
    ".raw": "image/x-panasonic-raw",
    ".rwl": "image/x-leica-rwl",
    ".raf": "image/x-fuji-raf",
    ".pef": "image/x-pentax-pef",
    ".srw": "image/x-samsung-srw",
    ".3fr": "image/x-hasselblad-3fr",
    ".erf": "image/x-epson-erf",
    ".kdc": "image/x-kodak-kdc",
    ".dcr": "image/x-kodak-dcr",
    ".mrw": "image/x-minolta-mrw",
    ".x3f": "image/x-sigma-x3f",
    ".iiq": "image/x-phaseone-iiq",
    # Other images.
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".jxl": "image/jxl",
    ".jp2": "image/jp2",
    ".ico": "image/vnd.microsoft.icon",
    ".psd": "image/vnd.adobe.photoshop",
    ".psb": "image/vnd.adobe.photoshop",
    ".tga": "image/x-tga",
    ".dds": "image/vnd.ms-dds",
    ".sgi": "image/x-sgi",
    ".rgb": "image/x-sgi",
    ".j2k": "image/x-jp2-codestream",
    ".j2c": "image/x-jp2-codestream",
    ".jpc": "image/x-jp2-codestream",
    ".jpx": "image/jpx",
    ".jpf": "image/jpx",
    ".pcx": "image/x-pcx",
    ".cur": "image/x-win-cursor",
    ".icns": "image/x-icns",
    ".qoi": "image/qoi",
    ".fits": "image/fits",
    ".fit": "image/fits",
    ".fts": "image/fits",
    ".xcf": "image/x-xcf",
    ".exr": "image/x-exr",
    ".hdr": "image/vnd.radiance",
    ".dpx": "image/x-dpx",
    # Audio.
    ".mp3": "audio/mpeg",
    ".mp2": "audio/mpeg",
    ".aac": "audio/aac",
    ".m4a": "audio/mp4",
    ".m4b": "audio/mp4",
    ".m4p": "audio/mp4",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".aif": "audio/x-aiff",
    ".aiff": "audio/x-aiff",
    ".aifc": "audio/x-aiff",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".spx": "audio/ogg",
    ".opus": "audio/opus",
    ".mka": "audio/x-matroska",
    ".weba": "audio/webm",
    ".wma": "audio/x-ms-wma",
    ".ape": "audio/x-ape",
    ".wv": "audio/x-wavpack",
    ".mpc": "audio/x-musepack",
    ".dsf": "audio/x-dsf",
    ".dff": "audio/x-dff",
    ".tta": "audio/x-tta",
    ".ofr": "audio/x-optimfrog",
    ".amr": "audio/amr",
    ".caf": "audio/x-caf",
    ".ac3": "audio/ac3",
    ".eac3": "audio/eac3",
    ".ec3": "audio/eac3",
    ".tak": "audio/x-tak",
    ".dss": "audio/x-dss",
    ".ds2": "audio/x-dss",
    ".aa": "audio/x-pn-audibleaudio",
    ".ra": "audio/x-pn-realaudio",
    ".w64": "audio/x-w64",
    ".voc": "audio/x-voc",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    # Video.
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".wmv": "video/x-ms-wmv",
    ".asf": "video/x-ms-asf",
    ".flv": "video/x-flv",
    ".ogv": "video/ogg",
    ".m2ts": "video/mp2t",
    ".mts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".vob": "video/mpeg",
    ".ts": "video/mp2t",
    ".dv": "video/x-dv",
    ".dif": "video/x-dv",
    ".wtv": "video/x-ms-wtv",
    ".fli": "video/x-flic",
    ".flc": "video/x-flic",
    ".mxf": "video/mxf",
    ".rm": "video/vnd.rn-realvideo",
    ".rmvb": "video/vnd.rn-realvideo",
}


def _extension_table() -> dict[str, str]:
    # Built-in defaults only (``filenames=()``); strict types override non-strict ones.
    db = mimetypes.MimeTypes()
    table = {**db.types_map[0], **db.types_map[1]}
    table.update(_EXTRA_TYPES)
    return table


BY_EXTENSION = _extension_table()


def extension(name: bytes) -> str:
    """Lower-case extension with its dot ("" if none); leading-dot names have none."""
    ext = os.path.splitext(os.path.basename(name))[1]
    # Undecodable bytes become lone surrogates, which simply match no table entry.
    return ext.decode("utf-8", "surrogateescape").lower() if ext else ""
