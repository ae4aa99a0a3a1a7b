"""A generated test set of many formats, read by our extractors and by exiftool and ffprobe,
compared field by field. Used by tests/integration/test_agreement.py and by
``bench/bench_extract.py --agreement`` (the table by format).

Every file is tiny (a fraction of a second, a few dozen pixels); ``build`` makes them all
in a few seconds. ``Sample.expect`` holds what the file was made with where no reference
tool says it (the full title behind a 30-byte ID3v1 field, every artist of a list).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mutagen.apev2 import APEv2
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TIT2, TPE1, TRCK
from mutagen.mp4 import MP4
from PIL import Image

from mediaforged.extract.read import extract_one, reader_for
from mediaforged.fs.mediatype import SNIFF_BYTES, sniff_open
from tests.integration.media import camera_exif, ffmpeg

ARTISTS = ["Alice Coltrane", "Pharoah Sanders"]
LONG_TITLE = "A title longer than ID3v1's thirty bytes"
DNG_1_4 = b"\x01\x04\x00\x00"  # DNGVersion
GROUPS = ("type", "dimensions", "camera", "tags", "stream")


@dataclass
class Sample:
    path: Path
    kind: str  # what it is: "image", "audio" or "video"
    family: str  # the row of the agreement table
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reading:
    media_type: str
    mime: str
    got: dict[str, Any]
    error: str | None = None


# --- the set ---------------------------------------------------------------------------

_PILLOW = [  # (extension, Pillow format, mode, size)
    ("png", "PNG", "RGBA", (40, 30)),
    ("png", "PNG", "I;16", (17, 23)),  # 16-bit grey
    ("jpg", "JPEG", "RGB", (17, 23)),
    ("tif", "TIFF", "I;16", (40, 30)),
    ("tga", "TGA", "RGBA", (40, 30)),
    ("sgi", "SGI", "RGB", (17, 23)),
    ("pcx", "PCX", "RGB", (40, 30)),
    ("dds", "DDS", "RGBA", (16, 8)),
    ("qoi", "QOI", "RGBA", (40, 30)),
    ("jp2", "JPEG2000", "RGB", (40, 30)),
    ("icns", "ICNS", "RGBA", (32, 32)),
    ("webp", "WEBP", "RGBA", (40, 30)),
    ("bmp", "BMP", "RGB", (17, 23)),
    ("gif", "GIF", "P", (40, 30)),
    ("ppm", "PPM", "RGB", (40, 30)),
]
_FFMPEG_IMAGES = ["exr", "dpx", "j2k", "xwd", "sun", "fits"]  # encoders Pillow lacks

_AUDIO = {  # name -> ffmpeg output arguments (about 0.5 s of a sine)
    "lame.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "song.flac": ["-c:a", "flac"],
    "vorbis.ogg": ["-c:a", "libvorbis"],
    "song.opus": ["-c:a", "libopus"],
    "aac.m4a": ["-c:a", "aac"],
    "alac.m4a": ["-c:a", "alac"],
    "song.wma": ["-c:a", "wmav2", "-f", "asf"],
    "pcm.wav": ["-c:a", "pcm_s16le"],
    "ima.wav": ["-c:a", "adpcm_ima_wav"],
    "msadpcm.wav": ["-c:a", "adpcm_ms"],
    "song.aiff": ["-c:a", "pcm_s16be"],
    "song.wv": ["-c:a", "wavpack"],
    "song.tta": ["-c:a", "tta"],
    "song.ac3": ["-c:a", "ac3"],
    "song.eac3": ["-c:a", "eac3"],
    "song.mka": ["-c:a", "libvorbis"],
    "song.caf": ["-c:a", "pcm_s16le"],
    "song.au": ["-c:a", "pcm_s16be"],
    "song.w64": ["-c:a", "pcm_s16le"],
    "audio-only.mp4": ["-c:a", "aac"],
    "audio-only.3gp": ["-c:a", "aac", "-ar", "8000", "-ac", "1"],
    "audio-only.flv": ["-c:a", "libmp3lame", "-ar", "44100"],
    "audio-only.webm": ["-c:a", "libopus"],
    # MPEG-TS of sound alone: the hasher types it video, its streams say audio.
    "audio-only.ts": ["-c:a", "mp2", "-f", "mpegts"],
}
_VIDEO = {  # name -> ffmpeg output arguments (small test pattern, with sound unless noted)
    "h264.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "h264.mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis"],
    "vp9.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"],
    "mpeg4.avi": ["-c:v", "mpeg4", "-c:a", "libmp3lame"],
    "mpeg2.ts": ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts"],
    "wmv2.wmv": ["-c:v", "wmv2", "-c:a", "wmav2", "-f", "asf"],
    "flv1.flv": ["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"],
    "h263.3gp": ["-c:v", "h263", "-s", "176x144", "-c:a", "aac", "-ar", "8000", "-ac", "1"],
    "theora.ogv": ["-c:v", "libtheora", "-c:a", "libvorbis"],
    "mpeg2.wtv": ["-c:v", "mpeg2video", "-c:a", "mp2"],
    "mpeg2.mxf": ["-c:v", "mpeg2video", "-c:a", "pcm_s16le", "-ar", "48000"],
    # An H.264 file named like audio, branded M4A: its streams make it a video.
    "h264.m4a": ["-c:v", "libx264", "-preset", "ultrafast", "-an", "-f", "ipod", "-brand", "M4A "],
    # 30 frames exactly, and a phone's rotation.
    "frames30.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-frames:v", "30", "-an"],
}


# Files the special ones are copies of (retagged, renamed, rotated): the test leaves them
# out, as their copies cover their formats (each costs two ffprobe processes).
_BASES = frozenset({"aac.m4a", "song.flac", "lame.mp3", "h264.mp4"})


def build(folder: Path, every: bool = True) -> list[Sample]:
    """Make the whole set in ``folder``; formats this machine cannot write are left out.
    ``every=False``: without the files the special ones are copies of."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = _images(folder) + _ffmpeg_images(folder) + _audio(folder) + _video(folder)
    samples += _special(folder)
    return samples if every else [s for s in samples if s.path.name not in _BASES]


