"""Byte signatures of the container and stream formats, and the sniffers that look inside
them: TIFF (camera RAW, DNG), ISO base media (MP4, MOV, HEIF, AVIF, CR3), Matroska and WebM,
Ogg, ASF (WMA, WMV), and the frame checks of raw MPEG audio, ADTS AAC and MPEG transport streams.

Each container's sniffer takes the file's first bytes and its lower-case extension (the name
refines a container that several formats share) and returns a MIME type; the frame and
header checks (``adts_stream``, ``bmp``, ...) only say whether the bytes are what they look
like. ``mediatype.sniff`` decides which to call. Pure functions over module constants, as
``sniff`` is: no I/O, nothing built per call.
"""

from __future__ import annotations

from typing import Literal

from mediaforged.fs.extensions import BY_EXTENSION

__all__ = [
    "ASF_GUID",
    "EBML_MAGIC",
    "MP4_BY_EXTENSION",
    "QT_ATOMS",
    "adts_stream",
    "asf",
    "bmp",
    "ico",
    "iso_bmff",
    "matroska",
    "mpeg_audio_stream",
    "ogg",
    "plausible_box_size",
    "tiff",
    "transport_stream",
]

# Camera RAW formats that are TIFF containers with nothing distinctive in the header.
_TIFF_RAW = frozenset(
    {".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".pef", ".srw", ".3fr", ".erf"}
    | {".kdc", ".dcr", ".rwl", ".iiq", ".orf", ".rw2", ".raw", ".cr2"}
)

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
MP4_BY_EXTENSION: dict[str, str] = {
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
QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
# Stream type GUIDs inside the ASF header's Stream Properties objects.
_ASF_VIDEO_MEDIA = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")
_ASF_AUDIO_MEDIA = bytes.fromhex("409e69f84d5bcf11a8fd00805f5c442b")

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
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


def tiff(head: bytes, ext: str) -> str:
    if head[8:10] == b"CR":  # Canon CR2 marks itself right after the TIFF header
        return "image/x-canon-cr2"
    if ext in _TIFF_RAW:
        return BY_EXTENSION[ext]
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


def iso_bmff(head: bytes, ext: str) -> str:
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
    return MP4_BY_EXTENSION.get(ext, "video/mp4")


def plausible_box_size(head: bytes) -> bool:
    size = int.from_bytes(head[:4], "big")
    return size in (0, 1) or size >= 8


def matroska(head: bytes, ext: str) -> str:
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


def ogg(head: bytes, ext: str) -> str:
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
        return BY_EXTENSION[ext]
    return "application/ogg"


def asf(head: bytes, ext: str) -> str:
    if _ASF_VIDEO_MEDIA in head:
        return "video/x-ms-wmv"
    if ext == ".wma":
        return "audio/x-ms-wma"
    # Audio-only is certain only when the whole header object (all streams) is in head.
    header_size = int.from_bytes(head[16:24], "little")
    if _ASF_AUDIO_MEDIA in head and 30 <= header_size <= len(head):
        return "audio/x-ms-wma"
    return "video/x-ms-asf" if ext == ".asf" else "video/x-ms-wmv"


def _adts_frame(head: bytes, pos: int) -> int:
    """Length of the ADTS frame at pos, or 0 if there is no valid header there."""
    if pos + 7 > len(head) or head[pos] != 0xFF or (head[pos + 1] & 0xF6) != 0xF0:
        return 0
    if (head[pos + 2] >> 2) & 0x0F > 12:  # sampling frequency index
        return 0
    length = ((head[pos + 3] & 0x03) << 11) | (head[pos + 4] << 3) | (head[pos + 5] >> 5)
    return length if length >= 7 else 0


def adts_stream(head: bytes) -> bool:
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


def mpeg_audio_stream(head: bytes) -> bool:
    if head.startswith(b"\xff\xfe"):  # a UTF-16 byte-order mark, not a layer I frame
        return False
    length = _mpeg_audio_frame(head, 0)
    return length > 0 and (length + 4 > len(head) or _mpeg_audio_frame(head, length) > 0)


def transport_stream(head: bytes) -> bool:
    # 188-byte packets (broadcast .ts) or 192-byte ones with a timestamp prefix (.m2ts).
    for start, step in ((0, 188), (4, 192)):
        if len(head) <= start + step:
            continue
        checks = 3 if len(head) > start + 2 * step else 2
        if all(head[start + step * n] == 0x47 for n in range(checks)):
            return True
    return False


def bmp(head: bytes) -> bool:
    # "BM" alone is too common; require zero reserved fields and a known DIB header size.
    if len(head) < 18 or head[6:10] != b"\x00\x00\x00\x00":
        return False
    return int.from_bytes(head[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124)


def ico(head: bytes) -> bool:
    # ICONDIR (reserved 0, type 1 = icon) followed by a first entry with a zero reserved byte.
    if len(head) < 22 or head[:4] != b"\x00\x00\x01\x00":
        return False
    count = int.from_bytes(head[4:6], "little")
    return 0 < count <= 256 and head[9] == 0 and head[10:12] in (b"\x00\x00", b"\x01\x00")
