"""Content sniffing: a MIME type and a coarse media type from a file's first bytes.

The content decides; the file name only refines containers whose magic bytes are shared
by several formats (a camera RAW is a TIFF, a WMA and a WMV are both ASF, an MP4 brand
may be generic). When no signature matches, the extension is looked up instead.

``sniff`` is a pure function called for every file the daemon hashes, so it does no I/O
and builds nothing per call: every table is a module constant. The extension table is a
private ``mimetypes.MimeTypes`` (Python's built-in defaults, never the host's
``/etc/mime.types``) plus the media types below, so results do not vary between machines.
"""

from __future__ import annotations

import mimetypes
import os
from typing import Literal

__all__ = ["SNIFF_BYTES", "sniff"]

SNIFF_BYTES: int = 4096  # enough for an ID3 tag with padding, an ASF header, an Ogg page

EMPTY_MIME = "inode/x-empty"
UNKNOWN_MIME = "application/octet-stream"
_MEDIA_MAJORS = frozenset({"image", "audio", "video"})

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
}


def _extension_table() -> dict[str, str]:
    # Built-in defaults only (``filenames=()``); strict types override non-strict ones.
    db = mimetypes.MimeTypes()
    table = {**db.types_map[0], **db.types_map[1]}
    table.update(_EXTRA_TYPES)
    return table


_BY_EXTENSION = _extension_table()

# Camera RAW formats that are TIFF containers with nothing distinctive in the header.
_TIFF_RAW = frozenset(
    {".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".pef", ".srw", ".3fr", ".erf"}
    | {".kdc", ".dcr", ".rwl", ".iiq", ".orf", ".rw2", ".raw", ".cr2"}
)

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
    b"FLV\x01": "video/x-flv",
    b"\x89PNG": "image/png",
    b"8BPS": "image/vnd.adobe.photoshop",
    b"IIRO": "image/x-olympus-orf",
    b"IIRS": "image/x-olympus-orf",
    b"MMOR": "image/x-olympus-orf",
    b"IIU\x00": "image/x-panasonic-rw2",
    b"%PDF": "application/pdf",
}

# ISO base media (MP4) major brands; anything unlisted is generic and the name refines it.
_FTYP_BRANDS: dict[bytes, str] = {
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"M4P ": "audio/mp4",
    b"F4A ": "audio/mp4",
    b"M4V ": "video/x-m4v",
    b"M4VH": "video/x-m4v",
    b"M4VP": "video/x-m4v",
    b"qt  ": "video/quicktime",
    b"crx ": "image/x-canon-cr3",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic-sequence",
    b"hevx": "image/heic-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
}
_HEIF_STRUCTURAL = frozenset({b"mif1", b"msf1", b"miaf"})  # says "HEIF", not which codec
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_AV1_BRANDS = frozenset({b"avif", b"avis"})
# Generic brands are also used for audio-only files; only then does the extension decide.
_MP4_BY_EXTENSION: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".m4b": "audio/mp4",
    ".m4p": "audio/mp4",
    ".aac": "audio/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
}
# First atoms of a QuickTime file written without an ftyp box (older cameras and Macs).
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
# Stream type GUIDs inside the ASF header's Stream Properties objects.
_ASF_VIDEO_MEDIA = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")
_ASF_AUDIO_MEDIA = bytes.fromhex("409e69f84d5bcf11a8fd00805f5c442b")

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE_ID = 0x4282

# MPEG audio (layer I/II/III) tables, indexed by (version, layer); version 1 = MPEG-1,
# 2 = MPEG-2 and MPEG-2.5. Bitrates are kbit/s; index 0 (free format) and 15 are rejected.
_MPA_BITRATES: dict[tuple[int, int], tuple[int, ...]] = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by the header's 2-bit version field: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5.
_MPA_RATES: dict[int, tuple[int, int, int]] = {
    3: (44100, 48000, 32000),
    2: (22050, 24000, 16000),
    0: (11025, 12000, 8000),
}