def _pattern(mode: str, size: tuple[int, int]) -> Image.Image:
    base = Image.linear_gradient("L").resize(size)
    if mode == "I;16":
        return base.convert("I").point(lambda v: v * 256).convert("I;16")
    if mode == "P":
        return base.convert("RGB").convert("P")
    out = Image.merge(
        "RGB", (base, base.rotate(90), base.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )
    return out.convert(mode) if mode != "RGB" else out


def _images(folder: Path) -> list[Sample]:
    out: list[Sample] = []
    for ext, fmt, mode, size in _PILLOW:
        path = folder / f"{fmt.lower()}-{mode.replace(';', '')}-{size[0]}x{size[1]}.{ext}"
        try:
            _pattern(mode, size).save(path, fmt)
        except (OSError, KeyError, ValueError):
            continue  # no encoder for it here
        # Pillow writes an ICNS at every size up to 1024: ffprobe says which it holds.
        out.append(Sample(path, "image", fmt, {} if fmt == "ICNS" else {"made": size}))
    for orientation in range(1, 9):  # EXIF orientations, in JPEG and TIFF
        for ext, fmt in (("jpg", "JPEG"), ("tif", "TIFF")):
            path = folder / f"orient{orientation}.{ext}"
            _pattern("RGB", (40, 30)).save(path, fmt, exif=camera_exif(orientation))
            out.append(Sample(path, "image", f"{fmt} EXIF"))
    xmp = folder / "xmp-only.jpg"  # DateTimeOriginal only in XMP; IFD0 has a later ModifyDate
    exif = Image.Exif()
    exif[0x0132] = "2024:06:30 08:00:00"
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        'exif:DateTimeOriginal="2021-05-06T10:11:12+02:00"/></rdf:RDF></x:xmpmeta>'
    )
    _pattern("RGB", (40, 30)).save(xmp, "JPEG", exif=exif, xmp=packet.encode())
    out.append(Sample(xmp, "image", "JPEG XMP", {"taken": "2021-05-06T10:11:12+02:00"}))
    return out


