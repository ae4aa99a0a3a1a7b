"""Pure parsing behind the extractors: text cleaning, dates, numbers, ffprobe's JSON."""

from __future__ import annotations

import io
import struct
from datetime import datetime, timedelta, timezone

import pytest

from mediaforged.extract.assets import asset_tags
from mediaforged.extract.common import (
    ExtractError,
    clean_text,
    exif_datetime,
    iso_date,
    number_pair,
    to_float,
)
from mediaforged.extract.headers import own_figures
from mediaforged.extract.video import parse_ffprobe


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Björk", "Björk"),
        ("BjÃ¶rk", "Björk"),  # UTF-8 stored as Latin-1
        ("Title\x00\x00\x00garbage", "Title"),  # NUL padding and what follows it
        ("  padded   ", "padded"),
        ("tab\tand\x07bell", "tab\tandbell"),
        (b"caf\xc3\xa9", "café"),
        (b"caf\xe9", "café"),  # not UTF-8: Windows-1252
        ("坂本龍一", "坂本龍一"),
        ("", None),
        ("\x00\x00", None),
        (None, None),
    ],
)
def test_clean_text(raw: str | bytes | None, clean: str | None) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "pair"),
    [
        ("3/12", (3, 12)),
        ("3", (3, None)),
        ((3, 12), (3, 12)),
        ("0/0", (None, None)),
        ("x", (None, None)),
    ],
)
def test_number_pair(raw: object, pair: tuple[int | None, int | None]) -> None:
    assert number_pair(raw) == pair


@pytest.mark.parametrize(
    ("raw", "iso", "year"),
    [
        ("1997", "1997", 1997),
        ("1997-09", "1997-09", 1997),
        ("1997-09-22T10:00:00", "1997-09-22", 1997),
        ("1997:09:22", "1997-09-22", 1997),
        ("1997-13-40", "1997", 1997),
        ("sometime", None, None),
    ],
)
def test_iso_date(raw: str, iso: str | None, year: int | None) -> None:
    assert iso_date(raw) == (iso, year)


def test_exif_datetime_with_offset_and_subseconds() -> None:
    when, offset = exif_datetime("2024:05:01 12:34:56", "-05:30", "25")
    assert offset == "-05:30"
    assert when == datetime(
        2024, 5, 1, 12, 34, 56, 250000, timezone(-timedelta(hours=5, minutes=30))
    )
    naive, none = exif_datetime("2024:05:01 12:34:56\x00")
    assert naive == datetime(2024, 5, 1, 12, 34, 56) and none is None
    assert exif_datetime("0000:00:00 00:00:00") == (None, None)  # cameras write this when unset


def test_to_float_refuses_nan_and_infinity() -> None:
    assert to_float("2.5") == 2.5
    assert to_float(float("nan")) is None
    assert to_float("inf") is None
    assert to_float(True) is None


def test_parse_ffprobe_skips_cover_art_and_reads_rotation() -> None:
    data = {
        "format": {"format_name": "mov,mp4", "duration": "12.5", "bit_rate": "1000", "tags": {}},
        "streams": [
            {"codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}},
            {
                "codec_type": "video",
                "codec_name": "hevc",
                "width": 1920,
                "height": 1080,
                "avg_frame_rate": "30000/1001",
                "side_data_list": [{"rotation": -90}],
            },
            {"codec_type": "audio", "codec_name": "aac", "sample_rate": "48000", "channels": 2},
            {"codec_type": "subtitle", "codec_name": "mov_text"},
        ],
    }
    got = parse_ffprobe(data)
    assert got["video_codec"] == "hevc" and got["fps"] == 29.97
    assert got["rotation"] == 270
    assert (got["display_width"], got["display_height"]) == (1080, 1920)
    assert (got["video_streams"], got["audio_streams"], got["subtitle_streams"]) == (1, 1, 1)
    assert got["has_cover"] is True


def test_parse_ffprobe_without_streams_is_an_error() -> None:
    with pytest.raises(ExtractError) as info:
        parse_ffprobe({"format": {"format_name": "tty"}, "streams": []})
    assert info.value.code == "not_video"


def _box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def _asset(kind: bytes, text: bytes, tail: bytes = b"") -> bytes:
    return _box(kind, b"\x00\x00\x00\x00" + b"\x15\xc7" + text + tail)  # version, flags, "eng"


def test_3gpp_asset_boxes() -> None:
    """titl/perf/albm (UTF-8, UTF-16 with its BOM, the album's track byte), yrrc, auth;
    iTunes atoms and other boxes beside them are skipped."""
    udta = _box(
        b"udta",
        _asset(b"titl", "Été".encode("utf-16-be").join((b"\xfe\xff", b"\x00\x00")))
        + _box(b"meta", bytes(12))
        + _asset(b"perf", b"Tone\x00")
        + _asset(b"auth", b"Someone\x00")
        + _asset(b"albm", b"Tests\x00", b"\x07")
        + _box(b"yrrc", b"\x00\x00\x00\x00" + (2009).to_bytes(2, "big")),
    )
    data = _box(b"ftyp", b"3gp4\x00\x00\x00\x00") + _box(b"moov", _box(b"mvhd", bytes(100)) + udta)
    assert asset_tags(io.BytesIO(data + _box(b"mdat", bytes(64)))) == {
        "title": ["Été"],
        "artist": ["Tone"],
        "author": ["Someone"],
        "album": ["Tests"],
        "tracknumber": ["7"],
        "date": ["2009"],
    }
    assert asset_tags(io.BytesIO(_box(b"ftyp", bytes(8)) + _box(b"moov", bytes(8)))) == {}
    assert asset_tags(io.BytesIO(b"\x00\x00\x00\x01moov")) == {}  # a cut box header


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_own_headers_give_what_mutagen_lacks() -> None:
    fmt = struct.pack("<HHIIHH", 0x11, 2, 22050, 11100, 1024, 4) + b"\x02\x00\xf9\x03"
    wav = _riff(b"fmt " + len(fmt).to_bytes(4, "little") + fmt,
                b"fact\x04\x00\x00\x00" + (44100).to_bytes(4, "little"),
                b"data\x10\x00\x00\x00" + bytes(16))  # fmt: skip
    got = own_figures("WAVE", io.BytesIO(wav))
    assert (got["audio_codec"], got["channels"], got["sample_rate"]) == ("adpcm_ima_wav", 2, 22050)
    assert got["duration_s"] == 2.0  # the fact chunk's samples, not the blocks as PCM
    no_fact = _riff(b"fmt " + len(fmt).to_bytes(4, "little") + fmt, b"data\x00\x00\x00\x00")
    assert own_figures("WAVE", io.BytesIO(no_fact)) == {}  # ffprobe must say
    tta = b"TTA1" + struct.pack("<HHHII", 1, 6, 24, 48000, 48000) + bytes(8)
    assert own_figures("TrueAudio", io.BytesIO(bytes(10) + tta), 10) == {
        "channels": 6,
        "bits_per_sample": 24,
    }
    block = b"wvpk" + bytes(20)
    single = block + struct.pack("<I", 0x1800 | 0x4) + bytes(4)
    several = block + struct.pack("<I", 0x800) + bytes(4)  # the first of a 5.1 file's blocks
    assert own_figures("WavPack", io.BytesIO(single)) == {"channels": 1}
    assert own_figures("WavPack", io.BytesIO(several)) == {}
