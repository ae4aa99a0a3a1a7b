"""Making one thumbnail: a picture (Pillow, draft mode), an audio file's cover art (mutagen),
or a video frame (ffmpeg), fitted to ``size`` px and written as WebP under its SHA-256 name.

Pictures go down a chain until one step gives an image: Pillow; then ffmpeg, for what Pillow
cannot decode (JPEG 2000, EXR, DDS, ...); then the largest embedded JPEG preview (a camera
RAW's). Videos: ffmpeg's ``thumbnail`` filter, then a plain first frame (the filter emits
nothing for a clip shorter than its 30-frame window). ``make_thumbnail`` says which made it.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import mutagen
from mutagen.flac import Picture
from PIL import Image, ImageOps, UnidentifiedImageError

from mediaforged.extract.common import ExtractError, open_media, open_media_fd
from mediaforged.extract.decoding import thread_decoding
from mediaforged.extract.image import open_image
from mediaforged.extract.tools import fd_url, run_tool
from mediaforged.fs.modes import FILE_MODE, private_dir

__all__ = [
    "Made",
    "audio_thumbnail",
    "cover_art",
    "cover_thumbnail",
    "embedded_preview",
    "ffmpeg_picture",
    "image_thumbnail",
    "make_thumbnail",
    "save_webp",
    "thumbnail_path",
    "video_frame",
]

_COVER_FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP"]


class Made(NamedTuple):
    """A thumbnail (None: nothing to show, an audio file without a cover) and what made it:
    pillow, ffmpeg, preview (an embedded JPEG) or cover."""

    image: Image.Image | None
    source: str


_WEBP_QUALITY = 80


def thumbnail_path(folder: Path, sha256: str) -> Path:
    return folder / sha256[:2] / sha256[2:4] / f"{sha256}.webp"


def _fit(img: Image.Image, size: int) -> Image.Image:
    img = ImageOps.exif_transpose(img)  # as it is shown, not as it is stored
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")


def save_webp(img: Image.Image, dest: Path) -> None:
    """Atomically: a temporary name in the same folder, then a rename. Folders and file are
    private (``fs.modes``) whatever the umask: a thumbnail shows what the file holds."""
    private_dir(dest.parent, ours=False)  # creates what is missing, changes nothing else
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with os.fdopen(os.open(tmp, flags, FILE_MODE), "wb") as f:
            img.save(f, "WEBP", quality=_WEBP_QUALITY, method=4)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def image_thumbnail(path: bytes, size: int, *, root: bytes) -> Image.Image:
    """The first frame, oriented and shrunk; JPEGs decoded at a reduced scale (draft).
    The file is reached from ``root`` without following a link."""
    with thread_decoding(path), open_media(root, path) as stream, open_image(stream) as img:
        if img.format in ("JPEG", "MPO"):
            # Draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale: a 24 MP photo costs a
            # fraction of a full decode. It keeps at least the requested size.
            img.draft("RGB", (size, size))
        img.load()
        return _fit(img, size)


def cover_art(path: bytes, *, root: bytes) -> bytes | None:
    """The embedded front cover (or first picture) of an audio file, if any."""
    with open_media(root, path) as stream:
        audio = mutagen.File(stream)
    if audio is None:
        return None
    pictures = getattr(audio, "pictures", None)  # FLAC
    if pictures:
        return bytes(pictures[0].data)
    tags = getattr(audio, "tags", None)
    if not tags:
        return None
    for key in list(tags.keys()):
        name = str(key).lower()
        value = tags[key]
        if name.startswith("apic"):  # ID3
            return bytes(value.data)
        if name == "covr" and value:  # MP4
            return bytes(value[0])
        if name == "metadata_block_picture" and value:  # Ogg: base64 FLAC picture block
            picture = Picture(base64.b64decode(value[0]))  # type: ignore[no-untyped-call]
            return bytes(picture.data)
        if name == "cover art (front)":  # APEv2: "name\0data"
            return bytes(value.value).split(b"\x00", 1)[-1]
    return None


def cover_thumbnail(data: bytes, size: int) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data), formats=_COVER_FORMATS) as img:
            img.draft("RGB", (size, size))
            img.load()
            return _fit(img, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ExtractError("decompression_bomb", f"cover art: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ExtractError("corrupt", f"cover art: {type(exc).__name__}: {exc}") from exc


async def video_frame(
    path: bytes,
    size: int,
    duration: float | None,
    time_limit: float,
    ffmpeg: str = "ffmpeg",
    *,
    root: bytes,
) -> Image.Image:
    """A representative frame: ffmpeg's ``thumbnail`` filter picks the most typical of a run
    of frames (not a black fade-in), taken a little way into the video. ffmpeg reads a
    descriptor opened from ``root`` without following a link, never the path."""
    fd = await asyncio.to_thread(open_media_fd, root, path)
    try:
        return await _frame(fd, size, duration, time_limit, ffmpeg)
    finally:
        os.close(fd)


async def _frame(
    fd: int, size: int, duration: float | None, time_limit: float, ffmpeg: str
) -> Image.Image:
    scale = f"scale='min({size},iw)':'min({size},ih)':force_original_aspect_ratio=decrease"
    starts = [min(duration * 0.1, 30.0), 0.0] if duration and duration > 2 else [0.0]
    # The most typical of 30 frames first; then, from the start, a plain frame: the filter
    # emits nothing when fewer frames than its window follow (a 30-frame clip).
    tries = [(start, f"thumbnail=30,{scale}") for start in starts] + [(0.0, scale)]
    for start, chain in tries:
        args: list[str | bytes] = [ffmpeg, "-v", "error", "-nostdin", "-hide_banner"]
        args += ["-ss", f"{start:.3f}", "-i", fd_url(fd), "-an", "-sn", "-dn"]
        args += ["-vf", chain, "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"]
        png = await run_tool(args, time_limit, pass_fds=(fd,))
        if png:
            with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
                img.load()
                return img.convert("RGBA" if img.mode in ("RGBA", "LA") else "RGB")
    raise ExtractError("no_frame", "ffmpeg produced no video frame")


async def ffmpeg_picture(
    path: bytes, size: int, time_limit: float, ffmpeg: str = "ffmpeg", *, root: bytes
) -> Image.Image:
    """A picture Pillow cannot decode, decoded by ffmpeg (its first frame)."""
    return await video_frame(path, size, None, time_limit, ffmpeg, root=root)


_PREVIEW_SCAN = 64 << 20  # bytes of a file searched for embedded JPEGs
_PREVIEW_TRIES = 24


def embedded_preview(path: bytes, size: int, *, root: bytes) -> Image.Image | None:
    """The largest JPEG embedded in the file (a camera RAW's preview, a PSD's or a TIFF's
    thumbnail): each JPEG start marker is tried, the biggest picture kept. None if none."""
    with thread_decoding(path), open_media(root, path) as stream:
        data = stream.read(_PREVIEW_SCAN)
    best: tuple[int, int] | None = None  # (pixels, offset)
    at = data.find(b"\xff\xd8\xff", 1)
    tries = 0
    while at > 0 and tries < _PREVIEW_TRIES:
        tries += 1
        try:
            with Image.open(io.BytesIO(data[at:]), formats=["JPEG"]) as img:
                pixels = img.width * img.height
                if best is None or pixels > best[0]:
                    best = (pixels, at)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            pass
        at = data.find(b"\xff\xd8\xff", at + 3)
    if best is None:
        return None
    return cover_thumbnail(data[best[1] :], size)


async def make_thumbnail(
    path: bytes,
    media_type: str,
    size: int,
    *,
    root: bytes,
    duration: float | None,
    time_limit: float,
    run: Callable[..., Awaitable[Any]],
) -> Made:
    """The thumbnail of one file by the first step of its chain that gives one, and which
    step that was; ``run(fn, *args)`` runs a blocking call in the stage's threads."""
    if media_type == "video":
        try:
            return Made(await video_frame(path, size, duration, time_limit, root=root), "ffmpeg")
        except ExtractError as exc:
            if exc.code == "timeout":
                raise
            # No frame (only sound, or its video cannot be decoded): its cover, if any.
            cover = await run(functools.partial(audio_thumbnail, path, size, root=root))
            if cover is None:
                raise
            return Made(cover, "cover")
    if media_type == "audio":
        return Made(await run(functools.partial(audio_thumbnail, path, size, root=root)), "cover")
    first: ExtractError | None = None
    try:
        return Made(await run(functools.partial(image_thumbnail, path, size, root=root)), "pillow")
    except ExtractError as exc:
        if exc.code == "decompression_bomb":
            raise
        first = exc
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        first = ExtractError("corrupt", f"{type(exc).__name__}: {exc}")
    try:
        return Made(await ffmpeg_picture(path, size, time_limit, root=root), "ffmpeg")
    except ExtractError as exc:
        if exc.code == "timeout":
            raise
    preview = await run(functools.partial(embedded_preview, path, size, root=root))
    if preview is not None:
        return Made(preview, "preview")
    raise first


def audio_thumbnail(path: bytes, size: int, *, root: bytes) -> Image.Image | None:
    data = cover_art(path, root=root)
    return None if data is None else cover_thumbnail(data, size)