def _ffmpeg_images(folder: Path) -> list[Sample]:
    paths = [folder / f"ffmpeg-48x32.{ext}" for ext in _FFMPEG_IMAGES]
    one = ["-frames:v", "1", "-update", "1"]
    made = _outputs(["-f", "lavfi", "-i", "testsrc2=size=48x32"], [(one, p) for p in paths])
    return [Sample(p, "image", p.suffix[1:].upper(), {"made": (48, 32)}) for p in made]


def _outputs(inputs: list[str], outputs: list[tuple[list[str], Path]]) -> list[Path]:
    """One ffmpeg process writes every output (a process per file cost most of the set's
    time); when one of them cannot be written here, each is tried on its own and the
    formats this machine lacks are left out."""
    try:
        ffmpeg(*inputs, *(a for args, path in outputs for a in (*args, str(path))))
        return [path for _, path in outputs]
    except subprocess.CalledProcessError:
        pass
    made = []
    for args, path in outputs:
        try:
            ffmpeg(*inputs, *args, str(path))
        except subprocess.CalledProcessError:
            continue
        made.append(path)
    return made


_SINE = ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=0.5"]
_TAGS = ["-metadata", "title=Sine", "-metadata", "artist=Tone", "-metadata", "album=Tests"]
# ID3v1 (cut at 30 bytes) and APEv2 (whole) are added to this one by _special.
_BARE_MP3 = ["-c:a", "libmp3lame", "-b:a", "64k", "-write_xing", "0", "-id3v2_version", "0"]


def _audio(folder: Path) -> list[Sample]:
    outputs = [
        (["-map_metadata", "-1", *_TAGS, "-metadata", "track=3", *args], folder / name)
        for name, args in _AUDIO.items()
    ]
    outputs.append((["-map_metadata", "-1", *_BARE_MP3], folder / "v1-and-ape.mp3"))
    made = _outputs(_SINE, outputs)
    return [Sample(p, "audio", p.suffix[1:].upper()) for p in made if p.name in _AUDIO]


def _video(folder: Path) -> list[Sample]:
    inputs = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1.2"]
    inputs += ["-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1.2"]
    outputs = [
        ([*args] if "-an" in args else [*args, "-shortest"], folder / name)
        for name, args in _VIDEO.items()
    ]
    out = [Sample(p, "video", p.suffix[1:].upper()) for p in _outputs(inputs, outputs)]
    rotated = folder / "rotated.mp4"  # ffmpeg 5 turns the tag into a matrix only on a copy
    ffmpeg("-i", str(folder / "h264.mp4"), "-c", "copy", "-metadata:s:v", "rotate=90", str(rotated))
    out.append(Sample(rotated, "video", "MP4 rotated", {"rotation": 90}))
    return out


