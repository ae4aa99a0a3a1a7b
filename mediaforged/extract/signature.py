"""Signatures of one file's content, for the duplicate tiers beyond the same bytes.

- image: ``content`` is the SHA-256 of the decoded pixels as shown (after the EXIF
  orientation: a copy rotated in its pixels and one rotated by its tag are the same picture),
  ``phash`` the 64-bit DCT perceptual hash (imagehash) of the same pixels, ``encoding`` what
  encoded it (format, and a JPEG's quantisation tables): two files of the same size and the
  same encoding whose pixels differ are frames of a burst, never ``near``.
- audio: one ffmpeg decode (16-bit, 44.1 kHz, stereo) streamed through ``fpcalc`` (Chromaprint)
  yields ``content`` (the SHA-256 of the samples: a retagged file is the same), the raw
  fingerprint and a waveform of ``WAVEFORM_PEAKS`` min/max pairs.
- video: ``content`` is a hash of the streams' packets (a remux or a retag is the same),
  ``frames`` the pHashes of frames at fixed fractions of the duration.

Measured on the calibration set of bench/bench_similar.py (see its docstring for the figures):
pHash 3.9 ms an image, dHash 2.8 ms, PDQ (pdqhash) 11 ms; PDQ put 5 % crops 34-84 bits of 256
away, as far as burst frames, pHash kept them within 12 of 64. Pure functions of a path, run in
threads (the audio pass) or as subprocesses (ffmpeg); no catalog.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import io
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import imagehash
from PIL import Image, ImageOps

from mediaforged.extract.common import ExtractError, open_media, open_media_fd
from mediaforged.extract.image import open_image
from mediaforged.extract.tools import die_with, fd_url, run_tool

__all__ = [
    "FRAME_FRACTIONS",
    "WAVEFORM_PEAKS",
    "Signature",
    "audio_signature",
    "hamming",
    "image_signature",
    "phash_of",
    "signed64",
    "video_signature",
]

WAVEFORM_PEAKS = 200  # min/max pairs, whatever the length
FRAME_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
_RATE, _CHANNELS = 44100, 2
_FINGERPRINT_S = 1200  # Chromaprint of the first 20 minutes (a long recording is still one)
_CHUNK = 1 << 16


@dataclass
class Signature:
    content: str | None = None
    phash: int | None = None  # signed 64-bit (SQL BIGINT)
    encoding: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fingerprint: list[int] | None = None
    frames: list[int] | None = None
    waveform: list[list[int]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


def phash_of(img: Image.Image) -> int:
    """The 64-bit pHash of an image, as a signed integer."""
    bits = imagehash.phash(img).hash.flatten()
    return signed64(int("".join("1" if b else "0" for b in bits), 2))


def _encoding(img: Image.Image) -> str:
    fmt = img.format or "?"
    tables = getattr(img, "quantization", None)
    if tables:
        raw = repr(sorted((k, list(v)) for k, v in tables.items())).encode()
        return f"{fmt}:{hashlib.sha256(raw).hexdigest()[:16]}"
    return f"{fmt}:{img.mode}"


def image_signature(path: bytes, *, root: bytes) -> Signature:
    """The first frame's pixels as shown, hashed exactly and perceptually."""
    with open_media(root, path) as stream, open_image(stream) as img:
        encoding = _encoding(img)
        img.load()
        shown = ImageOps.exif_transpose(img).convert("RGB")
    digest = hashlib.sha256(b"%dx%d:" % shown.size)
    digest.update(shown.tobytes())
    return Signature(
        content=digest.hexdigest(),
        phash=phash_of(shown),
        encoding=encoding,
        width=shown.width,
        height=shown.height,
    )