def sniff(head: bytes, name: bytes) -> tuple[str, str]:
    """Return (mime_type, media_type) where media_type is one of "image", "audio", "video", "other".

    ``head`` is the file's first bytes (up to SNIFF_BYTES, possibly fewer); ``name`` is
    the raw file name, which need not be UTF-8.
    """
    if not head:
        return EMPTY_MIME, "other"
    ext = _extension(name)
    mime = _from_content(head, ext) or _BY_EXTENSION.get(ext, UNKNOWN_MIME)
    return mime, _media_type(mime)


def _media_type(mime: str) -> str:
    major = mime.partition("/")[0]
    return major if major in _MEDIA_MAJORS else "other"


def _extension(name: bytes) -> str:
    """Lower-case extension with its dot ("" if none); leading-dot names have none."""
    ext = os.path.splitext(os.path.basename(name))[1]
    # Undecodable bytes become lone surrogates, which simply match no table entry.
    return ext.decode("utf-8", "surrogateescape").lower() if ext else ""


def _from_content(head: bytes, ext: str) -> str | None:
    """The MIME type the signature in ``head`` implies, or None if nothing matched."""
    magic = head[:4]
    known = _MAGIC4.get(magic)
    if known is not None:
        return known

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
        return _tiff(head, ext)

    if head[4:8] == b"ftyp":
        return _iso_bmff(head, ext)

    if magic == _EBML_MAGIC:
        return _matroska(head, ext)

    if magic == b"OggS":
        return _ogg(head, ext)

    if magic == b"FORM":
        return "audio/x-aiff" if head[8:12] in (b"AIFF", b"AIFC") else None
    if magic == b"FRM8":
        return "audio/x-dff" if head[12:16] == b"DSD " else None

    if head.startswith(_ASF_GUID):
        return _asf(head, ext)

    if head.startswith(b"ID3"):
        return _id3(head, ext)

    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):  # before MPEG sync
        return "image/jxl"
    if head[:1] == b"\xff" and len(head) >= 4:
        if (head[1] & 0xF6) == 0xF0:  # 12-bit sync with layer 00: AAC in ADTS framing
            return "audio/aac" if _adts_stream(head) else None
        return "audio/mpeg" if _mpeg_audio_stream(head) else None

    if magic in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # pack / sequence header
        return "video/mpeg"

    if _transport_stream(head):
        return "video/mp2t"

    if head.startswith(b"MP+"):  # Musepack SV7
        return "audio/x-musepack"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "image/x-fuji-raf"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return "image/jp2"

    if head[4:8] in _QT_ATOMS and _plausible_box_size(head):
        return _MP4_BY_EXTENSION.get(ext, "video/quicktime")

    if head.startswith(b"BM") and _bmp(head):
        return "image/bmp"
    if _ico(head):
        return "image/vnd.microsoft.icon"
    return None


def _tiff(head: bytes, ext: str) -> str:
    if head[8:10] == b"CR":  # Canon CR2 marks itself right after the TIFF header
        return "image/x-canon-cr2"
    if ext in _TIFF_RAW:
        return _BY_EXTENSION[ext]
    if _tiff_ifd0_has_tag(head, 0xC612):  # DNGVersion: a DNG under any name
        return "image/x-adobe-dng"
    return "image/tiff"


