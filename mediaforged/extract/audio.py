"""Audio through mutagen: tags (ID3v1/v2, APEv2, Vorbis comments, MP4 atoms, ASF) and stream info.

Each tag system names fields its own way; ``_KEYS`` maps them onto our columns. Text goes
through ``clean_text`` (NUL padding, UTF-8 stored as Latin-1). Runs in a thread.
"""

from __future__ import annotations

import contextlib
from typing import IO, Any

import mutagen
from mutagen import MutagenError
from mutagen.apev2 import APEv2

from mediaforged.extract.common import (
    ExtractError,
    clean_text,
    iso_date,
    number_pair,
    open_media,
    to_float,
    to_int,
)

__all__ = ["extract_audio"]

# field -> keys to try, in order, across tag systems (compared case-insensitively).
_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("TIT2", "title", "©nam", "Title"),
    "artist": ("TPE1", "artist", "©ART", "Author"),
    "album": ("TALB", "album", "©alb", "WM/AlbumTitle"),
    "album_artist": ("TPE2", "albumartist", "album artist", "aART", "WM/AlbumArtist"),
    "track": ("TRCK", "tracknumber", "track", "trkn", "WM/TrackNumber"),
    "track_total": ("tracktotal", "totaltracks"),
    "disc": ("TPOS", "discnumber", "disc", "disk", "WM/PartOfSet"),
    "disc_total": ("disctotal", "totaldiscs"),
    "date": ("TDRC", "TYER", "date", "year", "©day", "WM/Year"),
    "genre": ("TCON", "genre", "©gen", "WM/Genre"),
    "composer": ("TCOM", "composer", "©wrt", "WM/Composer"),
}
_MUSICBRAINZ = {
    "musicbrainz_trackid": "recording_id",
    "musicbrainz track id": "recording_id",
    "musicbrainz/track id": "recording_id",
    "musicbrainz_albumid": "album_id",
    "musicbrainz album id": "album_id",
    "musicbrainz/album id": "album_id",
    "musicbrainz_artistid": "artist_id",
    "musicbrainz artist id": "artist_id",
    "musicbrainz/artist id": "artist_id",
    "musicbrainz_albumartistid": "album_artist_id",
    "musicbrainz album artist id": "album_artist_id",
    "musicbrainz/album artist id": "album_artist_id",
    "musicbrainz_releasetrackid": "track_id",
    "musicbrainz release track id": "track_id",
}
_COVER_KEYS = ("apic", "covr", "metadata_block_picture", "wm/picture", "cover art (front)")
_LOSSLESS = {"flac", "alac", "wav", "aiff", "ape", "wavpack", "tta", "optimfrog", "dsf", "dff"}


def extract_audio(path: bytes, *, root: bytes) -> dict[str, Any]:
    """An audio file's columns; the file is reached from ``root`` without following a link
    (mutagen reads the open stream, and takes the extension from its name)."""
    with open_media(root, path) as stream:
        return _extract_audio(stream)


def _extract_audio(stream: IO[bytes]) -> dict[str, Any]:
    try:
        audio = mutagen.File(stream)
    except MutagenError as exc:
        raise ExtractError("corrupt", f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, IndexError, KeyError, TypeError, EOFError) as exc:
        raise ExtractError("corrupt", f"{type(exc).__name__}: {exc}") from exc
    if audio is None:
        raise ExtractError("not_audio", "not an audio format mutagen reads")
    tags = _flatten(audio.tags)
    if _first(tags, _KEYS["title"]) is None and _first(tags, _KEYS["artist"]) is None:
        # MP3 and TrueAudio files may carry APEv2 tags instead of (or beside) ID3.
        with contextlib.suppress(MutagenError, ValueError, OSError):
            stream.seek(0)
            tags = {**_flatten(APEv2(stream)), **tags}  # type: ignore[no-untyped-call]
    values: dict[str, Any] = {
        key: clean_text(_first(tags, names))
        for key, names in _KEYS.items()
        if key not in ("track", "track_total", "disc", "disc_total", "date")
    }
    track, track_total = number_pair(_first_raw(tags, _KEYS["track"]))
    disc, disc_total = number_pair(_first_raw(tags, _KEYS["disc"]))
    values["track_number"] = track
    values["track_total"] = track_total or to_int(clean_text(_first(tags, _KEYS["track_total"])))
    values["disc_number"] = disc
    values["disc_total"] = disc_total or to_int(clean_text(_first(tags, _KEYS["disc_total"])))
    values["date"], values["year"] = iso_date(_first(tags, _KEYS["date"]))
    values["has_cover"] = _has_cover(audio, tags)
    values.update(_stream(audio))
    extra: dict[str, Any] = {"format": type(audio).__name__}
    mbids = {
        name: clean_text(_first(tags, (key,)))
        for key, name in _MUSICBRAINZ.items()
        if _first(tags, (key,)) is not None
    }
    if "ufid:http://musicbrainz.org" in tags:
        mbids["recording_id"] = clean_text(tags["ufid:http://musicbrainz.org"])
    if mbids:
        extra["musicbrainz"] = mbids
    gain = {
        key.split("replaygain_", 1)[1]: clean_text(value)
        for key, value in tags.items()
        if "replaygain_" in key and isinstance(value, str | bytes)
    }
    if gain:
        extra["replaygain"] = gain
    values["extra"] = extra
    return values


