"""Audio through mutagen: tags (ID3v1/v2, APEv2, Vorbis comments, MP4 atoms, ASF) and stream info.

Each tag system names fields its own way; ``_KEYS`` maps them onto our columns. Text goes
through ``clean_text`` (NUL padding, UTF-8 stored as Latin-1). Runs in a thread.

The file's sniffed type picks mutagen's reader (a FLAC named ``.mp3`` is read as FLAC, not
guessed from its name). Several tags in one file rank ID3v2 > APEv2 > ID3v1 (whose fields
are cut at 30 bytes). A multi-valued field keeps every value: the list in ``extra`` and the
values joined by "; " in the column. Codecs are named as ffprobe names them. Where
mutagen's stream figures are known to be wrong (ADPCM and other non-PCM WAV, AAC that may
carry SBR or PS: HE-AAC's rate and channels are in the bitstream) or missing, the format's
own header is read (``headers.py``), and when that cannot tell either the result says
``PROBE`` and ``read.py`` takes them from ffprobe.
"""

from __future__ import annotations

import contextlib
from typing import IO, Any

import mutagen
from mutagen import FileType, MutagenError
from mutagen.aac import AAC
from mutagen.ac3 import AC3
from mutagen.aiff import AIFF
from mutagen.apev2 import APETextValue, APEv2
from mutagen.asf import ASF
from mutagen.dsdiff import DSDIFF
from mutagen.dsf import DSF
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.monkeysaudio import MonkeysAudio
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.musepack import Musepack
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggspeex import OggSpeex
from mutagen.oggvorbis import OggVorbis
from mutagen.optimfrog import OptimFROG
from mutagen.smf import SMF
from mutagen.tak import TAK
from mutagen.trueaudio import TrueAudio
from mutagen.wave import WAVE
from mutagen.wavpack import WavPack

from mediaforged.extract.assets import asset_tags
from mediaforged.extract.common import (
    ExtractError,
    clean_text,
    iso_date,
    join_values,
    number_pair,
    open_media,
    to_float,
    to_int,
)
from mediaforged.extract.headers import own_figures
from mediaforged.extract.riff import riff_info
from mediaforged.fs.mediatype import SNIFF_BYTES, sniff

__all__ = ["MUTAGEN_TYPES", "PROBE", "extract_audio"]

PROBE = "probe_streams"  # key of a result whose stream figures ffprobe must give

# Sniffed MIME type -> the mutagen readers for it (tried in order); others: mutagen's guess.
_READERS: dict[str, tuple[type[FileType], ...]] = {
    "audio/mpeg": (MP3,),
    "audio/flac": (FLAC,),
    "audio/ogg": (OggVorbis, OggFLAC, OggSpeex),
    "audio/opus": (OggOpus,),
    "audio/mp4": (MP4,),
    "audio/3gpp": (MP4,),
    "audio/3gpp2": (MP4,),
    "audio/x-ms-wma": (ASF,),
    "audio/wav": (WAVE,),
    "audio/x-aiff": (AIFF,),
    "audio/x-ape": (MonkeysAudio,),
    "audio/x-wavpack": (WavPack,),
    "audio/x-musepack": (Musepack,),
    "audio/x-tta": (TrueAudio,),
    "audio/x-optimfrog": (OptimFROG,),
    "audio/x-dsf": (DSF,),
    "audio/x-dff": (DSDIFF,),
    "audio/aac": (AAC,),
    "audio/ac3": (AC3,),
    "audio/eac3": (AC3,),
    "audio/x-tak": (TAK,),
    "audio/midi": (SMF,),
}
MUTAGEN_TYPES = frozenset(_READERS)  # what the audio extractor reads (read.py routes the rest)
# Kinds whose own tags are ID3 and that may carry APEv2 (and ID3v1) beside them.
_APE_TOO = (MP3, TrueAudio, AAC)
# Fields that may hold several values: their lists go to ``extra`` under these names.
_MULTI = {"artist": "artists", "album_artist": "album_artists", "genre": "genres"}
_MULTI["composer"] = "composers"
# WAVE format tags mutagen's duration is right for (PCM, IEEE float, extensible).
_WAVE_PCM = frozenset({1, 3, 0xFFFE})
_ASF_CODECS = (
    ("Professional", "wmapro"),
    ("Lossless", "wmalossless"),
    ("Voice", "wmavoice"),
    ("Audio 9 Standard", "wmav2"),
    ("Audio Standard", "wmav1"),
)
_MP4_CODECS = {"alac": "alac", "ac-3": "ac3", "ec-3": "eac3", "flac": "flac", "opus": "opus"}
_MP4_CODECS |= {"samr": "amr_nb", "sawb": "amr_wb"}  # AMR in 3GPP

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
_LOSSLESS = {"flac", "alac", "ape", "wavpack", "tta", "optimfrog", "tak", "wmalossless"}


