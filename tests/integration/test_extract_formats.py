"""What we extract from real files of every format, against ffprobe and exiftool's reading."""

from __future__ import annotations

import math
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mediaforged.extract.image import guard_bombs
from mediaforged.extract.read import extract_one
from tests.integration.conftest import ffprobe
from tests.integration.media import AUDIO, VIDEOS, MediaSet

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _bomb_limit() -> None:
    guard_bombs(1_000_000)  # the hostile set's bombs are made against this limit


async def _extract(path: Path, media_type: str) -> dict[str, Any]:
    return await extract_one(bytes(path), media_type, 20.0, root=bytes(path.parent))


def decoded_seconds(path: Path) -> float:
    """How long the audio really is: decode it all (ffmpeg's last progress time)."""
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", f"file:{path}", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", err)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def _rate(text: str) -> float:
    num, den = text.split("/")
    return float(num) / float(den)


@pytest.mark.parametrize("name", [*VIDEOS, "rotated.mp4"])
async def test_video_agrees_with_ffprobe(
    media: MediaSet, exiftool: dict[str, dict[str, Any]], name: str
) -> None:
    path = media.folder / name
    got = await _extract(path, "video")
    ref = ffprobe(path)
    video = next(s for s in ref["streams"] if s["codec_type"] == "video")
    audio = next(s for s in ref["streams"] if s["codec_type"] == "audio")
    assert abs(got["duration_s"] - float(ref["format"]["duration"])) <= 0.1
    assert abs(got["duration_s"] - 1.0) <= 0.1  # what the fixture was made with
    assert (got["width"], got["height"]) == (video["width"], video["height"])
    assert got["video_codec"] == video["codec_name"]
    assert got["audio_codec"] == audio["codec_name"]
    assert got["container"] == ref["format"]["format_name"]
    assert got["fps"] == round(_rate(video["avg_frame_rate"]), 3) == 25.0
    assert got["sample_rate"] == int(audio["sample_rate"])
    assert (got["video_streams"], got["audio_streams"]) == (1, 1)
    tags = ref["format"].get("tags", {})
    if "creation_time" in tags:
        assert got["taken_at"] == datetime.fromisoformat(tags["creation_time"])
        assert got["taken_offset"] == "+00:00"
    if "title" in tags:
        assert got["title"] == tags["title"] == "Holiday clip"
    ex = exiftool[name]
    # exiftool reads most containers' frame size too (as displayed when pixels are not square).
    if "ImageWidth" in ex and video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1"):
        assert (got["width"], got["height"]) == (ex["ImageWidth"], ex["ImageHeight"])
    if name == "rotated.mp4":
        assert got["rotation"] == 90
        assert (got["display_width"], got["display_height"]) == (got["height"], got["width"])
    else:
        assert (got["display_width"], got["display_height"]) == (got["width"], got["height"])


# Our field -> the names exiftool gives it, across tag systems.
_EXIFTOOL_TAGS = {
    "title": ("Title",),
    "artist": ("Artist", "Author"),
    "album": ("Album", "AlbumTitle"),
    "album_artist": ("Band", "AlbumArtist", "Albumartist"),
    "genre": ("Genre",),
    "composer": ("Composer",),
}


def _track(value: Any) -> int:
    return int(str(value).split("/")[0].split(" of ")[0])


@pytest.mark.parametrize("name", list(AUDIO))
async def test_audio_agrees_with_exiftool_and_ffprobe(
    media: MediaSet, exiftool: dict[str, dict[str, Any]], name: str
) -> None:
    path = media.folder / name
    got = await _extract(path, "audio")
    ref = ffprobe(path)
    stream = next(s for s in ref["streams"] if s["codec_type"] == "audio")
    if name.endswith(".wma"):
        # ffprobe takes an ASF file's duration from its header, which counts the preroll
        # (1.2 s here); decoding the file is the ground truth.
        assert abs(got["duration_s"] - decoded_seconds(path)) <= 0.1
    else:
        assert abs(got["duration_s"] - float(ref["format"]["duration"])) <= 0.1
    assert got["sample_rate"] == int(stream["sample_rate"])
    if name == "song.m4a":
        # MP4's sample entry says 2 channels for ffmpeg's mono AAC (exiftool reads that);
        # the decoder config says 1, as ffprobe reports: we report what the decoder outputs.
        assert got["channels"] == stream["channels"] != exiftool[name]["AudioChannels"]
    elif got["channels"] is not None:
        assert got["channels"] == stream["channels"]
    lossless = name == "alac.m4a" or name.endswith((".flac", ".wav", ".aiff", ".wv", ".tta"))
    assert got["lossless"] == lossless


