"""Real media made here, once per test session: ffmpeg's lavfi sources, Pillow, mutagen tags.

Every file is tiny (about a second, a few dozen pixels) so building the whole set takes a
few seconds. ``expected`` holds what the fixture was made with, where a reference tool
cannot say (such as tags deliberately written in a legacy encoding).
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mutagen.aiff import AIFF
from mutagen.apev2 import APEv2
from mutagen.asf import ASF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import (
    APIC,
    ID3,
    TALB,
    TCOM,
    TCON,
    TDRC,
    TIT2,
    TPE1,
    TPE2,
    TPOS,
    TRCK,
    TXXX,
)
from mutagen.id3 import delete as id3_delete
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggspeex import OggSpeex
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

import mediaforged.extract.image  # noqa: F401 - registers the HEIF codec with Pillow

TAGS = {
    "title": "Señorita Ünïcode",
    "artist": "Björk & 坂本龍一",
    "album": "Homogenic",
    "album_artist": "Various Artists",
    "genre": "Electronic",
    "composer": "Sakamoto",
    "track": (3, 12),
    "disc": (1, 2),
    "date": "1997-09-22",
}
MBID = "8f8b9b7e-3c6a-4d5e-9f00-0123456789ab"

# (name, ffmpeg output arguments) for ~1 s of video with sound.
VIDEOS = {
    "clip.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "clip.mov": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "clip.m4v": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "clip.mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis"],
    "clip.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"],
    "clip.avi": ["-c:v", "mpeg4", "-c:a", "libmp3lame"],
    "clip.ts": ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts"],
    "clip.m2ts": ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mpegts"],
    "clip.wmv": ["-c:v", "wmv2", "-c:a", "wmav2", "-f", "asf"],
    "clip.flv": ["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"],
    "clip.3gp": ["-c:v", "h263", "-s", "176x144", "-c:a", "aac", "-ar", "8000", "-ac", "1"],
    "clip.ogv": ["-c:v", "libtheora", "-c:a", "libvorbis"],
}

AUDIO = {
    "song.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "v23.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "v1only.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "ape_tagged.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "legacy.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "song.flac": ["-c:a", "flac"],
    "song.ogg": ["-c:a", "libvorbis"],
    "song.opus": ["-c:a", "libopus"],
    "song.spx": ["-c:a", "libspeex", "-ar", "16000", "-ac", "1"],
    "song.m4a": ["-c:a", "aac"],
    "alac.m4a": ["-c:a", "alac"],
    "song.wma": ["-c:a", "wmav2", "-f", "asf"],
    "song.wav": ["-c:a", "pcm_s16le"],
    "song.aiff": ["-c:a", "pcm_s16be"],
    "song.wv": ["-c:a", "wavpack"],
    "song.tta": ["-c:a", "tta"],
}


@dataclass
class MediaSet:
    folder: Path
    videos: list[Path] = field(default_factory=list)
    audio: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    hostile: dict[str, Path] = field(default_factory=dict)
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, capture_output=True
    )


def make_video(
    path: Path, codec_args: list[str], seconds: float = 1.0, size: str = "96x64"
) -> None:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-shortest", "-metadata", "title=Holiday clip",
        "-metadata", "creation_time=2023-07-14T09:30:00.000000Z",
        *codec_args, str(path),
    )  # fmt: skip


def make_audio(path: Path, codec_args: list[str], seconds: float = 1.0) -> None:
    ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=44100:duration={seconds}",
        "-map_metadata", "-1", *codec_args, str(path),
    )  # fmt: skip


def cover_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def tag_audio(path: Path) -> None:
    """Real tags in each container's own tag system, written by mutagen."""
    t = TAGS
    name = path.name
    if name == "ape_tagged.mp3":
        ape = APEv2()
        ape.update(
            {
                "Title": t["title"],
                "Artist": t["artist"],
                "Album": t["album"],
                "Album Artist": t["album_artist"],
                "Track": "3/12",
                "Genre": t["genre"],
                "Year": "1997",
            }
        )
        ape.save(path)
        return
    if path.suffix in (".mp3", ".aiff", ".wav"):
        holder: Any = None
        if path.suffix in (".wav", ".aiff"):
            holder = WAVE(path) if path.suffix == ".wav" else AIFF(path)
            holder.add_tags()
            tags = holder.tags
        else:
            tags = ID3()
        assert tags is not None
        if name == "legacy.mp3":
            # UTF-8 bytes in a frame marked Latin-1 (what old taggers wrote), NUL padded.
            raw = (t["title"].encode("utf-8") + b"\x00\x00").decode("latin-1")
            tags.add(TIT2(encoding=0, text=[raw]))
            tags.add(TPE1(encoding=0, text=["Bj\xc3\xb6rk   "]))
            tags.save(path, v2_version=3)
            return
        tags.add(TIT2(encoding=3, text=[t["title"]]))
        tags.add(TPE1(encoding=3, text=[t["artist"]]))
        tags.add(TALB(encoding=3, text=[t["album"]]))
        tags.add(TPE2(encoding=3, text=[t["album_artist"]]))
        tags.add(TCON(encoding=3, text=[t["genre"]]))
        tags.add(TCOM(encoding=3, text=[t["composer"]]))
        tags.add(TRCK(encoding=3, text=["3/12"]))
        tags.add(TPOS(encoding=3, text=["1/2"]))
        tags.add(TDRC(encoding=3, text=[t["date"]]))
        tags.add(TXXX(encoding=3, desc="MusicBrainz Album Id", text=[MBID]))
        tags.add(TXXX(encoding=3, desc="REPLAYGAIN_TRACK_GAIN", text=["-6.50 dB"]))
        if name == "song.mp3":
            tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="", data=cover_jpeg()))
        if path.suffix == ".mp3":
            if name == "v1only.mp3":
                tags.save(path, v1=2)
                id3_delete(path, delete_v1=False, delete_v2=True)
            else:
                tags.save(path, v2_version=3 if name == "v23.mp3" else 4)
        else:
            holder.save()
        return
    if path.suffix in (".flac", ".ogg", ".opus", ".spx"):
        kinds = {".flac": FLAC, ".ogg": OggVorbis, ".opus": OggOpus, ".spx": OggSpeex}
        audio = kinds[path.suffix](path)
        if audio.tags is None:
            audio.add_tags()
        audio["TITLE"] = t["title"]
        audio["ARTIST"] = t["artist"]
        audio["ALBUM"] = t["album"]
        audio["ALBUMARTIST"] = t["album_artist"]
        audio["GENRE"] = t["genre"]
        audio["COMPOSER"] = t["composer"]
        audio["TRACKNUMBER"] = "3"
        audio["TRACKTOTAL"] = "12"
        audio["DISCNUMBER"] = "1"
        audio["DISCTOTAL"] = "2"
        audio["DATE"] = t["date"]
        audio["MUSICBRAINZ_ALBUMID"] = MBID
        audio["REPLAYGAIN_TRACK_GAIN"] = "-6.50 dB"
        if isinstance(audio, FLAC):
            pic = Picture()
            pic.type, pic.mime, pic.data = 3, "image/jpeg", cover_jpeg()
            audio.add_picture(pic)
        audio.save()
        return
    if path.suffix == ".m4a":
        mp4 = MP4(path)
        mp4["\xa9nam"] = t["title"]
        mp4["\xa9ART"] = t["artist"]
        mp4["\xa9alb"] = t["album"]
        mp4["aART"] = t["album_artist"]
        mp4["\xa9gen"] = t["genre"]
        mp4["\xa9wrt"] = t["composer"]
        mp4["trkn"] = [(3, 12)]
        mp4["disk"] = [(1, 2)]
        mp4["\xa9day"] = t["date"]
        mp4["----:com.apple.iTunes:MusicBrainz Album Id"] = [MP4FreeForm(MBID.encode())]
        mp4["covr"] = [MP4Cover(cover_jpeg(), imageformat=MP4Cover.FORMAT_JPEG)]
        mp4.save()
        return
    if path.suffix == ".wma":
        asf = ASF(path)
        asf["Title"] = t["title"]
        asf["Author"] = t["artist"]
        asf["WM/AlbumTitle"] = t["album"]
        asf["WM/AlbumArtist"] = t["album_artist"]
        asf["WM/Genre"] = t["genre"]
        asf["WM/Composer"] = t["composer"]
        asf["WM/TrackNumber"] = "3"
        asf["WM/Year"] = "1997"
        asf.save()
        return
    if path.suffix in (".wv", ".tta"):
        ape = APEv2()
        ape.update(
            {
                "Title": t["title"],
                "Artist": t["artist"],
                "Album": t["album"],
                "Album Artist": t["album_artist"],
                "Genre": t["genre"],
                "Composer": t["composer"],
                "Track": "3/12",
                "Disc": "1/2",
                "Year": t["date"],
            }
        )
        ape.save(path)
        return
    raise AssertionError(f"no tagger for {name}")


