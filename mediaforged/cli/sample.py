"""A small, real sample library for trying the daemon out and for tests.

Everything is generated locally: photos with EXIF by Pillow, a WAV by the standard
``wave`` module, and (when ffmpeg is installed) tagged MP3/FLAC tracks and a short MP4.
One photo is copied under a second name so the catalog has a duplicate to show.

Files are written to a hidden temporary name and renamed into place, so an interrupted
run never leaves a half-written file that a later run would mistake for a finished one;
existing files are left alone, which makes the builder idempotent.

Usage: ``python -m mediaforged.cli.sample DIR``
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import subprocess
import sys
import wave
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mutagen
from PIL import ExifTags, Image, ImageDraw, ImageOps

__all__ = ["SampleError", "create_sample_library", "main"]

FFMPEG_TIMEOUT = 60.0  # seconds per ffmpeg run; each one encodes about a second of media
TONE_SECONDS = 1
WAV_RATE = 22050


class SampleError(RuntimeError):
    """A sample file could not be generated."""


@dataclass(frozen=True, slots=True)
class _Photo:
    path: str
    make: str
    model: str
    taken: str  # EXIF "YYYY:MM:DD HH:MM:SS"
    sky: str
    ground: str


_PHOTOS = (
    _Photo(
        "Photos/2023/IMG_0001.jpg", "Canon", "Canon EOS 80D", "2023:07:14 10:31:00",
        sky="#1e5aa8", ground="#f2d9a0",
    ),
    _Photo(
        "Photos/2023/DSC_0042.jpg", "NIKON CORPORATION", "NIKON D750", "2023:08:02 16:05:12",
        sky="#ff8c42", ground="#2f4f2f",
    ),
    _Photo(
        "Photos/2024/Plage à Nice.jpg", "SONY", "ILCE-7M3", "2024:01:20 08:15:47",
        sky="#87ceeb", ground="#c2b280",
    ),
)  # fmt: skip
_DUPLICATE = ("Photos/2023/IMG_0001.jpg", "Photos/Backup/IMG_0001 (copy).jpg")


@dataclass(frozen=True, slots=True)
class _Track:
    path: str
    codec: tuple[str, ...]  # ffmpeg audio encoder arguments
    title: str
    number: int
    required: bool  # libmp3lame is an optional ffmpeg component; FLAC is built in


_ALBUM = "Music/Sample Artist/Sample Album"
_TRACKS = (
    _Track(
        f"{_ALBUM}/01 - First Tone.mp3",
        ("-c:a", "libmp3lame", "-b:a", "64k"),
        "First Tone",
        1,
        False,
    ),
    _Track(f"{_ALBUM}/02 - Second Tone.flac", ("-c:a", "flac"), "Second Tone", 2, True),
)
_VIDEO = "Videos/Test Pattern.mp4"
_VIDEO_CODECS = (["-c:v", "libx264", "-pix_fmt", "yuv420p"], ["-c:v", "mpeg4", "-q:v", "5"])
_README = """\
mediaforged sample library
==========================

