"""sniff() on real files made by Pillow, the wave module and ffmpeg.

Formats nothing here can write (camera RAW, HEIC, DSD, APE...) are checked on their
documented header bytes. The ffmpeg files are made once per module, in parallel.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, features

from mediaforged.fs.mediatype import SNIFF_BYTES, sniff

FFMPEG = shutil.which("ffmpeg")
MEDIA_TYPES = {"image", "audio", "video", "other"}


def head_of(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(SNIFF_BYTES)


def sniff_file(path: Path, name: bytes | None = None) -> tuple[str, str]:
    return sniff(head_of(path), os.fsencode(path.name) if name is None else name)


# --- Pillow ---------------------------------------------------------------------------

PILLOW_CASES = [
    # (file name, Pillow mode, save options, expected mime)
    ("photo.jpg", "RGB", {"format": "JPEG"}, "image/jpeg"),
    ("photo.png", "RGB", {"format": "PNG"}, "image/png"),
    ("photo.gif", "P", {"format": "GIF"}, "image/gif"),
    ("photo.webp", "RGB", {"format": "WEBP"}, "image/webp"),
    ("photo.tif", "RGB", {"format": "TIFF"}, "image/tiff"),
    ("big-endian.tif", "I;16B", {"format": "TIFF"}, "image/tiff"),
    ("bigtiff.tif", "RGB", {"format": "TIFF", "big_tiff": True}, "image/tiff"),
    ("photo.bmp", "RGB", {"format": "BMP"}, "image/bmp"),
    ("favicon.ico", "RGB", {"format": "ICO", "sizes": [(16, 16)]}, "image/vnd.microsoft.icon"),
    ("photo.avif", "RGB", {"format": "AVIF"}, "image/avif"),
    ("photo.jp2", "RGB", {"format": "JPEG2000"}, "image/jp2"),
    # A TIFF named like a camera RAW is that RAW; the extension's case does not matter.
    ("DSC_0001.nef", "RGB", {"format": "TIFF"}, "image/x-nikon-nef"),
    ("DSC_0002.NEF", "RGB", {"format": "TIFF"}, "image/x-nikon-nef"),
    ("DSC_0003.arw", "RGB", {"format": "TIFF"}, "image/x-sony-arw"),
    ("IMG_0004.dng", "RGB", {"format": "TIFF"}, "image/x-adobe-dng"),
    # DNGVersion in IFD0 marks a DNG whatever its name.
    ("renamed-dng.tif", "RGB", {"format": "TIFF", "tiffinfo": {50706: b"\x01\x04\x00\x00"}},
     "image/x-adobe-dng"),
]  # fmt: skip
_PILLOW_FEATURES = {"WEBP": "webp", "AVIF": "avif", "JPEG2000": "jpg_2000"}


def make_image(path: Path, mode: str, options: dict[str, Any]) -> None:
    image = Image.new(mode, (48, 32))
    if mode == "RGB":
        image.paste((200, 40, 40), (0, 0, 24, 32))
    image.save(path, **options)


@pytest.mark.parametrize(("name", "mode", "options", "mime"), PILLOW_CASES, ids=lambda v: v)
def test_pillow_images(
    tmp_path: Path, name: str, mode: str, options: dict[str, Any], mime: str
) -> None:
    feature = _PILLOW_FEATURES.get(str(options["format"]))
    if feature is not None and not features.check(feature):
        pytest.skip(f"this Pillow cannot write {options['format']}")
    path = tmp_path / name
    make_image(path, mode, options)
    assert sniff_file(path) == (mime, "image")


def test_stdlib_wave_file(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(8000 * 4))
    assert sniff_file(path) == ("audio/wav", "audio")
    assert sniff_file(path, b"no-extension") == ("audio/wav", "audio")


# --- ffmpeg ---------------------------------------------------------------------------

VIDEO_IN = ["-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x48:rate=10"]
AUDIO_IN = ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.5:sample_rate=44100"]


@dataclass(frozen=True)
class Case:
    """A file ffmpeg makes for the tests and what sniff() must say about it."""

    name: str  # output file name; its extension picks ffmpeg's muxer unless -f is given
    args: list[str]
    encoders: tuple[str, ...]
    mime: str
    media: str
    sniff_name: bytes | None = None  # sniff under another name to prove content decides


FFMPEG_CASES = [
    Case("clip.mp4", [*VIDEO_IN, *AUDIO_IN, "-c:v", "mpeg4", "-c:a", "aac"],
         ("mpeg4", "aac"), "video/mp4", "video"),
    Case("clip.mov", [*VIDEO_IN, "-c:v", "mpeg4"], ("mpeg4",), "video/quicktime", "video",
         b"clip.bin"),
    Case("clip.3gp", [*VIDEO_IN, *AUDIO_IN, "-c:v", "mpeg4", "-c:a", "aac", "-ar", "8000"],
         ("mpeg4", "aac"), "video/3gpp", "video", b"clip.bin"),
    Case("clip.m4v", [*VIDEO_IN, "-c:v", "mpeg4"], ("mpeg4",), "video/x-m4v", "video",
         b"clip.bin"),
    Case("clip.mkv", [*VIDEO_IN, *AUDIO_IN, "-c:v", "mpeg4", "-c:a", "flac"],
         ("mpeg4", "flac"), "video/x-matroska", "video"),
    Case("tone.mka", [*AUDIO_IN, "-c:a", "flac"], ("flac",), "audio/x-matroska", "audio"),
    Case("clip.webm", [*VIDEO_IN, *AUDIO_IN, "-c:v", "libvpx", "-c:a", "libopus"],
         ("libvpx", "libopus"), "video/webm", "video", b"clip.mkv"),
    Case("clip.avi", [*VIDEO_IN, *AUDIO_IN, "-c:v", "mpeg4", "-c:a", "pcm_s16le"],
         ("mpeg4", "pcm_s16le"), "video/x-msvideo", "video", b"clip.bin"),
    Case("clip.flv", [*VIDEO_IN, *AUDIO_IN, "-c:v", "flv", "-c:a", "aac"],
         ("flv", "aac"), "video/x-flv", "video", b"clip.bin"),
    Case("clip.ts", [*VIDEO_IN, *AUDIO_IN, "-c:v", "mpeg2video", "-c:a", "mp2"],
         ("mpeg2video", "mp2"), "video/mp2t", "video", b"clip.bin"),
    Case("clip.m2ts", [*VIDEO_IN, "-c:v", "mpeg2video", "-f", "mpegts", "-mpegts_m2ts_mode", "1"],
         ("mpeg2video",), "video/mp2t", "video", b"clip.bin"),
    Case("clip.mpg", [*VIDEO_IN, *AUDIO_IN, "-c:v", "mpeg1video", "-r", "25", "-c:a", "mp2"],
         ("mpeg1video", "mp2"), "video/mpeg", "video", b"clip.bin"),
    Case("clip.wmv", [*VIDEO_IN, *AUDIO_IN, "-c:v", "wmv2", "-c:a", "wmav2"],
         ("wmv2", "wmav2"), "video/x-ms-wmv", "video"),
    # The video stream is in the ASF header, so even a ".wma" name cannot make it audio.
    Case("video.asf", [*VIDEO_IN, "-c:v", "wmv2"], ("wmv2",), "video/x-ms-wmv", "video",
         b"video.wma"),
    Case("tone.wma", [*AUDIO_IN, "-c:a", "wmav2"], ("wmav2",), "audio/x-ms-wma", "audio"),
    # Audio-only ASF is recognised from its stream list when the header fits in the head.
    Case("audio.asf", [*AUDIO_IN, "-c:a", "wmav2"], ("wmav2",), "audio/x-ms-wma", "audio",
         b"audio.bin"),
    Case("clip.ogv", [*VIDEO_IN, *AUDIO_IN, "-c:v", "libtheora", "-c:a", "libvorbis"],
         ("libtheora", "libvorbis"), "video/ogg", "video", b"clip.ogg"),
    Case("tone.mp3", [*AUDIO_IN, "-c:a", "libmp3lame"], ("libmp3lame",), "audio/mpeg", "audio",
         b"tone.bin"),
    # No ID3 tag: only the MPEG audio frame headers identify it.
    Case("bare.mp3", [*AUDIO_IN, "-c:a", "libmp3lame", "-id3v2_version", "0",
                      "-write_xing", "0"], ("libmp3lame",), "audio/mpeg", "audio", b"bare.bin"),
    Case("tone.mp2", [*AUDIO_IN, "-c:a", "mp2"], ("mp2",), "audio/mpeg", "audio", b"tone.bin"),
    Case("tone.aac", [*AUDIO_IN, "-c:a", "aac", "-f", "adts"], ("aac",), "audio/aac", "audio",
         b"tone.bin"),
    Case("tone.flac", [*AUDIO_IN, "-c:a", "flac"], ("flac",), "audio/flac", "audio",
         b"tone.bin"),
    Case("tone.ogg", [*AUDIO_IN, "-c:a", "libvorbis"], ("libvorbis",), "audio/ogg", "audio",
         b"tone.bin"),
    Case("tone.opus", [*AUDIO_IN, "-c:a", "libopus", "-ar", "48000"], ("libopus",),
         "audio/opus", "audio", b"tone.ogg"),
    Case("tone.spx", [*AUDIO_IN, "-c:a", "libspeex", "-ar", "16000", "-f", "ogg"],
         ("libspeex",), "audio/ogg", "audio", b"tone.bin"),
    Case("tone.oga", [*AUDIO_IN, "-c:a", "flac", "-f", "ogg"], ("flac",), "audio/ogg", "audio",
         b"tone.bin"),
    Case("tone.aiff", [*AUDIO_IN, "-c:a", "pcm_s16be"], ("pcm_s16be",), "audio/x-aiff", "audio",
         b"tone.bin"),
    Case("tone.m4a", [*AUDIO_IN, "-c:a", "aac"], ("aac",), "audio/mp4", "audio", b"tone.bin"),
    # Audio only, but the generic "isom" brand says nothing about it (see the test below).
    Case("generic.mp4", [*AUDIO_IN, "-c:a", "aac"], ("aac",), "video/mp4", "video"),
    Case("tone.wv", [*AUDIO_IN, "-c:a", "wavpack"], ("wavpack",), "audio/x-wavpack", "audio",
         b"tone.bin"),
    Case("tone.tta", [*AUDIO_IN, "-c:a", "tta"], ("tta",), "audio/x-tta", "audio", b"tone.bin"),
    Case("tone.caf", [*AUDIO_IN, "-c:a", "pcm_s16le"], ("pcm_s16le",), "audio/x-caf", "audio",
         b"tone.bin"),
    Case("tone.au", [*AUDIO_IN, "-c:a", "pcm_s16be"], ("pcm_s16be",), "audio/basic", "audio",
         b"tone.bin"),
    Case("ffmpeg.wav", [*AUDIO_IN, "-c:a", "pcm_s16le"], ("pcm_s16le",), "audio/wav", "audio",
         b"tone.bin"),
]  # fmt: skip

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")

# name -> the file, or why it is missing ("skip: ..." or the ffmpeg error)
FfmpegFiles = dict[str, Path | str]


@pytest.fixture(scope="module")
def ffmpeg_files(tmp_path_factory: pytest.TempPathFactory) -> FfmpegFiles:
    assert FFMPEG is not None
    listing = subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30
    )
    encoders = {line.split()[1] for line in listing.stdout.splitlines() if line[:2] == " V"}
    encoders |= {line.split()[1] for line in listing.stdout.splitlines() if line[:2] == " A"}
    out_dir = tmp_path_factory.mktemp("ffmpeg")
    files: FfmpegFiles = {}
    running: list[tuple[Case, subprocess.Popen[bytes]]] = []
    for item in FFMPEG_CASES:
        missing = [name for name in item.encoders if name not in encoders]
        if missing:
            files[item.name] = f"skip: this ffmpeg has no {', '.join(missing)} encoder"
            continue
        command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   *item.args, str(out_dir / item.name)]  # fmt: skip
        running.append((item, subprocess.Popen(command, stderr=subprocess.PIPE)))
    for item, proc in running:
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode == 0:
            files[item.name] = out_dir / item.name
        else:
            files[item.name] = f"ffmpeg exited {proc.returncode}: {stderr.decode(errors='replace')}"
    return files


def ffmpeg_file(files: FfmpegFiles, name: str) -> Path:
    made = files[name]
    if isinstance(made, str):
        if made.startswith("skip: "):
            pytest.skip(made.removeprefix("skip: "))
        pytest.fail(made)
    return made


@needs_ffmpeg
@pytest.mark.parametrize("item", FFMPEG_CASES, ids=lambda item: item.name)
def test_ffmpeg_made_files(ffmpeg_files: FfmpegFiles, item: Case) -> None:
    path = ffmpeg_file(ffmpeg_files, item.name)
    assert sniff_file(path) == (item.mime, item.media)
    if item.sniff_name is not None:
        assert sniff_file(path, item.sniff_name) == (item.mime, item.media)


@needs_ffmpeg
def test_generic_mp4_brand_is_refined_by_extension(ffmpeg_files: FfmpegFiles) -> None:
    head = head_of(ffmpeg_file(ffmpeg_files, "generic.mp4"))
    assert head[8:12] == b"isom"
    assert sniff(head, b"song.m4a") == ("audio/mp4", "audio")
    assert sniff(head, b"song.M4B") == ("audio/mp4", "audio")
    assert sniff(head, b"clip.mov") == ("video/quicktime", "video")
    assert sniff(head, b"clip.jpg") == ("video/mp4", "video")  # content still decides


@needs_ffmpeg
def test_every_prefix_of_real_files_sniffs_without_error(ffmpeg_files: FfmpegFiles) -> None:
    made = [path for path in ffmpeg_files.values() if isinstance(path, Path)]
    assert len(made) >= 10
    for path in made:
        head = head_of(path)
        for size in [*range(0, 300), 376, 377, 1000, SNIFF_BYTES - 1]:
            mime, media = sniff(head[:size], b"x")
            assert media in MEDIA_TYPES, (path.name, size)
            assert "/" in mime, (path.name, size)


@needs_ffmpeg
def test_short_transport_stream_head(ffmpeg_files: FfmpegFiles) -> None:
    head = head_of(ffmpeg_file(ffmpeg_files, "clip.ts"))
    assert sniff(head[:189], b"clip.bin") == ("video/mp2t", "video")  # sync at 0 and 188
    assert sniff(head[:188], b"clip.bin") == ("application/octet-stream", "other")
    broken = bytearray(head)
    broken[376] ^= 0xFF
    assert sniff(bytes(broken), b"clip.bin") == ("application/octet-stream", "other")


@needs_ffmpeg
def test_id3_tag_in_front_of_flac(ffmpeg_files: FfmpegFiles) -> None:
    flac = head_of(ffmpeg_file(ffmpeg_files, "tone.flac"))
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x20" + bytes(0x20)  # 32 bytes of padding
    assert sniff(tag + flac, b"tone.bin") == ("audio/flac", "audio")


# --- content against name --------------------------------------------------------------


def test_content_wins_over_extension(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    make_image(path, "RGB", {"format": "JPEG"})
    assert sniff_file(path) == ("image/jpeg", "image")


def test_unrecognised_content_falls_back_to_extension(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(random.Random(1234).randbytes(SNIFF_BYTES))
    assert sniff_file(path) == ("image/jpeg", "image")
    assert sniff_file(path, b"x.bin") == ("application/octet-stream", "other")
    assert sniff_file(path, b"notes.TXT") == ("text/plain", "other")
    assert sniff_file(path, b"film.mkv") == ("video/x-matroska", "video")
    assert sniff_file(path, b"no-extension") == ("application/octet-stream", "other")
    assert sniff_file(path, b".png") == ("application/octet-stream", "other")  # a dot file


def test_random_content_is_never_recognised() -> None:
    rng = random.Random(20240601)
    for _ in range(500):
        head = rng.randbytes(SNIFF_BYTES)
        assert sniff(head, b"data") == ("application/octet-stream", "other"), head[:16].hex()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert sniff_file(path) == ("inode/x-empty", "other")


def test_non_utf8_name(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    make_image(path, "RGB", {"format": "PNG"})
    assert sniff_file(path, b"\xff\xfe.png") == ("image/png", "image")
    noise = random.Random(7).randbytes(64)
    assert sniff(noise, b"\xff\xfe.png") == ("image/png", "image")
    assert sniff(noise, b"photo.\xe9\xff") == ("application/octet-stream", "other")


def test_directory_part_of_name_is_ignored() -> None:
    noise = random.Random(8).randbytes(64)
    assert sniff(noise, b"album.d/track") == ("application/octet-stream", "other")
    assert sniff(noise, b"album.d/track.flac") == ("audio/flac", "audio")


# --- header bytes of formats nothing here writes ---------------------------------------


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + bytes(16)


TIFF_LE = b"II*\x00\x08\x00\x00\x00"
ID3_HUGE = b"ID3\x03\x00\x00\x00\x10\x00\x00" + bytes(200)  # declares a 256 KiB tag


@pytest.mark.parametrize(
    ("head", "name", "mime", "media"),
    [
        (TIFF_LE + b"CR\x02\x00" + bytes(32), b"IMG_1.bin", "image/x-canon-cr2", "image"),
        (TIFF_LE + bytes(32), b"IMG_1.CR2", "image/x-canon-cr2", "image"),
        (TIFF_LE + bytes(32), b"P1.orf", "image/x-olympus-orf", "image"),
        (TIFF_LE + bytes(32), b"P1.rw2", "image/x-panasonic-rw2", "image"),
        (b"IIRO\x08\x00\x00\x00" + bytes(32), b"P1.bin", "image/x-olympus-orf", "image"),
        (b"MMOR\x00\x00\x00\x08" + bytes(32), b"P1.bin", "image/x-olympus-orf", "image"),
        (b"IIU\x00\x18\x00\x00\x00" + bytes(32), b"P1.bin", "image/x-panasonic-rw2", "image"),
        (b"FUJIFILMCCD-RAW 0201" + bytes(32), b"F.bin", "image/x-fuji-raf", "image"),
        (ftyp(b"crx ", b"crx ", b"isom"), b"IMG.bin", "image/x-canon-cr3", "image"),
        (ftyp(b"heic", b"mif1", b"heic"), b"IMG.bin", "image/heic", "image"),
        (ftyp(b"mif1", b"mif1", b"heic"), b"IMG.bin", "image/heic", "image"),
        (ftyp(b"mif1", b"mif1", b"miaf"), b"IMG.bin", "image/heif", "image"),
        (ftyp(b"mif1", b"mif1", b"avif"), b"IMG.bin", "image/avif", "image"),
        (ftyp(b"avif", b"mif1", b"miaf"), b"IMG.bin", "image/avif", "image"),
        (ftyp(b"isom", b"isom"), b"clip.bin", "video/mp4", "video"),
        (ftyp(b"isom", b"isom"), b"clip.mov", "video/quicktime", "video"),
        (ftyp(b"M4B ", b"M4B "), b"book.bin", "audio/mp4", "audio"),
        (ftyp(b"3g2a", b"3g2a"), b"clip.bin", "video/3gpp2", "video"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", b"old.bin", "video/quicktime", "video"),
        (b"\x00\x00\x00\x08free\x00\x00\x10\x00mdat", b"old.mp4", "video/mp4", "video"),
        (b"DSD \x1c\x00\x00\x00" + bytes(32), b"t.bin", "audio/x-dsf", "audio"),
        (b"FRM8" + bytes(8) + b"DSD " + bytes(32), b"t.bin", "audio/x-dff", "audio"),
        (b"MAC \x96\x0f" + bytes(32), b"t.bin", "audio/x-ape", "audio"),
        (b"MPCKSH" + bytes(32), b"t.bin", "audio/x-musepack", "audio"),
        (b"MP+\x17" + bytes(32), b"t.bin", "audio/x-musepack", "audio"),
        (b"OFR \x0f\x00\x00\x00" + bytes(32), b"t.bin", "audio/x-optimfrog", "audio"),
        (b"#!AMR\n" + bytes(32), b"t.bin", "audio/amr", "audio"),
        (b"MThd\x00\x00\x00\x06" + bytes(32), b"t.bin", "audio/midi", "audio"),
        (b"\x00\x00\x01\xba\x44" + bytes(32), b"t.bin", "video/mpeg", "video"),
        # An ID3 tag longer than the head: only an audio extension can say what follows.
        (ID3_HUGE, b"t.flac", "audio/flac", "audio"),
        (ID3_HUGE, b"t.bin", "audio/mpeg", "audio"),
        (ID3_HUGE, b"t.jpg", "audio/mpeg", "audio"),
        # Matroska whose EBML header is cut short still sniffs as Matroska.
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86", b"clip.bin", "video/x-matroska", "video"),
        (b"\xff\x0a\xfa\x7f" + bytes(32), b"x.bin", "image/jxl", "image"),
        (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + bytes(32), b"x.bin", "image/jxl", "image"),
        (b"%PDF-1.7\n", b"doc.bin", "application/pdf", "other"),
        # Near misses: signatures that need more than their first bytes.
        (b"RIFF\x00\x00\x00\x00ABCD" + bytes(32), b"x.bin", "application/octet-stream", "other"),
        (b"BMxxxxxxxx" + bytes(32), b"x.bin", "application/octet-stream", "other"),
        (b"\xff\xfeh\x00i\x00", b"x.txt", "text/plain", "other"),  # UTF-16 text
    ],
    ids=lambda value: value.hex()[:16] if isinstance(value, bytes) else str(value),
)
def test_header_signatures(head: bytes, name: bytes, mime: str, media: str) -> None:
    assert sniff(head, name) == (mime, media)


# --- families nothing here writes, on their documented header bytes -----------------------


def flic(magic: int, frames: int = 4, width: int = 320, height: int = 200) -> bytes:
    """An Autodesk FLIC header: size, magic (0xAF11 FLI, 0xAF12 FLC), frames, width, height,
    depth, flags, then the rest of its 128 bytes."""
    return (
        (128 + 64).to_bytes(4, "little")
        + magic.to_bytes(2, "little")
        + b"".join(v.to_bytes(2, "little") for v in (frames, width, height, 8, 3))
        + bytes(114)
    )


def cursor(count: int = 1, reserved: int = 0) -> bytes:
    """A Windows cursor directory (type 2) and its first entry: 32x32, hotspot 5,5."""
    entry = bytes([32, 32, 0, reserved]) + (5).to_bytes(2, "little") * 2
    entry += (4264).to_bytes(4, "little") + (22).to_bytes(4, "little")
    return b"\x00\x00\x02\x00" + count.to_bytes(2, "little") + entry + bytes(32)


REALMEDIA = b".RMF\x00\x00\x00\x12\x00\x01" + bytes(8) + b"PROP" + bytes(46) + b"MDPR"


@pytest.mark.parametrize(
    ("head", "name", "mime", "media"),
    [
        (flic(0xAF11), b"anim.bin", "video/x-flic", "video"),
        (flic(0xAF12), b"anim.bin", "video/x-flic", "video"),
        (b"tBaK\x00\x00\x00\x00" + bytes(32), b"t.bin", "audio/x-tak", "audio"),
        (b"\x02dss\x01\x01" + bytes(32), b"memo.bin", "audio/x-dss", "audio"),
        (b"\x03ds2\x01\x01" + bytes(32), b"memo.bin", "audio/x-dss", "audio"),
        (b".ra\xfd\x00\x04\x00\x00.ra4" + bytes(32), b"t.bin", "audio/x-pn-realaudio", "audio"),
        (REALMEDIA + b"audio/x-pn-realaudio" + bytes(8), b"t.rm", "audio/x-pn-realaudio", "audio"),
        (
            REALMEDIA + b"video/x-pn-realvideo" + bytes(8),
            b"t.rm",
            "video/vnd.rn-realvideo",
            "video",
        ),
        (
            b"gimp xcf v011\x00" + (64).to_bytes(4, "big") * 2 + bytes(32),
            b"x.bin",
            "image/x-xcf",
            "image",
        ),
        (b"gimp xcf file\x00" + bytes(32), b"x.bin", "image/x-xcf", "image"),  # version 0
        (cursor(), b"arrow.bin", "image/x-win-cursor", "image"),
        (
            b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n",
            b"sky.bin",
            "image/vnd.radiance",
            "image",
        ),
        (
            b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n",
            b"sky.bin",
            "image/vnd.radiance",
            "image",
        ),
        # Near misses: the same shapes with a field no such file has.
        (flic(0xAF11, width=0), b"x.bin", "application/octet-stream", "other"),
        (flic(0xAF11, frames=0), b"x.bin", "application/octet-stream", "other"),
        (cursor(count=0), b"x.bin", "application/octet-stream", "other"),
        (cursor(reserved=7), b"x.bin", "application/octet-stream", "other"),
    ],
    ids=lambda value: value.hex()[:16] if isinstance(value, bytes) else str(value),
)
def test_family_headers(head: bytes, name: bytes, mime: str, media: str) -> None:
    assert sniff(head, name) == (mime, media)