def _special(folder: Path) -> list[Sample]:
    """The wrong values of issue 19, each in a file of its own."""
    out: list[Sample] = []
    multi = folder / "multi.flac"  # two ARTIST comments and a cover
    shutil.copy(folder / "song.flac", multi)
    flac = FLAC(multi)
    flac["artist"] = ARTISTS
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", _png()
    flac.add_picture(picture)
    flac.save()
    out.append(Sample(multi, "audio", "FLAC multi", {"artists": ARTISTS, "cover": True}))
    mp3 = folder / "multi.mp3"  # ID3v2.4 with two TPE1 values and a cover
    shutil.copy(folder / "lame.mp3", mp3)
    id3 = ID3()
    id3.add(TIT2(encoding=3, text="Two"))
    id3.add(TPE1(encoding=3, text=ARTISTS))
    id3.add(TALB(encoding=3, text="Duo"))
    id3.add(TRCK(encoding=3, text="2/9"))
    id3.add(APIC(encoding=3, mime="image/png", type=3, desc="", data=_png()))
    id3.save(mp3, v2_version=4)
    out.append(Sample(mp3, "audio", "MP3 multi", {"artists": ARTISTS, "cover": True}))
    m4a = folder / "multi.m4a"
    shutil.copy(folder / "aac.m4a", m4a)
    mp4 = MP4(m4a)
    mp4["\xa9ART"] = ARTISTS
    mp4.save()
    out.append(Sample(m4a, "audio", "M4A multi", {"artists": ARTISTS}))
    both = folder / "v1-and-ape.mp3"  # made by _audio with neither tag
    with both.open("ab") as stream:
        stream.write(_id3v1(LONG_TITLE, "Tone", "Tests", 4))
    ape = APEv2()
    ape.update({"Title": LONG_TITLE, "Artist": "Tone", "Album": "Tests", "Track": "4"})
    ape.save(both)
    out.append(Sample(both, "audio", "MP3 v1+APE", {"title": LONG_TITLE}))
    fake = folder / "really-a-flac.mp3"
    shutil.copy(folder / "song.flac", fake)
    out.append(Sample(fake, "audio", "FLAC as .mp3", {"codec": "flac"}))
    out.append(_raw(folder / "sensor.dng"))
    return out


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return buf.getvalue()


def _id3v1(title: str, artist: str, album: str, track: int) -> bytes:
    def pad(text: str, size: int) -> bytes:
        return text.encode("latin-1")[:size].ljust(size, b"\x00")

    return (
        b"TAG" + pad(title, 30) + pad(artist, 30) + pad(album, 30) + b"2001"
        + pad("", 28) + b"\x00" + bytes([track]) + b"\xff"
    )  # fmt: skip


def _raw(path: Path) -> Sample:
    """A DNG as cameras write one: IFD0 a 64x48 preview (NewSubfileType 1), the 640x480
    sensor image in a sub-IFD (NewSubfileType 0)."""
    data = bytearray(b"II*\x00\x00\x00\x00\x00")
    strip = bytes(64 * 48 * 3)

    def ifd(entries: list[tuple[int, int, int, bytes]]) -> int:
        while len(data) % 2:
            data.append(0)
        start = len(data)
        body_at = start + 2 + 12 * len(entries) + 4
        extra = bytearray()
        table = bytearray(struct.pack("<H", len(entries)))
        for tag, kind, count, value in sorted(entries):
            if len(value) <= 4:
                table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
            else:
                table += struct.pack("<HHII", tag, kind, count, body_at + len(extra))
                extra += value + (b"\x00" if len(value) % 2 else b"")
        data.extend(table + b"\x00\x00\x00\x00" + extra)
        return start

    def short(tag: int, *values: int) -> tuple[int, int, int, bytes]:
        return (tag, 3, len(values), struct.pack(f"<{len(values)}H", *values))

    def long(tag: int, value: int) -> tuple[int, int, int, bytes]:
        return (tag, 4, 1, struct.pack("<I", value))

    def text(tag: int, value: str) -> tuple[int, int, int, bytes]:
        raw = value.encode() + b"\x00"
        return (tag, 2, len(raw), raw)

    strip_at = len(data)
    data.extend(strip)
    sensor = ifd([long(0xFE, 0), long(0x100, 640), long(0x101, 480), short(0x102, 16),
                  short(0x103, 1), short(0x106, 32803), long(0x111, strip_at), short(0x115, 1),
                  long(0x116, 480), long(0x117, len(strip))])  # fmt: skip
    version = (0xC612, 1, 4, DNG_1_4)
    first = ifd([long(0xFE, 1), long(0x100, 64), long(0x101, 48), short(0x102, 8, 8, 8),
                 short(0x103, 1), short(0x106, 2), text(0x10F, "Nikon"), text(0x110, "D850"),
                 long(0x111, strip_at), short(0x112, 1), short(0x115, 3), long(0x116, 48),
                 long(0x117, len(strip)), long(0x14A, sensor), version])  # fmt: skip
    data[4:8] = struct.pack("<I", first)
    path.write_bytes(bytes(data))
    return Sample(path, "image", "DNG", {"size": (640, 480)})


