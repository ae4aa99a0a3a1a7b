"""Reading one file's metadata: which extractor reads it, and the read with its time limit.

The extractors (image: Pillow, audio: mutagen, video and odd audio: ffprobe) return column
values for ``media_metadata`` or raise ``ExtractError`` with a stable code.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mediaforged.extract.audio import extract_audio
from mediaforged.extract.common import ExtractError
from mediaforged.extract.image import extract_image
from mediaforged.extract.video import extract_video

__all__ = ["extract_one", "reader_for"]


# Image types Pillow reads for us (plus RAW files built on TIFF IFDs); other images (PSD,
# JPEG XL, JPEG 2000, SVG, CR3, RAF, ...) are catalogued without metadata and without an error.
_IMAGE_MIMES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/vnd.microsoft.icon",
        "image/avif",
        "image/heic",
        "image/heif",
        "image/heic-sequence",
        "image/x-adobe-dng",
        "image/x-canon-cr2",
        "image/x-nikon-nef",
        "image/x-nikon-nrw",
        "image/x-sony-arw",
        "image/x-sony-srf",
        "image/x-sony-sr2",
        "image/x-olympus-orf",
        "image/x-panasonic-rw2",
        "image/x-panasonic-raw",
        "image/x-leica-rwl",
        "image/x-pentax-pef",
        "image/x-samsung-srw",
        "image/x-hasselblad-3fr",
        "image/x-epson-erf",
        "image/x-kodak-kdc",
        "image/x-kodak-dcr",
        "image/x-phaseone-iiq",
    }
)
# Audio that mutagen does not read but ffprobe does (Matroska/WebM audio, AMR, CAF, au).
_FFPROBE_AUDIO = frozenset(
    {"audio/x-matroska", "audio/webm", "audio/amr", "audio/x-caf", "audio/basic"}
)


def reader_for(media_type: str, mime_type: str | None) -> str | None:
    """Which extractor reads this item ("image", "audio", "video"), or None: no metadata."""
    if media_type == "image":
        return "image" if mime_type in _IMAGE_MIMES else None
    if media_type == "audio":
        return "video" if mime_type in _FFPROBE_AUDIO else "audio"
    return "video" if media_type == "video" else None


async def extract_one(
    path: bytes,
    media_type: str,
    time_limit: float,
    executor: ThreadPoolExecutor | None = None,
    *,
    root: bytes,
) -> dict[str, Any]:
    """One file's column values; ExtractError when it cannot be read. The file is reached
    from ``root`` without following a link at any component of its path."""
    if media_type == "video":  # ffprobe: any container, with or without a picture
        return await extract_video(path, time_limit, root=root)
    function = extract_image if media_type == "image" else extract_audio
    loop = asyncio.get_running_loop()
    try:
        # A thread cannot be killed: at the timeout the file is recorded as failed and the
        # thread is left to finish (Pillow and mutagen read bounded headers; the bomb guard
        # and the format allow-list keep them from decoding anything big).
        read = functools.partial(function, path, root=root)
        return await asyncio.wait_for(loop.run_in_executor(executor, read), time_limit)
    except TimeoutError:
        raise ExtractError("timeout", f"reading took longer than {time_limit:g}s") from None