def extract_audio(path: bytes, *, root: bytes) -> dict[str, Any]:
    """An audio file's columns; the file is reached from ``root`` without following a link
    (mutagen reads the open stream)."""
    with open_media(root, path) as stream:
        mime, _ = sniff(stream.read(SNIFF_BYTES), path.rsplit(b"/", 1)[-1])
        stream.seek(0)
        return _extract_audio(stream, mime)


def _open(stream: IO[bytes], mime: str) -> Any:
    """mutagen's reader for the sniffed type; its guess only for types we do not map."""
    readers = _READERS.get(mime)
    try:
        if readers is None:
            return mutagen.File(stream)
        for index, reader in enumerate(readers):
            stream.seek(0)
            try:
                return reader(stream)
            except MutagenError:
                if index == len(readers) - 1:
                    raise
    except (MutagenError, ValueError, IndexError, KeyError, TypeError, EOFError) as exc:
        raise ExtractError("corrupt", f"{type(exc).__name__}: {exc}") from exc
    return None


def _sources(audio: Any, stream: IO[bytes]) -> list[dict[str, list[Any]]]:
    """The file's tags, best first: ID3v2, then APEv2, then what mutagen merged (ID3v1)."""
    tags = _flatten(audio.tags)
    if isinstance(audio, WAVE):  # ID3 chunk first, then the RIFF INFO list
        return [tags, riff_info(stream)]
    if isinstance(audio, MP4):  # iTunes atoms first, then 3GPP's own boxes (titl, albm...)
        return [tags, asset_tags(stream)]
    if not isinstance(audio, _APE_TOO):
        return [tags]
    found: list[dict[str, list[Any]]] = []
    with contextlib.suppress(MutagenError, ValueError, OSError, EOFError):
        stream.seek(0)
        found.append(_flatten(ID3(stream, load_v1=False)))  # type: ignore[no-untyped-call]
    with contextlib.suppress(MutagenError, ValueError, OSError, EOFError):
        stream.seek(0)
        found.append(_flatten(APEv2(stream)))  # type: ignore[no-untyped-call]
    return [*found, tags]