# --- the readings ----------------------------------------------------------------------


def exiftool_all(paths: list[Path]) -> dict[Path, dict[str, Any]]:
    """``exiftool -j -n`` over every file in one process, keyed by path."""
    out = subprocess.run(
        ["exiftool", "-j", "-n", "-charset", "utf8", *map(str, paths)],
        check=False,  # exit 1 when one file has a format it does not know
        capture_output=True,
        text=True,
    ).stdout
    return {Path(d["SourceFile"]): d for d in json.loads(out or "[]")}


def ffprobe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams",
         f"file:{path}"],
        check=False,
        capture_output=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(done.stdout or b"{}")
    return data


def ffprobe_all(
    samples: list[Sample], exif: dict[Path, dict[str, Any]], workers: int = 4
) -> dict[Path, dict[str, Any]]:
    """ffprobe's reading of every file the comparison needs it for (sound and video, and the
    images of unknown size exiftool gives no size for), a few processes at a time."""
    needed = [
        s.path
        for s in samples
        if s.kind != "image"
        or not ({"ImageWidth", "ImageHeight"} <= set(exif.get(s.path, {})) or s.expect)
    ]
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(needed, pool.map(ffprobe, needed), strict=True))


async def read(path: Path, time_limit: float = 30.0) -> Reading:
    """What the daemon makes of the file: its type (as the hasher sniffs it) and metadata."""
    fd = os.open(path, os.O_RDONLY)
    try:
        mime, media_type = sniff_open(fd, os.read(fd, SNIFF_BYTES), os.fsencode(path.name))
    finally:
        os.close(fd)
    reader = reader_for(media_type, mime)
    if reader is None:
        return Reading(media_type, mime, {})
    try:
        got = await extract_one(bytes(path), reader, time_limit, root=bytes(path.parent))
    except Exception as exc:  # a disagreement to report, not a crash of the comparison
        return Reading(media_type, mime, {}, f"{type(exc).__name__}: {exc}")
    if got.get("media_type") in ("audio", "video") and media_type in ("audio", "video"):
        media_type = got["media_type"]  # what ffprobe's streams say, as the stage stores it
    return Reading(media_type, mime, got)


async def read_all(paths: list[Path], workers: int = 2) -> dict[Path, Reading]:
    limit = asyncio.Semaphore(workers)

    async def one(path: Path) -> tuple[Path, Reading]:
        async with limit:
            return path, await read(path)

    return dict(await asyncio.gather(*(one(p) for p in paths)))


# --- the comparison --------------------------------------------------------------------

Check = tuple[str, str, Any, Any]  # (group, field, ours, theirs)


def compare(s: Sample, r: Reading, ex: dict[str, Any], probe: dict[str, Any]) -> list[Check]:
    """Every field a reference tool gives for this file, with ours: (group, field, ours,
    theirs), where equal means agree (``agrees`` applies the tolerances)."""
    streams = probe.get("streams") or []
    videos = [x for x in streams if x.get("codec_type") == "video"
              and not (x.get("disposition") or {}).get("attached_pic")]  # fmt: skip
    audios = [x for x in streams if x.get("codec_type") == "audio"]
    if s.kind == "image":
        theirs_type = "image"
    else:
        theirs_type = "video" if videos else "audio" if audios else "other"
    checks: list[Check] = [("type", "media_type", r.media_type, theirs_type)]
    got = r.got
    if s.kind == "image":
        checks += _image_checks(s, got, ex, videos)
    else:
        checks += _av_checks(s, got, ex, probe, videos, audios)
    return checks