def camera_exif(orientation: int = 6) -> Image.Exif:
    r = IFDRational
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:05:01 12:34:56"
    sub[0x9011] = "+02:00"
    sub[0x829A] = r(1, 250)
    sub[0x829D] = r(28, 10)
    sub[0x8827] = 400
    sub[0x920A] = r(50, 1)
    sub[0xA434] = "EF50mm f/1.8 STM"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (r(48), r(51), r(2964, 100))
    gps[3], gps[4] = "W", (r(2), r(17), r(4012, 100))
    gps[5], gps[6] = b"\x00", r(355, 10)
    return exif


EXIFTOOL_CAMERA_ARGS = [
    "-Make=Nikon",
    "-Model=D850",
    "-Orientation#=8",
    "-DateTimeOriginal=2021:12:24 18:00:05",
    "-OffsetTimeOriginal=-05:00",
    "-ExposureTime=0.01",
    "-FNumber=4",
    "-ISO=800",
    "-FocalLength=35",
    "-LensModel=AF-S 35mm",
    "-GPSLatitude=35.6762",
    "-GPSLatitudeRef=N",
    "-GPSLongitude=139.6503",
    "-GPSLongitudeRef=E",
]


def make_images(folder: Path, media: MediaSet) -> None:
    pattern = Image.radial_gradient("L").resize((120, 80)).convert("RGB")
    jpeg = folder / "camera.jpg"
    pattern.save(jpeg, "JPEG", exif=camera_exif())
    plain = folder / "plain.jpeg"
    pattern.save(plain, "JPEG")
    png = folder / "drawing.png"
    Image.new("RGBA", (50, 30), (10, 200, 10, 128)).save(png)
    frames = [Image.new("RGB", (32, 24), (i * 100, 50, 200 - i * 60)) for i in range(3)]
    gif = folder / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    webp = folder / "anim.webp"
    rgb = [Image.new("RGB", (32, 24), (i * 80, 0, 0)) for i in range(3)]
    rgb[0].save(webp, save_all=True, append_images=rgb[1:], duration=100)
    still = folder / "still.webp"
    pattern.save(still, "WEBP", exif=camera_exif(orientation=1))
    tif = folder / "scan.tif"
    pattern.save(tif, "TIFF")
    bmp = folder / "old.bmp"
    pattern.save(bmp, "BMP")
    heic = folder / "iphone.heic"
    pattern.save(heic, "HEIF", exif=camera_exif(orientation=1))
    avif = folder / "modern.avif"
    pattern.save(avif, "AVIF")
    media.images += [jpeg, plain, png, gif, webp, still, tif, bmp, heic, avif]
    # Camera RAW stand-ins: TIFF structures with EXIF written by exiftool, and RAW magic.
    dng = folder / "raw.dng"
    pattern.save(dng, "TIFF")
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", *EXIFTOOL_CAMERA_ARGS, str(dng)],
        check=True,
        capture_output=True,
    )
    for name, magic in (("raw.orf", b"IIRO"), ("raw.rw2", b"IIU\x00"), ("raw.nef", b"II*\x00")):
        data = bytearray(dng.read_bytes())
        data[:4] = magic
        (folder / name).write_bytes(bytes(data))
        media.images.append(folder / name)
    media.images.append(dng)