def _extract_audio(stream: IO[bytes], mime: str) -> dict[str, Any]:
    audio = _open(stream, mime)
    if audio is None:
        raise ExtractError("not_audio", "not an audio format mutagen reads")
    sources = _sources(audio, stream)
    extra: dict[str, Any] = {"format": type(audio).__name__}
    values: dict[str, Any] = {}
    for key, names in _KEYS.items():
        if key in ("track", "track_total", "disc", "disc_total", "date"):
            continue
        texts = _texts(sources, names)
        values[key] = join_values(texts)
        if key in _MULTI and len(texts) > 1:
            extra[_MULTI[key]] = texts
    track, track_total = number_pair(_first_raw(sources, _KEYS["track"]))
    disc, disc_total = number_pair(_first_raw(sources, _KEYS["disc"]))
    values["track_number"] = track
    values["track_total"] = track_total or to_int(clean_text(_first(sources, _KEYS["track_total"])))
    values["disc_number"] = disc
    values["disc_total"] = disc_total or to_int(clean_text(_first(sources, _KEYS["disc_total"])))
    values["date"], values["year"] = iso_date(_first(sources, _KEYS["date"]))
    values["has_cover"] = _has_cover(audio, sources)
    values.update(_stream(audio))
    if values.get(PROBE):  # the format's own header may settle what mutagen cannot
        offset = getattr(audio.tags, "size", 0) if isinstance(audio.tags, ID3) else 0
        own = own_figures(type(audio).__name__, stream, offset)
        values.update(own)
        if own and None not in (values["duration_s"], values["sample_rate"], values["channels"]):
            del values[PROBE]
    mbids = {
        name: clean_text(_first(sources, (key,)))
        for key, name in _MUSICBRAINZ.items()
        if _first(sources, (key,)) is not None
    }
    ufid = _first_raw(sources, ("ufid:http://musicbrainz.org",))
    if ufid is not None:
        mbids["recording_id"] = clean_text(ufid)
    if mbids:
        extra["musicbrainz"] = mbids
    gain = {
        key.split("replaygain_", 1)[1]: clean_text(found[0])
        for tags in reversed(sources)
        for key, found in tags.items()
        if "replaygain_" in key and found and isinstance(found[0], str | bytes)
    }
    if gain:
        extra["replaygain"] = gain
    values["extra"] = extra
    return values


def _flatten(tags: Any) -> dict[str, list[Any]]:
    """Every tag as lower-case key -> its values. ID3's TXXX:desc and MP4's ----:mean:name
    become their description, so "MusicBrainz Album Id" is found whatever the container."""
    out: dict[str, list[Any]] = {}
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
            out.setdefault(name, []).append(getattr(value, "data", None))
            continue
        out.setdefault(name, []).extend(_values(value))
    return out


def _values(value: Any) -> list[Any]:
    """A frame, list or atom as its plain values (text, numbers or (n, total))."""
    if hasattr(value, "text") and not isinstance(value, str | bytes):  # ID3 text frames
        value = value.text
    if isinstance(value, APETextValue):  # NUL-separated values
        value = list(value)
    elif hasattr(value, "value") and not isinstance(value, str | bytes | list):  # APE binary
        value = value.value
    items = value if isinstance(value, list) else [value]
    return [_plain(item) for item in items]


def _plain(item: Any) -> Any:
    if hasattr(item, "value") and not isinstance(item, str | bytes):  # ASF attributes
        item = item.value
    if hasattr(item, "text") and not isinstance(item, str | bytes):  # ID3 timestamps
        item = item.text
    return item


def _first_raw(sources: list[dict[str, list[Any]]], names: tuple[str, ...]) -> Any:
    for tags in sources:
        for name in names:
            for value in tags.get(name.lower(), ()):
                if value not in (None, ""):
                    return value
    return None


def _first(sources: list[dict[str, list[Any]]], names: tuple[str, ...]) -> Any:
    value = _first_raw(sources, names)
    return None if isinstance(value, tuple) else value


def _texts(sources: list[dict[str, list[Any]]], names: tuple[str, ...]) -> list[str]:
    """Every value of the first tag that has one (in the best source), cleaned, no repeats."""
    for tags in sources:
        for name in names:
            texts = [clean_text(v) for v in tags.get(name.lower(), ()) if not isinstance(v, tuple)]
            kept = list(dict.fromkeys(t for t in texts if t))
            if kept:
                return kept
    return []


def _has_cover(audio: Any, sources: list[dict[str, list[Any]]]) -> bool:
    if getattr(audio, "pictures", None):  # FLAC picture blocks
        return True
    return any(
        key == c or key.startswith(c + ":") for tags in sources for key in tags for c in _COVER_KEYS
    )


