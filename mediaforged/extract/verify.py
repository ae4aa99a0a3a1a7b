"""Damage verification of one file: a full decode, and the decoder's own words when it fails.

Audio and video: ``ffmpeg -v error -i FILE -f null -`` at the lowest CPU priority. ffmpeg
keeps going past a bad frame and often exits 0, so its stderr decides: a line at ``error``
level from a decoder or demuxer means damage (the null muxer's own complaints about
timestamps are left out: they come from the muxing, not from the file). Two kinds of damage
no decoder reports are checked as well: a FLAC whose decoded samples do not match the MD5 its
STREAMINFO holds (a zeroed block decodes "cleanly" as silence or noise), and a file that
decodes to clearly less than the duration its own header declares (a truncated MP3).

Images: Pillow ``load()`` (with its plugins); a JPEG is decoded by ffmpeg too, because
Pillow's libjpeg keeps its "corrupt data" warnings to itself. A file no decoder here opens
is ``corrupt`` only when its MIME type is one they read; otherwise it is ``unverified``: an
exotic format (a camera RAW's sensor data) is not damage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mutagen.flac import FLAC
from PIL import Image, UnidentifiedImageError

from mediaforged.extract.common import ExtractError, open_media, open_media_fd
from mediaforged.extract.decoding import thread_decoding
from mediaforged.extract.tools import die_with, fd_url

__all__ = ["DECODABLE", "Verdict", "ffmpeg_args", "judge_ffmpeg", "lower_priority", "verify_file"]

_KEPT = 600  # characters of a decoder's message kept
# Formats the decoders here certainly read: one they cannot even open is damaged.
DECODABLE = frozenset(
    {
        "audio/flac", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/opus", "audio/x-wav",
        "audio/wav", "audio/aac", "audio/x-aiff", "audio/x-ms-wma", "audio/x-wavpack",
        "video/mp4", "video/quicktime", "video/x-matroska", "video/webm", "video/x-msvideo",
        "video/mp2t", "video/x-ms-wmv", "video/x-ms-asf", "video/x-flv", "video/3gpp",
        "video/ogg", "video/mpeg",
    }
)  # fmt: skip
_LINE = re.compile(rb"^(?:\[(?P<ctx>[^\]]*?) @ [^\]]*\] )?\[(?P<level>\w+)\] (?P<text>.*)$")
_TIME = re.compile(rb"\btime=(\d+):(\d\d):(\d\d(?:\.\d+)?)")
_URL = re.compile(rb"(?:file:)?/proc/self/fd/\d+")
_DURATION = re.compile(rb"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_BAD_LEVELS = frozenset({b"error", b"fatal", b"panic"})
# Lines that are not about the file's bytes: the null muxer's timestamps, our own output.
_NOT_DAMAGE = (b"null", b"md5", b"AVIOContext")
_SHORT_S, _SHORT_SHARE = 1.0, 0.05  # missing more than both: truncated


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok``, ``corrupt`` (``error``: the decoder's message, ``at``: where it failed) or
    ``unverified`` (no decoder here reads it, or it took too long: never an error)."""

    status: str
    decoder: str
    error: str | None = None
    at: str | None = None
    seconds: float = 0.0


def lower_priority() -> None:
    """The calling thread (a verification worker) at the lowest CPU priority: Linux nices
    threads one by one, so only the decoding yields to everything else."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _nice_child(daemon: int) -> Callable[[], None]:
    tie = die_with(daemon)

    def prepare() -> None:
        tie()
        os.nice(19)

    return prepare


def ffmpeg_args(ffmpeg: str, url: bytes, md5_bits: int | None) -> list[str | bytes]:
    """One full decode: every audio and video stream into the null muxer (or, for a FLAC
    with an MD5, into the md5 muxer in the stream's own sample format)."""
    # Info level: the input's declared duration, and the time= of the stats lines (every
    # 0.1 s) that come between the error lines and so say where the first one was.
    args: list[str | bytes] = [ffmpeg, "-hide_banner", "-nostdin", "-stats_period", "0.1"]
    args += ["-loglevel", "level+info", "-i", url, "-map", "0:a?", "-map", "0:v?", "-sn", "-dn"]
    if md5_bits is not None:
        return [*args, "-map", "-0:v", "-c:a", f"pcm_s{md5_bits}le", "-f", "md5", "-"]
    return [*args, "-f", "null", "-progress", "pipe:1", "-"]


def _decoded_s(stdout: bytes) -> float | None:
    times = re.findall(rb"out_time_us=(\d+)", stdout)
    return int(times[-1]) / 1e6 if times else None


def _seconds(m: re.Match[bytes]) -> float:
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])