def _peaks(blocks: list[tuple[int, int]], count: int) -> list[list[int]]:
    """``count`` [min, max] pairs from the fine blocks (fewer blocks: one pair each)."""
    if not blocks:
        return []
    if len(blocks) <= count:
        return [[lo, hi] for lo, hi in blocks]
    out = []
    for i in range(count):
        part = blocks[i * len(blocks) // count : (i + 1) * len(blocks) // count]
        out.append([min(p[0] for p in part), max(p[1] for p in part)])
    return out


def _pump(
    src: Any, fpcalc: subprocess.Popen[bytes], digest: Any, blocks: list[tuple[int, int]]
) -> int:
    tail = b""
    total = 0
    while chunk := src.read(_CHUNK):
        total += len(chunk)
        digest.update(chunk)
        if fpcalc.stdin is not None:
            try:
                fpcalc.stdin.write(chunk)
            except BrokenPipeError:  # fpcalc stops at its length: the rest is only hashed
                fpcalc.stdin = None
        data = tail + chunk
        usable = len(data) - len(data) % 4
        tail = data[usable:]
        samples = array.array("h", data[:usable])
        mono = samples[0::2]  # the left channel is enough to draw
        for at in range(0, len(mono), 1024):  # 23 ms blocks
            part = mono[at : at + 1024]
            blocks.append((min(part), max(part)))
    if fpcalc.stdin is not None:
        fpcalc.stdin.close()
    return total


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.kill()


def audio_signature(
    path: bytes, *, root: bytes, time_limit: float, ffmpeg: str = "ffmpeg", fpcalc: str = "fpcalc"
) -> Signature:
    """One decode of the first audio stream: the samples' hash, Chromaprint and waveform.
    Blocking (run it in a thread); both children are killed past ``time_limit``."""
    fd = open_media_fd(root, path)
    procs: list[subprocess.Popen[bytes]] = []
    timer = threading.Timer(time_limit, _kill_all, (procs,))
    began = time.monotonic()
    try:
        dec: list[str | bytes] = [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-i",
            fd_url(fd),
            "-map",
            "0:a:0",
            "-vn",
        ]
        dec += ["-ac", str(_CHANNELS), "-ar", str(_RATE), "-f", "s16le", "-"]
        fp = [fpcalc, "-raw", "-plain", "-length", str(_FINGERPRINT_S), "-format", "s16le"]
        fp += ["-rate", str(_RATE), "-channels", str(_CHANNELS), "-"]
        tie = die_with(os.getpid())  # two syscalls in the child, no lock taken
        try:
            procs.append(
                subprocess.Popen(
                    dec,
                    pass_fds=(fd,),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    preexec_fn=tie,  # noqa: PLW1509 - die_with is safe with threads
                )
            )
            procs.append(
                subprocess.Popen(
                    fp,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=tie,  # noqa: PLW1509 - die_with is safe with threads
                )
            )
        except FileNotFoundError as exc:
            raise ExtractError("no_tool", f"{exc.filename} is not installed") from exc
        timer.start()
        decoder, printer = procs
        digest = hashlib.sha256()
        blocks: list[tuple[int, int]] = []
        total = _pump(decoder.stdout, printer, digest, blocks)
        errors = decoder.stderr.read() if decoder.stderr else b""
        out = printer.stdout.read() if printer.stdout else b""
        decoder.wait()
        printer.wait()
    finally:
        timer.cancel()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        os.close(fd)
    if time.monotonic() - began >= time_limit:
        raise ExtractError("timeout", f"decoding took longer than {time_limit:g}s")
    if decoder.returncode != 0 or not blocks:
        lines = errors.decode("utf-8", "replace").strip().splitlines()
        raise ExtractError("corrupt", f"ffmpeg: {lines[-1][:300] if lines else 'no audio'}")
    text = out.decode("ascii", "replace").strip()
    prints = [int(v) for v in text.split(",") if v.strip().isdigit()] if text else []
    return Signature(
        content=digest.hexdigest(),
        duration_s=round(total / (2 * _CHANNELS * _RATE), 3),
        fingerprint=prints,
        waveform=_peaks(blocks, WAVEFORM_PEAKS),
    )


async def video_signature(
    path: bytes, duration: float | None, time_limit: float, ffmpeg: str = "ffmpeg", *, root: bytes
) -> Signature:
    """The packets' hash and the pHashes of frames at ``FRAME_FRACTIONS`` of the duration."""
    fd = await asyncio.to_thread(open_media_fd, root, path)
    try:
        base: list[str | bytes] = [ffmpeg, "-v", "error", "-nostdin", "-hide_banner"]
        args = [*base, "-i", fd_url(fd), "-map", "0:v", "-map", "0:a?", "-c", "copy"]
        packets = await run_tool(
            [*args, "-f", "streamhash", "-hash", "sha256", "-"], time_limit, (fd,)
        )
        frames: list[int] = []
        if duration and duration > 0:
            for fraction in FRAME_FRACTIONS:
                grab = [*base, "-ss", f"{duration * fraction:.3f}", "-i", fd_url(fd), "-an"]
                grab += ["-frames:v", "1", "-vf", "scale=256:-2", "-f", "image2pipe"]
                png = await run_tool([*grab, "-c:v", "png", "-"], time_limit, (fd,))
                if png:
                    with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
                        frames.append(phash_of(img.convert("RGB")))
    finally:
        os.close(fd)
    return Signature(
        content=hashlib.sha256(packets).hexdigest() if packets else None,
        frames=frames or None,
        phash=frames[len(frames) // 2] if frames else None,
        duration_s=duration,
    )