def _stream(audio: Any) -> dict[str, Any]:
    info = audio.info
    codec = _codec(audio)
    bits = to_int(getattr(info, "bits_per_sample", None))
    rate = 48000 if codec == "opus" else to_int(getattr(info, "sample_rate", None))
    values: dict[str, Any] = {
        "duration_s": to_float(getattr(info, "length", None)) or None,  # 0: unknown
        "bit_rate": to_int(getattr(info, "bitrate", None)) or None,
        # Opus always decodes at 48 kHz (its header's input rate is informational).
        "sample_rate": rate or None,
        "channels": to_int(getattr(info, "channels", None)) or None,
        "bits_per_sample": bits or None,
        "audio_codec": codec,
        "lossless": codec in _LOSSLESS or codec.startswith(("pcm_", "dsd_")),
    }
    if _doubtful(audio, codec, values):
        values[PROBE] = True
    return values


def _doubtful(audio: Any, codec: str, values: dict[str, Any]) -> bool:
    """mutagen's figures cannot be trusted here: ffprobe's are taken instead."""
    if isinstance(audio, WAVE) and getattr(audio.info, "audio_format", 1) not in _WAVE_PCM:
        return True  # ADPCM and friends: mutagen counts blocks as PCM samples
    if codec in ("aac", "ac3", "eac3", "amr_nb", "amr_wb"):
        # AAC: HE-AAC may be signalled only in the bitstream (twice the rate, PS stereo), and
        # an MP4 sample entry's channel count is often 2 whatever the decoder config says;
        # AC-3: dual mono and the LFE channel; AMR: a sample entry's rate and channels are
        # fixed fields. ffprobe reads what the decoder will output.
        return True
    if isinstance(audio, SMF):
        return False  # MIDI: nothing else reads it
    return None in (values["duration_s"], values["sample_rate"], values["channels"])


def _codec(audio: Any) -> str:
    """The codec as ffprobe names it (``codec_name``)."""
    info = audio.info
    if isinstance(audio, MP4):
        codec = str(getattr(info, "codec", "") or "").lower()
        if codec.startswith("mp4a.6b") or codec.startswith("mp4a.69"):
            return "mp3"
        return _MP4_CODECS.get(codec, "aac")
    if isinstance(audio, MP3):
        return f"mp{getattr(info, 'layer', 3)}"
    if isinstance(audio, ASF):
        return _asf_codec(audio)
    if isinstance(audio, WAVE | AIFF):
        return _pcm(audio)
    if isinstance(audio, AC3):
        return "eac3" if getattr(info, "codec", "") == "ec-3" else "ac3"
    if isinstance(audio, Musepack):
        return "musepack8" if getattr(info, "version", 7) >= 8 else "musepack7"
    return _SIMPLE_CODECS.get(type(audio), type(audio).__name__.lower())


_SIMPLE_CODECS: dict[type[FileType], str] = {
    FLAC: "flac",
    OggFLAC: "flac",
    OggVorbis: "vorbis",
    OggOpus: "opus",
    OggSpeex: "speex",
    MonkeysAudio: "ape",
    WavPack: "wavpack",
    TrueAudio: "tta",
    OptimFROG: "optimfrog",
    DSF: "dsd_lsbf_planar",
    DSDIFF: "dsd_msbf",
    AAC: "aac",
    TAK: "tak",
    SMF: "midi",
}


def _asf_codec(audio: Any) -> str:
    # mutagen gives the codec's name from its table ("Windows Media Audio 9 Standard").
    name = str(getattr(audio.info, "codec_type", "") or "")
    for words, codec in _ASF_CODECS:
        if words in name:
            return codec
    return "wmav2"


def _pcm(audio: Any) -> str:
    """WAVE and AIFF PCM as ffprobe names it: pcm_s16le, pcm_u8, pcm_f32le, pcm_s24be..."""
    bits = to_int(getattr(audio.info, "bits_per_sample", None)) or 16
    if isinstance(audio, AIFF):
        return "pcm_s8" if bits == 8 else f"pcm_s{bits}be"
    if getattr(audio.info, "audio_format", 1) == 3:
        return f"pcm_f{bits}le"
    return "pcm_u8" if bits == 8 else f"pcm_s{bits}le"