def _where(before: float | None, after: float | None) -> str | None:
    if before is None and after is None:
        return None
    if before is None:
        return f"within the first {after:.2f} s"
    return f"after {before:.2f} s" + (f", before {after:.2f} s" if after is not None else "")


def judge_ffmpeg(
    returncode: int, stdout: bytes, stderr: bytes, md5: str | None = None
) -> tuple[str | None, str | None]:
    """(the damage in ffmpeg's own words, where), or (None, None) for a clean decode."""
    errors: list[bytes] = []
    declared: float | None = None
    estimated = False
    before = after = None  # the stats' decode times around the first error
    for raw in re.split(rb"[\r\n]+", stderr):
        m = _LINE.match(raw.strip())
        if m is None:
            continue
        text = _URL.sub(b"the file", m["text"])
        if t := _TIME.search(text):
            if errors and after is None:
                after = _seconds(t)
            elif not errors:
                before = _seconds(t)
            continue
        if (d := _DURATION.search(text)) and declared is None:
            declared = _seconds(d)
        if b"Estimating duration from bitrate" in text:
            estimated = True
        if m["level"] in _BAD_LEVELS and not (m["ctx"] or b"").startswith(_NOT_DAMAGE):
            errors.append((m["ctx"] + b": " if m["ctx"] else b"") + text)
    decoded = _decoded_s(stdout)
    where = _where(before, after if after is not None else decoded)
    if errors:
        first = errors[0].decode("utf-8", "replace")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"ffmpeg: {first}{more}"[:_KEPT], where
    if returncode != 0:
        return f"ffmpeg: exit status {returncode}", where
    if md5 is not None:
        got = re.search(rb"MD5=([0-9a-f]{32})", stdout)
        if got and got[1].decode() != md5:
            return "decoded audio does not match the MD5 in its FLAC STREAMINFO", None
    if declared and decoded is not None and not estimated:
        missing = declared - decoded
        if missing > _SHORT_S and missing > declared * _SHORT_SHARE:
            return (
                f"truncated: decodes to {decoded:.2f} s of the {declared:.2f} s its header "
                "declares",
                f"after {decoded:.2f} s",
            )
    return None, None


async def _run(args: list[str | bytes], fd: int, limit: float) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        pass_fds=(fd,),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_nice_child(os.getpid()),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    finally:
        if proc.returncode is None:  # timed out or cancelled: kill the group, then reap
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(proc.wait())
    return proc.returncode or 0, out, err


def _flac_md5(root: bytes, path: bytes) -> tuple[int | None, str | None]:
    """(bits per sample, MD5 hex) when a FLAC's STREAMINFO holds an MD5 ffmpeg can check."""
    try:
        with open_media(root, path) as stream:
            info = FLAC(stream).info  # type: ignore[no-untyped-call]
    except Exception:  # a FLAC mutagen cannot parse: ffmpeg's decode says what is wrong
        return None, None
    md5 = int(getattr(info, "md5_signature", 0) or 0)
    bits = int(getattr(info, "bits_per_sample", 0) or 0)
    if not md5 or bits not in (16, 24):
        return None, None
    return bits, f"{md5:032x}"