def _gps_close(ours: float, theirs: float) -> bool:
    # exiftool prints 15 significant digits: equal to that precision.
    return math.isclose(ours, theirs, rel_tol=1e-13, abs_tol=1e-13)


IMAGES = [
    "camera.jpg",
    "plain.jpeg",
    "drawing.png",
    "anim.gif",
    "anim.webp",
    "still.webp",
    "scan.tif",
    "old.bmp",
    "iphone.heic",
    "modern.avif",
    "raw.dng",
    "raw.orf",
    "raw.rw2",
    "raw.nef",
]


@pytest.mark.parametrize("name", IMAGES)
async def test_image_agrees_with_exiftool(
    media: MediaSet, exiftool: dict[str, dict[str, Any]], name: str
) -> None:
    got = await _extract(media.folder / name, "image")
    # exiftool wants Panasonic's own tags in an RW2; our stand-in holds raw.dng's IFDs.
    ex = exiftool["raw.dng" if name == "raw.rw2" else name]
    assert (got["width"], got["height"]) == (ex["ImageWidth"], ex["ImageHeight"])
    simple = {
        "camera_make": "Make",
        "camera_model": "Model",
        "orientation": "Orientation",
        "exposure_time": "ExposureTime",
        "f_number": "FNumber",
        "iso": "ISO",
        "focal_length": "FocalLength",
        "lens": "LensModel",
    }
    for field, key in simple.items():
        assert got.get(field) == ex.get(key), field
    if "DateTimeOriginal" in ex:
        taken = datetime.strptime(ex["DateTimeOriginal"], "%Y:%m:%d %H:%M:%S")
        assert got["taken_at"].replace(tzinfo=None) == taken
        assert got["taken_offset"] == ex["OffsetTimeOriginal"]
        assert got["extra"]["taken_at"] == taken.isoformat() + ex["OffsetTimeOriginal"]
    else:
        assert got.get("taken_at") is None
    for field, key in (
        ("gps_latitude", "GPSLatitude"),
        ("gps_longitude", "GPSLongitude"),
        ("gps_altitude", "GPSAltitude"),
    ):
        if key in ex:
            assert _gps_close(got[field], ex[key]), field
        else:
            assert got.get(field) is None, field
    turned = ex.get("Orientation") in (5, 6, 7, 8)
    shown = (
        (ex["ImageHeight"], ex["ImageWidth"]) if turned else (ex["ImageWidth"], ex["ImageHeight"])
    )
    assert (got["display_width"], got["display_height"]) == shown
    if "FrameCount" in ex:
        assert got["frame_count"] == ex["FrameCount"]
    if name.startswith("anim"):
        assert got["frame_count"] == 3


async def test_camera_fixtures_carry_what_they_were_made_with(media: MediaSet) -> None:
    """The comparison above is not between two empty readings."""
    jpeg = await _extract(media.folder / "camera.jpg", "image")
    assert jpeg["camera_model"] == "Canon EOS 5D Mark IV" and jpeg["orientation"] == 6
    assert round(jpeg["gps_latitude"], 6) == 48.858233 and jpeg["gps_longitude"] < 0
    raw = await _extract(media.folder / "raw.orf", "image")
    assert (raw["camera_make"], raw["iso"], raw["taken_offset"]) == ("Nikon", 800, "-05:00")