def _image_checks(
    s: Sample, got: dict[str, Any], ex: dict[str, Any], videos: list[dict[str, Any]]
) -> list[Check]:
    checks: list[Check] = []
    size = s.expect.get("size")
    if size is None and "ImageWidth" in ex and "ImageHeight" in ex:
        size = (ex["ImageWidth"], ex["ImageHeight"])
    if size is None:  # what exiftool does not size, by what it was made with
        size = s.expect.get("made")
    if size is None and videos:
        size = (videos[0].get("width"), videos[0].get("height"))
    if size is not None:
        checks.append(("dimensions", "size", (got.get("width"), got.get("height")), tuple(size)))
        turned = ex.get("Orientation") in (5, 6, 7, 8)
        shown = (size[1], size[0]) if turned else tuple(size)
        ours = (got.get("display_width"), got.get("display_height"))
        checks.append(("dimensions", "display", ours, shown))
    for ours_key, key in (("camera_make", "Make"), ("camera_model", "Model")):
        if key in ex:
            checks.append(("camera", ours_key, got.get(ours_key), str(ex[key]).strip()))
    if ex.get("Orientation") in range(1, 9):  # DPX has an orientation field of its own
        checks.append(("camera", "orientation", got.get("orientation"), ex["Orientation"]))
    if "DateTimeOriginal" in ex:
        taken = got.get("taken_at")
        ours = taken.strftime("%Y:%m:%d %H:%M:%S") if isinstance(taken, datetime) else None
        checks.append(("camera", "taken", ours, str(ex["DateTimeOriginal"])[:19]))
    return checks


def _av_checks(  # noqa: PLR0917 - the readings of one file, each from its tool
    s: Sample,
    got: dict[str, Any],
    ex: dict[str, Any],
    probe: dict[str, Any],
    videos: list[dict[str, Any]],
    audios: list[dict[str, Any]],
) -> list[Check]:
    checks: list[Check] = []
    if videos:
        v = videos[0]
        checks.append(("dimensions", "size", (got.get("width"), got.get("height")),
                       (v.get("width"), v.get("height"))))  # fmt: skip
        checks.append(("stream", "video_codec", got.get("video_codec"), v.get("codec_name")))
        checks.append(("stream", "fps", got.get("fps"), _rate(v.get("avg_frame_rate"))))
    if audios:
        a = audios[0]
        checks.append(("stream", "audio_codec", got.get("audio_codec"), a.get("codec_name")))
        checks.append(("stream", "sample_rate", got.get("sample_rate"), int(a["sample_rate"])))
        checks.append(("stream", "channels", got.get("channels"), a.get("channels")))
    duration = _float((probe.get("format") or {}).get("duration"))
    if duration is not None:
        spread = abs(duration - (_float(ex.get("Duration")) or duration))
        checks.append(("stream", "duration", got.get("duration_s"), (duration, spread)))
    for ours_key, keys in (("title", ("Title",)), ("album", ("Album",))):
        theirs = next((ex[k] for k in keys if k in ex), None)
        if theirs is not None:  # exiftool leaves a 3GPP album's track byte on it
            cleaned = "".join(c for c in str(theirs) if c.isprintable())
            checks.append(("tags", ours_key, got.get(ours_key), cleaned))
    artist = ex.get("Artist", ex.get("Author"))
    if artist is not None:
        values = artist if isinstance(artist, list) else str(artist).split("; ")
        listed = got.get("extra", {}).get("artists") or (
            [got["artist"]] if got.get("artist") else []
        )
        checks.append(("tags", "artist", sorted(listed), sorted(map(str, values))))
    track = ex.get("Track", ex.get("TrackNumber"))
    fmt_name = str((probe.get("format") or {}).get("format_name"))
    if "matroska" in fmt_name or "mxf" in fmt_name:  # exiftool's TrackNumber: a stream's
        tags = {k.lower(): v for x in [probe.get("format") or {}, *audios] for k, v in
                (x.get("tags") or {}).items()}  # fmt: skip
        track = tags.get("track")
    if track is not None:
        checks.append(("tags", "track", got.get("track_number"), int(str(track).split("/")[0])))
    return checks