async def _ffmpeg(
    path: bytes,
    *,
    root: bytes,
    mime: str | None,
    limit: float,
    ffmpeg: str,
    executor: ThreadPoolExecutor,
) -> tuple[str | None, str | None, bool]:
    """(damage, where, opened): ``opened`` is False when ffmpeg could not read it at all."""
    loop = asyncio.get_running_loop()
    bits, md5 = (None, None)
    if mime == "audio/flac":
        bits, md5 = await loop.run_in_executor(executor, _flac_md5, root, path)
    fd = await loop.run_in_executor(executor, open_media_fd, root, path)
    try:
        code, out, err = await _run(ffmpeg_args(ffmpeg, fd_url(fd), bits), fd, limit)
    finally:
        os.close(fd)
    damage, where = judge_ffmpeg(code, out, err, md5)
    opened = b"Stream #0" in err
    return damage, where, opened


def _pillow_formats() -> list[str]:
    """Every Pillow plugin but EPS (it runs Ghostscript on the file)."""
    Image.init()
    return [f for f in Image.OPEN if f != "EPS"]


def _pillow(root: bytes, path: bytes) -> tuple[str | None, str | None, str | None]:
    with thread_decoding(path):
        return _pillow_load(root, path)


def _pillow_load(root: bytes, path: bytes) -> tuple[str | None, str | None, str | None]:
    """(damage, where, format) from Pillow's full decode of the first frame; format None
    when Pillow does not know the file."""
    lower_priority()
    with open_media(root, path) as stream:
        size = os.fstat(stream.fileno()).st_size
        try:
            img = Image.open(stream, formats=_pillow_formats())
        except UnidentifiedImageError:
            return None, None, None
        except Image.DecompressionBombError:
            raise
        except Exception as exc:
            return f"Pillow: {type(exc).__name__}: {exc}"[:_KEPT], f"byte {stream.tell()}", "?"
        with img:
            try:
                img.load()
            except Image.DecompressionBombError:
                raise
            except Exception as exc:  # the decoder's own message
                where = f"byte {stream.tell()} of {size}"
                return f"Pillow: {type(exc).__name__}: {exc}"[:_KEPT], where, img.format
            return None, None, img.format


async def verify_file(
    path: bytes,
    media_type: str,
    mime: str | None,
    *,
    root: bytes,
    executor: ThreadPoolExecutor,
    time_limit: float = 1800.0,
    ffmpeg: str = "ffmpeg",
) -> Verdict:
    """Decode ``path`` (reached from ``root`` without following a link) in full. A file no
    decoder opens is damaged only if its MIME type (from its content) is one they read: a
    camera RAW or a format only mutagen knows is not (no false positives)."""
    began = time.monotonic()
    loop = asyncio.get_running_loop()

    def done(status: str, decoder: str, error: str | None = None, at: str | None = None) -> Verdict:
        return Verdict(status, decoder, error, at, round(time.monotonic() - began, 3))

    try:
        pillows = {Image.MIME.get(f) for f in _pillow_formats()}
        known = mime in DECODABLE or mime in pillows
        if media_type == "image":
            damage, at, fmt = await loop.run_in_executor(executor, _pillow, root, path)
            if damage is not None:
                return done("corrupt", "pillow", damage, at)
            if fmt is not None and fmt not in ("JPEG", "MPO"):
                return done("ok", "pillow")
        damage, at, opened = await _ffmpeg(
            path, root=root, mime=mime, limit=time_limit, ffmpeg=ffmpeg, executor=executor
        )
        if not opened:
            if known:
                return done("corrupt", "ffmpeg", damage or "no decoder here can open it", at)
            return done("unverified", "ffmpeg", damage or "no decoder here reads it")
        if damage is not None:
            return done("corrupt", "ffmpeg", damage, at)
        return done("ok", "ffmpeg")
    except TimeoutError:
        return done("unverified", "ffmpeg", f"timeout: longer than {time_limit:g}s")
    except Image.DecompressionBombError as exc:
        return done("unverified", "pillow", f"decompression_bomb: {exc}")
    except ExtractError as exc:  # unreadable, a link on the way, no ffmpeg
        return done("unverified", "none", f"{exc.code}: {exc.message}")
    except OSError as exc:
        return done("unverified", "none", f"unreadable: {exc}")
