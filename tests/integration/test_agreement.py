"""Our typing and metadata against exiftool and ffprobe on a generated set of many formats
(tests/integration/agreement.py), field by field, and the wrong values of issue 19."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediaforged.extract.image import guard_bombs
from mediaforged.extract.video import parse_ffprobe
from tests.conftest import Daemon, wait_for
from tests.integration import agreement
from tests.integration.agreement import Reading, Sample

pytestmark = pytest.mark.timeout(300)


@dataclass
class Set:
    samples: list[Sample]
    readings: dict[Path, Reading]
    exif: dict[Path, dict[str, Any]]
    probes: dict[Path, dict[str, Any]]
    by_name: dict[str, Reading]


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> Set:
    """The set, built once per session; exiftool reads it in one process, ffprobe a few
    files at a time, and our extractors as the daemon's stage runs them."""
    guard_bombs(178956970)
    samples = agreement.build(tmp_path_factory.mktemp("agreement"), every=False)
    paths = [s.path for s in samples]
    readings = asyncio.run(agreement.read_all(paths, workers=4))
    exif = agreement.exiftool_all(paths)
    probes = agreement.ffprobe_all(samples, exif)
    return Set(samples, readings, exif, probes, {p.name: r for p, r in readings.items()})


def test_every_field_agrees_with_exiftool_and_ffprobe(made: Set) -> None:
    rows, wrong = agreement.tally(made.samples, made.readings, made.exif, made.probes)
    assert wrong == [], "\n".join(agreement.table(rows) + wrong)
    # The set is what it claims: every family and every group was compared.
    assert len(made.samples) >= 70
    groups = {g for row in rows.values() for g in row}
    assert groups == set(agreement.GROUPS)
    assert {"TGA", "SGI", "PCX", "QOI", "DDS", "EXR", "AC3", "EAC3", "WTV", "MXF"} <= set(rows)


def test_types_by_streams_not_by_name(made: Set) -> None:
    r = made.by_name
    assert (r["audio-only.mp4"].media_type, r["audio-only.mp4"].mime) == ("audio", "audio/mp4")
    assert (r["audio-only.3gp"].media_type, r["audio-only.flv"].media_type) == ("audio", "audio")
    # 3GPP's own tag boxes (udta titl/perf/albm, the album's track byte), not iTunes atoms.
    got = r["audio-only.3gp"].got
    assert (got["title"], got["artist"], got["album"], got["track_number"]) == (
        "Sine",
        "Tone",
        "Tests",
        3,
    )
    assert r["audio-only.webm"].media_type == "audio"
    assert (r["h264.m4a"].media_type, r["h264.m4a"].got["video_codec"]) == ("video", "h264")
    assert r["multi.mp3"].got["has_cover"] is True  # a cover is no video
    for name in ("tga-RGBA-40x30.tga", "ffmpeg-48x32.exr", "sgi-RGB-17x23.sgi"):
        assert r[name].media_type == "image" and r[name].got["width"], name
    assert r["song.ac3"].media_type == "audio" and r["song.ac3"].got["audio_codec"] == "ac3"