def _flatten(tags: Any) -> dict[str, Any]:
    """Every tag as lower-case key -> first value. ID3's TXXX:desc and MP4's ----:mean:name
    become their description, so "MusicBrainz Album Id" is found whatever the container."""
    out: dict[str, Any] = {}
    if not tags:
        return out
    try:
        items = list(tags.items())
    except (AttributeError, TypeError, ValueError):
        return out
    for key, value in items:
        name = str(key).lower()
        if name.startswith("txxx:"):
            name = name[5:]
        elif name.startswith("----:"):
            name = name.rsplit(":", 1)[-1]
        elif name.startswith("ufid:"):
            out.setdefault(name, getattr(value, "data", None))
            continue
        out.setdefault(name, _value(value))
    return out


def _value(value: Any) -> Any:
    """A frame, list or atom as its first plain value (text, number or (n, total))."""
    if hasattr(value, "text") and not isinstance(value, str | bytes):  # ID3 text frames
        value = value.text
    if isinstance(value, list):
        value = value[0] if value else None
    if hasattr(value, "value") and not isinstance(value, str | bytes):  # APE, ASF values
        value = value.value
    if hasattr(value, "text") and not isinstance(value, str | bytes):  # ID3 timestamps
        value = value.text
    return value


def _first_raw(tags: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = tags.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def _first(tags: dict[str, Any], names: tuple[str, ...]) -> Any:
    value = _first_raw(tags, names)
    if isinstance(value, tuple):
        return None
    return value


def _has_cover(audio: Any, tags: dict[str, Any]) -> bool:
    if getattr(audio, "pictures", None):  # FLAC picture blocks
        return True
    return any(key == c or key.startswith(c + ":") for key in tags for c in _COVER_KEYS)


def _stream(audio: Any) -> dict[str, Any]:
    info = audio.info
    codec = _codec(audio)
    bits = to_int(getattr(info, "bits_per_sample", None))
    return {
        "duration_s": to_float(getattr(info, "length", None)),
        "bit_rate": to_int(getattr(info, "bitrate", None)) or None,
        # Opus always decodes at 48 kHz (its header's input rate is informational).
        "sample_rate": 48000 if codec == "opus" else to_int(getattr(info, "sample_rate", None)),
        "channels": to_int(getattr(info, "channels", None)) or None,
        "bits_per_sample": bits or None,
        "audio_codec": codec,
        "lossless": codec in _LOSSLESS,
    }


def _codec(audio: Any) -> str:
    info = audio.info
    name = type(audio).__name__.lower()
    codec = getattr(info, "codec", None)  # MP4: "mp4a.40.2" or "alac"
    if name == "mp4":
        return "alac" if codec == "alac" else "aac"
    if name in ("mp3", "easymp3"):
        layer = getattr(info, "layer", 3)
        return f"mp{layer}"
    if name == "asf":
        return "wma"
    if name in ("wave", "aiff"):
        return name.replace("wave", "wav")
    if name in ("oggvorbis", "oggopus", "oggspeex", "oggflac", "oggtheora"):
        return name[3:]
    if name == "monkeysaudio":
        return "ape"
    if name == "trueaudio":
        return "tta"
    if name in ("dsdiff",):
        return "dff"
    return name