def _tiff_ifd0_has_tag(head: bytes, wanted: int) -> bool:
    if head[2:4] not in (b"*\x00", b"\x00*"):  # BigTIFF uses another layout; skip it
        return False
    order: Literal["little", "big"] = "little" if head[:2] == b"II" else "big"
    offset = int.from_bytes(head[4:8], order)
    if offset < 8 or offset + 2 > len(head):
        return False
    count = int.from_bytes(head[offset : offset + 2], order)
    entries = offset + 2
    for index in range(min(count, (len(head) - entries) // 12)):
        pos = entries + 12 * index
        if int.from_bytes(head[pos : pos + 2], order) == wanted:
            return True
    return False


def _iso_bmff(head: bytes, ext: str) -> str:
    major = head[8:12]
    size = int.from_bytes(head[:4], "big")
    end = min(size, len(head)) if size >= 16 else 16  # compatible brands start at 16
    compatible = {head[pos : pos + 4] for pos in range(16, end - 3, 4)}
    if major in _HEIF_STRUCTURAL:
        # A HEIF wrapper: the compatible brands name the image codec.
        if compatible & _AV1_BRANDS:
            return "image/avif"
        if compatible & _HEVC_BRANDS:
            return "image/heic"
        return "image/heif"
    known = _FTYP_BRANDS.get(major)
    if known is not None:
        return known
    if major[:3] in (b"3gp", b"3ge", b"3gg", b"3gr", b"3gs"):
        return "video/3gpp"
    if major[:3] == b"3g2":
        return "video/3gpp2"
    return _MP4_BY_EXTENSION.get(ext, "video/mp4")


def _plausible_box_size(head: bytes) -> bool:
    size = int.from_bytes(head[:4], "big")
    return size in (0, 1) or size >= 8


def _matroska(head: bytes, ext: str) -> str:
    doctype = _ebml_doctype(head)
    if doctype == b"webm":
        return "audio/webm" if ext == ".weba" else "video/webm"
    # Audio-only Matroska looks like any other; its extension is the only cheap hint.
    return "audio/x-matroska" if ext == ".mka" else "video/x-matroska"


def _ebml_doctype(head: bytes) -> bytes | None:
    """DocType from the EBML header (the first top-level element), if it fits in head."""
    header = _ebml_vint(head, 4)
    if header is None:
        return None
    header_size, width = header
    pos = 4 + width
    end = min(len(head), pos + header_size)
    while pos < end:
        first = head[pos]
        id_width = 9 - first.bit_length() if first else 9
        if id_width > 4:
            return None
        element_id = int.from_bytes(head[pos : pos + id_width], "big")
        sized = _ebml_vint(head, pos + id_width)
        if sized is None:
            return None
        size, size_width = sized
        pos += id_width + size_width
        if element_id == _EBML_DOCTYPE_ID:
            return head[pos : pos + size].rstrip(b"\x00")
        pos += size
    return None


def _ebml_vint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(value, width) of the EBML variable-length integer at pos, marker bit removed."""
    if pos >= len(buf) or buf[pos] == 0:
        return None
    first = buf[pos]
    width = 9 - first.bit_length()
    if pos + width > len(buf):
        return None
    value = first & ((1 << (8 - width)) - 1)
    for byte in buf[pos + 1 : pos + width]:
        value = (value << 8) | byte
    return value, width


def _ogg(head: bytes, ext: str) -> str:
    # Each logical stream opens with a beginning-of-stream page holding the codec's
    # identification packet; those pages come first, before any data page. A video
    # codec in any of them makes the file a video (Skeleton or Vorbis may come first).
    audio: str | None = None
    pos = 0
    while pos + 27 <= len(head) and head[pos : pos + 4] == b"OggS":
        if not head[pos + 5] & 0x02:  # not a beginning-of-stream page: headers are over
            break
        segments = head[pos + 26]
        body = pos + 27 + segments
        packet = head[body : body + 8]
        if packet.startswith((b"\x80theora", b"\x01video", b"\x80kate", b"\x80daala")):
            return "video/ogg"
        if packet.startswith(b"OpusHead"):
            audio = audio or "audio/opus"
        elif packet.startswith((b"\x01vorbis", b"Speex   ", b"\x7fFLAC")):
            audio = audio or "audio/ogg"
        pos = body + sum(head[pos + 27 : body])
    if audio is not None:
        return audio
    if ext in (".ogg", ".oga", ".opus", ".spx", ".ogv"):
        return _BY_EXTENSION[ext]
    return "application/ogg"


def _asf(head: bytes, ext: str) -> str:
    if _ASF_VIDEO_MEDIA in head:
        return "video/x-ms-wmv"
    if ext == ".wma":
        return "audio/x-ms-wma"
    # Audio-only is certain only when the whole header object (all streams) is in head.
    header_size = int.from_bytes(head[16:24], "little")
    if _ASF_AUDIO_MEDIA in head and 30 <= header_size <= len(head):
        return "audio/x-ms-wma"
    return "video/x-ms-asf" if ext == ".asf" else "video/x-ms-wmv"


def _id3(head: bytes, ext: str) -> str:
    # ID3v2 also prefixes FLAC, AAC and others, so look at what follows the tag.
    if len(head) >= 10 and head[3] < 0xFF and all(b < 0x80 for b in head[6:10]):
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        end = 10 + size + (10 if head[5] & 0x10 else 0)
        inner = _from_content(head[end:], ext) if end < len(head) else None
        if inner is not None and inner.startswith("audio/"):
            return inner
    # The tag (often with cover art) may outrun head: an audio extension is the best hint.
    guess = _BY_EXTENSION.get(ext, "")
    return guess if guess.startswith("audio/") else "audio/mpeg"


def _adts_frame(head: bytes, pos: int) -> int:
    """Length of the ADTS frame at pos, or 0 if there is no valid header there."""
    if pos + 7 > len(head) or head[pos] != 0xFF or (head[pos + 1] & 0xF6) != 0xF0:
        return 0
    if (head[pos + 2] >> 2) & 0x0F > 12:  # sampling frequency index
        return 0
    length = ((head[pos + 3] & 0x03) << 11) | (head[pos + 4] << 3) | (head[pos + 5] >> 5)
    return length if length >= 7 else 0


def _adts_stream(head: bytes) -> bool:
    length = _adts_frame(head, 0)
    # A lone sync word is weak evidence; require the next frame when it is in head.
    return length > 0 and (length + 7 > len(head) or _adts_frame(head, length) > 0)


def _mpeg_audio_frame(head: bytes, pos: int) -> int:
    """Length of the MPEG audio frame at pos, or 0 if there is no valid header there."""
    if pos + 4 > len(head) or head[pos] != 0xFF or (head[pos + 1] & 0xE0) != 0xE0:
        return 0
    version_bits = (head[pos + 1] >> 3) & 0x03
    layer = 4 - ((head[pos + 1] >> 1) & 0x03)  # 1, 2 or 3; 4 means reserved
    bitrate_index = head[pos + 2] >> 4
    rate_index = (head[pos + 2] >> 2) & 0x03
    if version_bits == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return 0
    version = 1 if version_bits == 3 else 2
    bitrate = _MPA_BITRATES[version, layer][bitrate_index] * 1000
    rate = _MPA_RATES[version_bits][rate_index]
    padding = (head[pos + 2] >> 1) & 0x01
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and version == 2:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def _mpeg_audio_stream(head: bytes) -> bool:
    if head.startswith(b"\xff\xfe"):  # a UTF-16 byte-order mark, not a layer I frame
        return False
    length = _mpeg_audio_frame(head, 0)
    return length > 0 and (length + 4 > len(head) or _mpeg_audio_frame(head, length) > 0)


def _transport_stream(head: bytes) -> bool:
    # 188-byte packets (broadcast .ts) or 192-byte ones with a timestamp prefix (.m2ts).
    for start, step in ((0, 188), (4, 192)):
        if len(head) <= start + step:
            continue
        checks = 3 if len(head) > start + 2 * step else 2
        if all(head[start + step * n] == 0x47 for n in range(checks)):
            return True
    return False


def _bmp(head: bytes) -> bool:
    # "BM" alone is too common; require zero reserved fields and a known DIB header size.
    if len(head) < 18 or head[6:10] != b"\x00\x00\x00\x00":
        return False
    return int.from_bytes(head[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124)


def _ico(head: bytes) -> bool:
    # ICONDIR (reserved 0, type 1 = icon) followed by a first entry with a zero reserved byte.
    if len(head) < 22 or head[:4] != b"\x00\x00\x01\x00":
        return False
    count = int.from_bytes(head[4:6], "little")
    return 0 < count <= 256 and head[9] == 0 and head[10:12] in (b"\x00\x00", b"\x01\x00")
