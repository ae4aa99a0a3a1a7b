"""Video through ffprobe's JSON: duration, size, aspect, rotation, fps, codecs, streams, dates.

Also what mutagen does not read (Matroska audio, AC-3 in MXF, RealAudio, AMR...) and the
stream figures of audio mutagen gets wrong. Whether a file is audio or video is decided by
its streams (``media_type``): a cover picture (``attached_pic``) is no video stream.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from typing import Any

from mediaforged.extract.common import (
    ExtractError,
    clean_text,
    iso_date,
    number_pair,
    open_media_fd,
    to_float,
    to_int,
)
from mediaforged.extract.tools import fd_url, run_tool

__all__ = ["LOSSLESS_AUDIO", "extract_video", "parse_ffprobe"]

# ffprobe's lossless audio codecs (and every pcm_* and dsd_*).
LOSSLESS_AUDIO = frozenset(
    {"flac", "alac", "ape", "wavpack", "tta", "tak", "wmalossless", "mlp", "truehd", "shorten"}
)


async def extract_video(
    path: bytes, time_limit: float, ffprobe: str = "ffprobe", *, root: bytes
) -> dict[str, Any]:
    """ffprobe reads the file through a descriptor the daemon opened from ``root`` without
    following a link; it is never given the path."""
    fd = await asyncio.to_thread(open_media_fd, root, path)
    try:
        out = await run_tool(
            [
                ffprobe,
                "-v",
                "error",
                "-hide_banner",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                fd_url(fd),
            ],
            time_limit,
            pass_fds=(fd,),
        )
    finally:
        os.close(fd)
    try:
        data = json.loads(out)
    except ValueError as exc:
        raise ExtractError("corrupt", f"ffprobe gave no JSON: {exc}") from exc
    return parse_ffprobe(data)


def _rate(text: Any) -> float | None:
    """ "30000/1001" -> 29.97; "0/0" (unknown) -> None."""
    if not isinstance(text, str) or "/" not in text:
        return to_float(text)
    num, _, den = text.partition("/")
    n, d = to_float(num), to_float(den)
    if not n or not d:
        return None
    return n / d


def _rotation(stream: dict[str, Any]) -> int | None:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            value = to_int(side["rotation"])
            return None if value is None else value % 360
    value = to_int((stream.get("tags") or {}).get("rotate"))
    return None if value is None else value % 360


def parse_ffprobe(data: dict[str, Any]) -> dict[str, Any]:
    """ffprobe ``-show_format -show_streams`` JSON -> our columns (pure: unit-tested)."""
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    if not fmt and not streams:
        raise ExtractError("corrupt", "ffprobe found no streams")
    # Cover art in an MP4/MKV/MP3 is a one-frame "video" stream: not the video.
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    subtitles = [s for s in streams if s.get("codec_type") == "subtitle"]
    if not videos and not audios:
        raise ExtractError("not_video", "no video or audio stream")
    video = videos[0] if videos else {}
    audio = audios[0] if audios else {}
    # Ogg and Matroska keep their tags on the stream; other containers on the format.
    tags = {
        str(k).lower(): v
        for source in (audio, video, fmt)
        for k, v in (source.get("tags") or {}).items()
    }
    duration = (
        to_float(fmt.get("duration"))
        or to_float(video.get("duration"))
        or to_float(audio.get("duration"))
        or None  # unknown, not zero
    )
    values: dict[str, Any] = {
        "media_type": "video" if videos else "audio",
        "duration_s": duration,
        "bit_rate": to_int(fmt.get("bit_rate")),
        "container": clean_text(fmt.get("format_name")),
        "video_codec": clean_text(video.get("codec_name")),
        "width": to_int(video.get("width")) or None,
        "height": to_int(video.get("height")) or None,
        "display_aspect": _aspect(video.get("display_aspect_ratio")),
        "rotation": _rotation(video) if video else None,
        "fps": _fps(video),
        "video_streams": len(videos),
        "audio_streams": len(audios),
        "subtitle_streams": len(subtitles),
        "has_cover": any((s.get("disposition") or {}).get("attached_pic") for s in streams),
        **audio_values(audio),
        **_tag_values(tags),
    }
    if values["rotation"] in (90, 270):
        values["display_width"], values["display_height"] = values["height"], values["width"]
    else:
        values["display_width"], values["display_height"] = values["width"], values["height"]
    extra: dict[str, Any] = {"format": clean_text(fmt.get("format_long_name"))}
    created = _created(tags.get("creation_time"))
    if created is not None:
        values["taken_at"], values["taken_offset"] = created, "+00:00"
        extra["taken_at"] = created.isoformat()
    if video.get("pix_fmt"):
        extra["pix_fmt"] = video["pix_fmt"]
    values["extra"] = extra
    return values


def audio_values(audio: dict[str, Any]) -> dict[str, Any]:
    """The first audio stream's columns, as ffprobe reads them (the decoder's own figures:
    HE-AAC v2 at its output rate, in stereo)."""
    codec = clean_text(audio.get("codec_name"))
    bits = to_int(audio.get("bits_per_raw_sample")) or to_int(audio.get("bits_per_sample"))
    return {
        "audio_codec": codec,
        "sample_rate": to_int(audio.get("sample_rate")) or None,
        "channels": to_int(audio.get("channels")) or None,
        "bits_per_sample": bits or None,
        "lossless": None
        if codec is None
        else codec in LOSSLESS_AUDIO or codec.startswith(("pcm_", "dsd_")),
    }


def _tag_values(tags: dict[str, Any]) -> dict[str, Any]:
    track, track_total = number_pair(tags.get("track"))
    disc, disc_total = number_pair(tags.get("disc"))
    date, year = iso_date(tags.get("date") or tags.get("year"))
    return {
        "title": clean_text(tags.get("title")),
        "artist": clean_text(tags.get("artist")),
        "album": clean_text(tags.get("album")),
        "album_artist": clean_text(tags.get("album_artist")),
        "genre": clean_text(tags.get("genre")),
        "composer": clean_text(tags.get("composer")),
        "track_number": track,
        "track_total": track_total,
        "disc_number": disc,
        "disc_total": disc_total,
        "date": date,
        "year": year,
    }


def _fps(video: dict[str, Any]) -> float | None:
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    return None if fps is None else round(fps, 3)


def _aspect(text: Any) -> str | None:
    value = clean_text(text)
    return None if value in (None, "0:1", "N/A") else value


def _created(text: Any) -> datetime | None:
    value = clean_text(text)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
