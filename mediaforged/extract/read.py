"""Reading one file's metadata: which extractor reads it, and the read with its time limit.

The extractors (image: Pillow, then ffprobe; audio: mutagen, with ffprobe's stream figures
where mutagen's are doubtful; video and the audio mutagen does not read: ffprobe) return
column values for ``media_metadata`` or raise ``ExtractError`` with a stable code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mediaforged.extract.audio import MUTAGEN_TYPES, PROBE, extract_audio
from mediaforged.extract.common import ExtractError
from mediaforged.extract.image import extract_image
from mediaforged.extract.video import extract_video

__all__ = ["extract_one", "reader_for"]


# Images nothing here reads: RAW formats that are no TIFF structure, and vector drawings.
# They are catalogued without metadata and without an error; every other image goes to
# Pillow, and what Pillow cannot open to ffprobe.
_UNREAD_IMAGES = frozenset(
    {
        "image/svg+xml",
        "image/x-canon-cr3",
        "image/x-canon-crw",
        "image/x-fuji-raf",
        "image/x-sigma-x3f",
        "image/x-minolta-mrw",
    }
)
# The stream figures ffprobe gives where mutagen's are doubtful (``PROBE``).
_STREAM_FIELDS = (
    "duration_s",
    "sample_rate",
    "channels",
    "bits_per_sample",
    "audio_codec",
    "lossless",
)
_IMAGE_FIELDS = ("width", "height", "display_width", "display_height")


def reader_for(media_type: str, mime_type: str | None) -> str | None:
    """Which extractor reads this item ("image", "audio", "video"), or None: no metadata.
    Audio that mutagen does not read (AC-3 in MXF, RealAudio, Matroska...) goes to ffprobe."""
    if media_type == "image":
        return None if mime_type in _UNREAD_IMAGES else "image"
    if media_type == "audio":
        return "audio" if mime_type in MUTAGEN_TYPES else "video"
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
    from ``root`` without following a link at any component of its path. ``media_type``
    is the reader (``reader_for``); the result's ``media_type``, where present, is what the
    streams say the file is (audio or video)."""
    if media_type == "video":  # ffprobe: any container, with or without a picture
        return await extract_video(path, time_limit, root=root)
    if media_type == "image":
        try:
            return await _in_thread(extract_image, path, time_limit, executor, root)
        except ExtractError as exc:
            if exc.code != "not_an_image":
                raise
            return await _image_by_ffprobe(path, time_limit, root, exc)
    try:
        values = await _in_thread(extract_audio, path, time_limit, executor, root)
    except ExtractError as exc:
        if exc.code not in ("not_audio", "corrupt"):
            raise
        return await _audio_by_ffprobe(path, time_limit, root, exc)
    if values.pop(PROBE, False):
        with contextlib.suppress(ExtractError):  # mutagen's figures are better than none
            probed = await extract_video(path, time_limit, root=root)
            values.update({k: probed[k] for k in _STREAM_FIELDS if probed.get(k) is not None})
    return values


async def _in_thread(
    function: Callable[..., dict[str, Any]],
    path: bytes,
    time_limit: float,
    executor: ThreadPoolExecutor | None,
    root: bytes,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    try:
        # A thread cannot be killed: at the timeout the file is recorded as failed and the
        # thread is left to finish (Pillow and mutagen read bounded headers; the bomb guard
        # and the format allow-list keep them from decoding anything big).
        read = functools.partial(function, path, root=root)
        return await asyncio.wait_for(loop.run_in_executor(executor, read), time_limit)
    except TimeoutError:
        raise ExtractError("timeout", f"reading took longer than {time_limit:g}s") from None


async def _audio_by_ffprobe(
    path: bytes, time_limit: float, root: bytes, first: ExtractError
) -> dict[str, Any]:
    """mutagen could not read it: ffprobe may (or the first error stands)."""
    try:
        values = await extract_video(path, time_limit, root=root)
    except ExtractError:
        raise first from None
    if values.get("media_type") != "audio":
        raise first
    return values


async def _image_by_ffprobe(
    path: bytes, time_limit: float, root: bytes, first: ExtractError
) -> dict[str, Any]:
    """Pillow has no plugin for it (EXR, DPX, JPEG 2000 codestreams...): ffmpeg may."""
    try:
        probed = await extract_video(path, time_limit, root=root)
    except ExtractError:
        raise first from None
    if not probed.get("width"):
        raise first
    values = {k: probed[k] for k in _IMAGE_FIELDS}
    values["frame_count"] = 1
    extra = {"format": probed.get("container"), "decoder": "ffmpeg"}
    values["extra"] = {**extra, **{k: v for k, v in probed["extra"].items() if k == "pix_fmt"}}
    return values