def make_hostile(folder: Path, media: MediaSet) -> None:
    rng = random.Random(3)
    good_video = media.videos[0]
    good_audio = next(p for p in media.audio if p.name == "song.flac")
    good_image = next(p for p in media.images if p.name == "camera.jpg")
    h = media.hostile
    for kind, source, ext in (
        ("video", good_video, ".mp4"),
        ("audio", good_audio, ".flac"),
        ("image", good_image, ".jpg"),
    ):
        data = source.read_bytes()
        h[f"truncated_{kind}"] = folder / f"truncated-{kind}{ext}"
        h[f"truncated_{kind}"].write_bytes(data[: max(len(data) // 5, 64)])
        h[f"random_{kind}"] = folder / f"random-{kind}{ext}"
        h[f"random_{kind}"].write_bytes(rng.randbytes(4096))
        h[f"empty_{kind}"] = folder / f"empty-{kind}{ext}"
        h[f"empty_{kind}"].write_bytes(b"")
    # Extensions that lie: still read for what they are, or refused cleanly.
    h["png_as_mp3"] = folder / "picture.mp3"
    shutil.copy(next(p for p in media.images if p.name == "drawing.png"), h["png_as_mp3"])
    h["text_as_mp4"] = folder / "notes.mp4"
    h["text_as_mp4"].write_text("this is not a video\n" * 20)
    h["mp3_as_jpg"] = folder / "song.jpg"
    shutil.copy(next(p for p in media.audio if p.name == "song.mp3"), h["mp3_as_jpg"])
    # Pillow must never hand this to Ghostscript.
    h["eps_as_jpg"] = folder / "vector.jpg"
    h["eps_as_jpg"].write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n%%EOF\n"
    )
    # Decompression bombs against a limit of 1 MP (set in the tests): 1.2x (Pillow's
    # warning zone) and 9x (Pillow's error zone); 1-bit PNGs of one colour stay tiny.
    h["bomb_warn"] = folder / "bomb-warn.png"
    Image.new("1", (1200, 1000)).save(h["bomb_warn"])
    h["bomb_error"] = folder / "bomb-error.png"
    Image.new("1", (3000, 3000)).save(h["bomb_error"])
    # Names that are options or protocols to ffmpeg if passed bare.
    h["dash_name"] = folder / "-h.mp4"
    shutil.copy(good_video, h["dash_name"])
    h["protocol_name"] = folder / "concat:a|b.mp4"
    shutil.copy(good_video, h["protocol_name"])
    # A RAW file whose IFD offset points past the end.
    h["bad_raw"] = folder / "broken.cr2"
    h["bad_raw"].write_bytes(b"II*\x00" + struct.pack("<I", 1 << 30) + b"\x00" * 16)


def build(folder: Path) -> MediaSet:
    folder.mkdir(parents=True, exist_ok=True)
    media = MediaSet(folder)
    for name, args in VIDEOS.items():
        path = folder / name
        make_video(path, args)
        media.videos.append(path)
    rotated = folder / "rotated.mp4"
    ffmpeg(
        "-i", str(folder / "clip.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)
    )  # fmt: skip
    media.videos.append(rotated)
    for name, args in AUDIO.items():
        path = folder / name
        make_audio(path, args)
        tag_audio(path)
        media.audio.append(path)
    make_audio(folder / "song.mka", ["-c:a", "libvorbis"])  # audio mutagen cannot read
    (folder / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')  # unread
    media.expected["legacy.mp3"] = {"title": TAGS["title"], "artist": "Björk"}
    make_images(folder, media)
    hostile = folder / "hostile"
    hostile.mkdir()
    make_hostile(hostile, media)
    return media