def test_wrong_values_of_the_issue(made: Set) -> None:
    r = {name: reading.got for name, reading in made.by_name.items()}
    for n in range(1, 9):  # orientation 5-8 turns the picture once, in JPEG and in TIFF
        for ext in ("jpg", "tif"):
            got = r[f"orient{n}.{ext}"]
            assert (got["width"], got["height"]) == (40, 30)
            shown = (30, 40) if n >= 5 else (40, 30)
            assert (got["display_width"], got["display_height"]) == shown, (n, ext)
    assert r["multi.flac"]["extra"]["artists"] == agreement.ARTISTS
    assert r["multi.mp3"]["artist"] == "Alice Coltrane; Pharoah Sanders"
    assert r["v1-and-ape.mp3"]["title"] == agreement.LONG_TITLE  # APEv2, not ID3v1's 30 bytes
    assert r["really-a-flac.mp3"]["audio_codec"] == "flac"
    assert r["really-a-flac.mp3"]["extra"]["format"] == "FLAC"
    for name in ("ima.wav", "msadpcm.wav"):  # not 0.002 s; ffprobe's codec name
        assert abs(r[name]["duration_s"] - 0.5) <= 0.05, name
    assert r["ima.wav"]["audio_codec"] == "adpcm_ima_wav"
    assert r["pcm.wav"]["audio_codec"] == "pcm_s16le"
    assert r["song.wma"]["audio_codec"] == "wmav2"
    assert r["xmp-only.jpg"]["taken_at"].isoformat() == "2021-05-06T10:11:12+02:00"
    assert (r["sensor.dng"]["width"], r["sensor.dng"]["height"]) == (640, 480)  # not the preview
    assert r["frames30.mp4"]["fps"] == 25.0
    assert r["rotated.mp4"]["rotation"] == 90


def test_unknown_duration_is_null_and_a_cover_is_no_video() -> None:
    cover = {"codec_type": "video", "codec_name": "png", "disposition": {"attached_pic": 1}}
    audio = {"codec_type": "audio", "codec_name": "mp3", "sample_rate": "44100", "channels": 2}
    got = parse_ffprobe({"format": {"format_name": "mp3"}, "streams": [cover, audio]})
    assert got["duration_s"] is None
    assert (got["media_type"], got["video_streams"], got["has_cover"]) == ("audio", 0, True)
    assert (got["audio_codec"], got["lossless"]) == ("mp3", False)


def _drained(daemon: Daemon) -> dict[str, Any] | None:
    s = daemon.status()
    return s if s["metadata"]["idle"] and s["pending"]["metadata"] == 0 else None


def test_daemon_types_and_reads_them(
    made: Set, daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    names = ["audio-only.mp4", "h264.m4a", "tga-RGBA-40x30.tga", "ima.wav", "sensor.dng"]
    names += ["song.ac3", "orient6.tif", "audio-only.ts"]
    folder = made.samples[0].path.parent
    for name in names:
        shutil.copy(folder / name, library / name)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    wait_for(lambda: _drained(daemon), 120, "metadata read")
    rows = {
        r["name"]: dict(r)
        for r in daemon.catalog.query(
            "SELECT i.name, i.media_type, i.mime_type, i.error_code, m.* FROM media_items i "
            "JOIN media_metadata m ON m.item_id = i.id"
        )
    }
    assert {n: rows[n]["media_type"] for n in names} == {
        "audio-only.mp4": "audio",
        "h264.m4a": "video",
        "tga-RGBA-40x30.tga": "image",
        "ima.wav": "audio",
        "sensor.dng": "image",
        "song.ac3": "audio",
        "orient6.tif": "image",
        "audio-only.ts": "audio",  # the hasher said video; its streams say audio
    }
    assert rows["audio-only.ts"]["mime_type"] == "video/mp2t"
    assert (rows["audio-only.ts"]["audio_codec"], rows["audio-only.ts"]["thumb_status"]) == (
        "mp2",
        "none",  # sound alone, no cover: nothing to make a thumbnail of
    )
    # The counts by type follow the corrected type (recounted with the metadata's commit).
    by_type = daemon.status()["roots"][0]["by_media_type"]
    assert by_type == {"audio": 4, "video": 1, "image": 3}, by_type
    assert all(rows[n]["error_code"] is None for n in names)
    assert rows["h264.m4a"]["video_codec"] == "h264"
    assert (rows["tga-RGBA-40x30.tga"]["width"], rows["sensor.dng"]["width"]) == (40, 640)
    assert abs(rows["ima.wav"]["duration_s"] - 0.5) <= 0.05
    assert (rows["orient6.tif"]["display_width"], rows["orient6.tif"]["display_height"]) == (30, 40)