def _rate(text: Any) -> float | None:
    if not isinstance(text, str) or "/" not in text:
        return None
    num, _, den = text.partition("/")
    return round(int(num) / int(den), 3) if int(den) else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def agrees(check: Check) -> bool:
    _group, name, ours, theirs = check
    if name == "duration":
        duration, spread = theirs
        return ours is not None and abs(ours - duration) <= max(0.05, 1.5 * spread)
    if name == "fps":
        return theirs is None or (ours is not None and abs(ours - theirs) <= 0.01)
    if name == "artist":
        # exiftool joins ID3v2.4's values with "/" and shows one of an MP4's several.
        return bool(
            ours == theirs or theirs == ["/".join(ours)] or (theirs and set(theirs) < set(ours))
        )
    return bool(ours == theirs)


def expectations(s: Sample, r: Reading) -> list[Check]:
    """What the file was made with, where no reference tool says it."""
    out: list[Check] = []
    got = r.got
    if "artists" in s.expect:
        out.append(("tags", "artists", got.get("extra", {}).get("artists"), s.expect["artists"]))
        out.append(("tags", "artist joined", got.get("artist"), "; ".join(s.expect["artists"])))
    if "title" in s.expect:
        out.append(("tags", "title", got.get("title"), s.expect["title"]))
    if "codec" in s.expect:
        out.append(("stream", "audio_codec", got.get("audio_codec"), s.expect["codec"]))
    if "cover" in s.expect:
        out.append(("tags", "has_cover", got.get("has_cover"), s.expect["cover"]))
    if "rotation" in s.expect:
        out.append(("dimensions", "rotation", got.get("rotation"), s.expect["rotation"]))
    if "taken" in s.expect:
        taken = got.get("taken_at")
        ours = taken.isoformat() if isinstance(taken, datetime) else None
        out.append(("camera", "taken (XMP)", ours, s.expect["taken"]))
    return out


def table(rows: dict[str, dict[str, list[bool]]]) -> list[str]:
    """The agreement table by family: agreeing/compared per group."""
    lines = [f"{'format':<16}" + "".join(f"{g:>12}" for g in GROUPS)]
    totals: dict[str, list[bool]] = {g: [] for g in GROUPS}
    for family in sorted(rows):
        cells = []
        for g in GROUPS:
            marks = rows[family].get(g, [])
            totals[g] += marks
            cells.append(f"{sum(marks)}/{len(marks)}" if marks else "-")
        lines.append(f"{family:<16}" + "".join(f"{c:>12}" for c in cells))
    cells = [f"{100 * sum(m) / len(m):.1f}%" if m else "-" for m in (totals[g] for g in GROUPS)]
    lines.append(f"{'all':<16}" + "".join(f"{c:>12}" for c in cells))
    return lines


def tally(
    samples: list[Sample],
    readings: dict[Path, Reading],
    exif: dict[Path, dict[str, Any]],
    probes: dict[Path, dict[str, Any]],
) -> tuple[dict[str, dict[str, list[bool]]], list[str]]:
    """Every check of every file: the table's rows, and each disagreement as one line."""
    rows: dict[str, dict[str, list[bool]]] = {}
    wrong: list[str] = []
    for s in samples:
        r = readings[s.path]
        checks = compare(s, r, exif.get(s.path, {}), probes.get(s.path, {}))
        checks += expectations(s, r)
        for check in checks:
            ok = agrees(check)
            rows.setdefault(s.family, {}).setdefault(check[0], []).append(ok)
            if not ok:
                wrong.append(f"{s.path.name}: {check[1]}: ours {check[2]!r}, theirs {check[3]!r}"
                             + (f" ({r.error})" if r.error else ""))  # fmt: skip
    return rows, wrong
