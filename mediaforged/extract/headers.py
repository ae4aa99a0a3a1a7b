"""Stream figures from a format's own header where mutagen's are missing or wrong, so that
ffprobe (a process of its own per file, the metadata stage's main cost) is asked only when
nothing here can tell: an ADPCM WAV's codec and length (``fmt `` and ``fact`` chunks;
mutagen counts its blocks as PCM samples), a TTA's channels and bits (mutagen reads
neither), a WavPack's channels (mutagen gives a flag, and assumes stereo for a file of
several blocks).
"""

from __future__ import annotations

import struct
from typing import IO, Any

__all__ = ["own_figures"]

# WAVE format tag -> ffprobe's codec name, for the codecs whose length the fact chunk gives.
_WAVE_CODECS = {0x02: "adpcm_ms", 0x11: "adpcm_ima_wav"}
_MAX_CHUNKS = 64
_WV_MONO, _WV_INITIAL, _WV_FINAL = 0x4, 0x800, 0x1000


def own_figures(kind: str, stream: IO[bytes], offset: int = 0) -> dict[str, Any]:
    """The figures the header of ``kind`` (mutagen's class name) gives; empty when it gives
    none or is not what it should be. ``offset``: where the header starts (after an ID3v2)."""
    stream.seek(offset)
    head = stream.read(32)
    if kind == "WAVE":
        return _wave(stream)
    if kind == "TrueAudio" and len(head) >= 10 and head[:4] == b"TTA1":
        channels, bits = struct.unpack("<HH", head[6:10])
        return {"channels": channels or None, "bits_per_sample": bits or None}
    if kind == "WavPack" and len(head) >= 28 and head[:4] == b"wvpk":
        flags = struct.unpack("<I", head[24:28])[0]
        if flags & _WV_INITIAL and flags & _WV_FINAL:  # one block: a mono or stereo file
            return {"channels": 1 if flags & _WV_MONO else 2}
    return {}


def _wave(stream: IO[bytes]) -> dict[str, Any]:
    """An IMA or MS ADPCM WAV's codec, rate, channels and length (the fact chunk's sample
    count, as ffprobe reads it)."""
    stream.seek(0)
    header = stream.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return {}
    fmt: tuple[int, ...] | None = None
    samples: int | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        stream.seek(pos)
        chunk = stream.read(24)
        if len(chunk) < 8:
            break
        kind, size = chunk[:4], struct.unpack("<I", chunk[4:8])[0]
        if kind == b"fmt " and len(chunk) >= 24:
            fmt = struct.unpack("<HHIIHH", chunk[8:24])
        elif kind == b"fact" and len(chunk) >= 12:
            samples = struct.unpack("<I", chunk[8:12])[0]
        elif kind == b"data":
            break
        pos += 8 + size + (size & 1)
    if fmt is None or fmt[0] not in _WAVE_CODECS or not samples or not fmt[1] or not fmt[2]:
        return {}
    tag, channels, rate, _byte_rate, _block, bits = fmt
    return {
        "audio_codec": _WAVE_CODECS[tag],
        "channels": channels,
        "sample_rate": rate,
        "bits_per_sample": bits or None,
        "duration_s": samples / rate,
        "lossless": False,
    }