Photos/    JPEG photos with camera EXIF, a PNG, an animated GIF and a duplicate backup
Music/     a WAV test tone and, when ffmpeg is available, tagged MP3 and FLAC tracks
Videos/    a one-second test pattern (ffmpeg only)
Documents/ this file
"""


@dataclass(slots=True)
class _Result:
    files: list[tuple[Path, bool]] = field(default_factory=list)  # (path, made by this run)
    skipped: list[str] = field(default_factory=list)


def create_sample_library(dest: Path) -> list[Path]:
    """Create (idempotently: skip files that exist) a small library under dest; return the files."""
    return [path for path, _made in _build(Path(dest)).files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mediaforged.cli.sample",
        description="Create a small sample media library (existing files are kept).",
    )
    parser.add_argument("dest", type=Path, metavar="DIR", help="folder to create it in")
    args = parser.parse_args(argv)
    dest: Path = args.dest
    try:
        result = _build(dest)
    except (OSError, SampleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    made = 0
    for path, was_made in result.files:
        made += was_made
        print(f"{'made' if was_made else 'kept'}  {path.relative_to(dest)}")
    for note in result.skipped:
        print(f"skip  {note}")
    print(f"{made} file(s) made, {len(result.files) - made} already present, in {dest}")
    return 0


def _build(dest: Path) -> _Result:
    result = _Result()

    def add(relative: str, write: Callable[[Path], object]) -> None:
        path = dest / relative
        result.files.append((path, _create(path, write)))

    for photo in _PHOTOS:
        add(photo.path, functools.partial(_write_photo, photo))
    add("Photos/Screenshots/diagram.png", _write_png)
    add("Photos/animation.gif", _write_gif)
    source, copy = _DUPLICATE
    add(copy, lambda tmp: shutil.copyfile(dest / source, tmp))
    add("Music/Test Tones/tone-440Hz.wav", _write_wav)
    add("Documents/README.txt", lambda tmp: tmp.write_text(_README, encoding="utf-8"))

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        result.skipped.append("MP3, FLAC and MP4 samples: ffmpeg is not installed")
        return result
    for track in _TRACKS:
        try:
            add(track.path, functools.partial(_write_track, ffmpeg, track))
        except SampleError:
            if track.required:
                raise
            result.skipped.append(f"{track.path}: this ffmpeg cannot encode it")
    add(_VIDEO, lambda tmp: _write_video(ffmpeg, tmp))
    return result


def _create(path: Path, write: Callable[[Path], object]) -> bool:
    """Write path through a temporary sibling unless it exists; True if it was written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # The prefix keeps the extension, which Pillow and ffmpeg use to pick the format.
    tmp = path.with_name(f".partial-{path.name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _write_photo(photo: _Photo, tmp: Path) -> None:
    width, height = 320, 240
    gradient = Image.linear_gradient("L").resize((width, height))
    image = ImageOps.colorize(gradient, black=photo.sky, white=photo.ground)
    draw = ImageDraw.Draw(image)
    draw.ellipse((220, 30, 280, 90), fill="#fff4c2")
    draw.rectangle((0, 180, width, height), fill=photo.ground)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = photo.make
    exif[ExifTags.Base.Model] = photo.model
    exif[ExifTags.Base.DateTime] = photo.taken
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = photo.taken
    image.save(tmp, format="JPEG", quality=85, exif=exif)


def _write_png(tmp: Path) -> None:
    image = Image.new("RGB", (200, 120), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 40, 60, 80), outline="black", width=2)
    draw.rectangle((140, 40, 190, 80), outline="black", width=2)
    draw.line((60, 60, 140, 60), fill="#c00000", width=3)
    image.save(tmp, format="PNG")


def _write_gif(tmp: Path) -> None:
    frames = []
    for step in range(4):
        frame = Image.new("P", (64, 64), 0)
        frame.putpalette([255, 255, 255, 30, 90, 170])
        ImageDraw.Draw(frame).ellipse((4 + 12 * step, 22, 24 + 12 * step, 42), fill=1)
        frames.append(frame)
    frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=150, loop=0)


def _write_wav(tmp: Path) -> None:
    amplitude = 0.4 * 32767
    samples = array(
        "h",
        (
            round(amplitude * math.sin(2 * math.pi * 440 * n / WAV_RATE))
            for n in range(WAV_RATE * TONE_SECONDS)
        ),
    )
    if sys.byteorder == "big":  # WAV data is little-endian
        samples.byteswap()
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        out.writeframes(samples.tobytes())


def _write_track(ffmpeg: str, track: _Track, tmp: Path) -> None:
    frequency = 440 + 110 * track.number
    source = f"sine=frequency={frequency}:duration={TONE_SECONDS}:sample_rate=44100"
    _run_ffmpeg(ffmpeg, ["-f", "lavfi", "-i", source, *track.codec], tmp)
    _tag(tmp, title=track.title, number=track.number)


def _tag(path: Path, *, title: str, number: int) -> None:
    audio = mutagen.File(path, easy=True)  # easy: the same keys for ID3 and Vorbis comments
    if audio is None:
        raise SampleError(f"mutagen does not recognise {path.name}")
    if audio.tags is None:
        audio.add_tags()
    audio["title"] = title
    audio["artist"] = "Sample Artist"
    audio["album"] = "Sample Album"
    audio["tracknumber"] = str(number)
    audio["date"] = "2024"
    audio.save()


def _write_video(ffmpeg: str, tmp: Path) -> None:
    inputs = [
        "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10",
        "-f", "lavfi", "-i", "sine=frequency=660:duration=1",
    ]  # fmt: skip
    errors = []
    for codec in _VIDEO_CODECS:  # libx264 is optional in ffmpeg builds; mpeg4 is built in
        try:
            _run_ffmpeg(ffmpeg, [*inputs, *codec, "-c:a", "aac", "-b:a", "48k", "-shortest"], tmp)
            return
        except SampleError as exc:
            errors.append(str(exc))
    raise SampleError("; ".join(errors))


def _run_ffmpeg(ffmpeg: str, args: list[str], out: Path) -> None:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args, str(out)]
    try:
        proc = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SampleError(f"ffmpeg timed out making {out.name}") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise SampleError(f"ffmpeg exited {proc.returncode} making {out.name}: {detail[0]}")


if __name__ == "__main__":
    raise SystemExit(main())
