"""Damage verification, the thumbnail fallback chain and a JSON-only log, in one real daemon.

Good files of five formats and three damaged copies of each (truncated, a zeroed block in
the middle, header bytes flipped) are made here; the damaged ones must be ``corrupt`` with the
decoder's message, the good ones must have no error at all.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, TiffImagePlugin

from mediaforged.extract.thumbnail import make_thumbnail
from tests.conftest import Daemon, wait_for

pytestmark = pytest.mark.timeout(240)

FFMPEG = ["ffmpeg", "-v", "error", "-y", "-nostdin"]


def _ffmpeg(*args: str) -> None:
    subprocess.run([*FFMPEG, *args], check=True, capture_output=True)


def _good(folder: Path) -> dict[str, Path]:
    """One good file per format, a few seconds or pixels each."""
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3"]
    _ffmpeg(*tone, "-c:a", "flac", str(folder / "a.flac"))
    _ffmpeg(*tone, "-c:a", "libmp3lame", "-b:a", "64k", str(folder / "a.mp3"))
    _ffmpeg(
        *["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2"],
        *["-f", "lavfi", "-i", "sine=duration=2"],
        *["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        *["-shortest", str(folder / "a.mp4")],
    )
    picture = Image.radial_gradient("L").resize((300, 200)).convert("RGB")
    picture.save(folder / "a.jpg", quality=90)
    picture.save(folder / "a.png")
    return {p.suffix: p for p in sorted(folder.iterdir())}


def _header_span(path: Path) -> tuple[int, int]:
    """Bytes of a header the decoder needs: the stream header (FLAC, PNG, JPEG), an audio
    frame's header (MP3), the H.264 decoder configuration (MP4)."""
    data = path.read_bytes()
    if path.suffix == ".mp3":
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]  # the ID3v2 tag
        at = 10 + size
        for _ in range(3):  # the 4th frame: the 1st holds the Xing header
            at = data.find(b"\xff\xfb", at + 1)
        return at, at + 4
    if path.suffix == ".mp4":
        at = data.find(b"avcC")
        return at + 4, at + 20
    return 4, 20


def _damaged(good: dict[str, Path], folder: Path) -> list[Path]:
    made = []
    for ext, path in good.items():
        data = path.read_bytes()
        cut = folder / f"cut{ext}"
        cut.write_bytes(data[: len(data) // 2])
        zeroed = bytearray(data)
        middle, span = len(data) // 2, max(512, len(data) // 20)
        zeroed[middle : middle + span] = bytes(span)
        (folder / f"zero{ext}").write_bytes(zeroed)
        flipped = bytearray(data)
        low, high = _header_span(path)
        for i in range(low, high):
            flipped[i] ^= 0xFF
        (folder / f"flip{ext}").write_bytes(flipped)
        made += [cut, folder / f"zero{ext}", folder / f"flip{ext}"]
    return made


def _warning_tiffs(folder: Path) -> None:
    """A TIFF whose tag overruns the file (Pillow warns) and one whose tag type libtiff does
    not know (libtiff writes to stderr while Pillow decodes it)."""
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[65000] = "a private tag"
    info.tagtype[65000] = 2
    base = folder / "base.tif"
    Image.new("RGB", (64, 48), "red").save(base, compression="tiff_adobe_deflate", tiffinfo=info)
    data = base.read_bytes()
    base.unlink()
    ifd = struct.unpack("<I", data[4:8])[0]
    for name, patch in (
        ("warns.tif", (4, struct.pack("<I", 100000))),
        ("libtiff.tif", (2, b"c\0")),
    ):
        out = bytearray(data)
        for k in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
            entry = ifd + 2 + 12 * k
            if struct.unpack("<H", data[entry : entry + 2])[0] == 65000:
                where, value = patch
                out[entry + where : entry + where + len(value)] = value
        (folder / name).write_bytes(out)


def _verifications(daemon: Daemon) -> dict[str, dict[str, Any]]:
    rows = daemon.catalog.query(
        "SELECT i.name, v.status, v.error, v.at FROM media_items i LEFT JOIN verifications v "
        "ON v.file_hash = i.file_hash WHERE i.status = 'present'"
    )
    return {r["name"]: dict(r) for r in rows}


def _drained(daemon: Daemon) -> dict[str, Any] | None:
    s = daemon.status()
    idle = s["metadata"]["idle"] and s["thumbnails"]["idle"] and s["verify"]["idle"]
    pending = s["pending"]
    done = not (pending["metadata"] or pending["thumbnails"] or pending["verify"])
    return s if idle and done else None


def test_damage_found_good_files_clean_thumbnails_and_json_log(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    good = _good(library)
    damaged = _damaged(good, library)
    _ffmpeg(  # exactly 30 frames: the thumbnail filter's window emits nothing
        *["-f", "lavfi", "-i", "testsrc=size=96x64:rate=30", "-frames:v", "30"],
        *["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
        str(library / "thirty.mp4"),
    )
    _warning_tiffs(library)
    daemon = daemon_factory([library], verify="idle").start()
    daemon.wait_idle()
    status = wait_for(lambda: _drained(daemon), 150, "metadata, thumbnails and verify done")
    checked = _verifications(daemon)

    # Every damaged copy: corrupt, in the decoder's words; every good original: ok.
    for path in damaged:
        row = checked[path.name]
        assert row["status"] == "corrupt", (path.name, row)
        assert row["error"], path.name
    for path in good.values():
        assert checked[path.name]["status"] == "ok", checked[path.name]
    # A warning is not damage: the TIFFs that make Pillow and libtiff complain decode fine.
    for name in ("thirty.mp4", "warns.tif", "libtiff.tif"):
        assert checked[name]["status"] == "ok", checked[name]
    assert status["verify"]["mode"] == "idle"
    assert status["verify"]["corrupt_items"] == len(damaged)
    assert status["errors"]["by_stage"]["verify"] == len(damaged)

    # `failed` lists them, with the code and the message; none of the good files is listed.
    failed = daemon.call("failed", {"stage": "verify", "limit": 100})
    listed = {Path(item["path"]).name: item for item in failed["items"]}
    assert set(listed) == {p.name for p in damaged}
    assert {item["error_code"] for item in listed.values()} == {"corrupt"}
    assert "moov atom not found" in listed["cut.mp4"]["error"]
    assert "MD5" in listed["zero.flac"]["error"]
    everything = daemon.call("failed", {"limit": 1000})["items"]
    assert not {Path(i["path"]).name for i in everything} & {p.name for p in good.values()}
    info = daemon.call("info", {"path": str(library / "cut.jpg")})
    assert info["item"]["error_code"] == "corrupt" and "truncated" in info["item"]["error"]

    # A 30-frame clip gets a thumbnail (a plain frame when the filter gives none).
    thumb = daemon.catalog.query(
        "SELECT m.thumb_status, m.thumb_source FROM media_metadata m JOIN media_items i "
        "ON i.id = m.item_id WHERE i.name = 'thirty.mp4'"
    )[0]
    assert (thumb["thumb_status"], thumb["thumb_source"]) == ("ok", "ffmpeg")

    # A move keeps the verdict (it is the bytes'): nothing is decoded again.
    decoded = status["verify"]["verified"] + status["verify"]["corrupt"]
    (library / "moved").mkdir()
    shutil.move(library / "zero.png", library / "moved" / "zero.png")
    daemon.ctl("rescan")
    moved = wait_for(lambda: _drained(daemon), 60, "the move handled")
    assert moved["verify"]["verified"] + moved["verify"]["corrupt"] == decoded
    assert _verifications(daemon)["zero.png"]["status"] == "corrupt"

    # rescan --verify decodes again on demand, and says what it found.
    out = daemon.ctl("rescan", "--verify", "--json", str(library / "moved"))
    reply = json.loads(out.stdout)
    assert reply["verify"] == {"verified": 1, "corrupt": 1}
    again = daemon.status()["verify"]
    assert again["corrupt"] == moved["verify"]["corrupt"] + 1

    # The log: only JSON lines, the Pillow warning and libtiff's stderr named by file.
    daemon.stop()
    lines = daemon.log_path.read_text(errors="replace").splitlines()
    not_json = [line for line in lines if not _is_json(line)]
    assert not_json == []
    events = daemon.log_events()
    warned = [e for e in events if e["event"] == "python_warning"]
    assert any(e.get("path", "").endswith("warns.tif") for e in warned), warned
    native = [e for e in events if e["event"] == "native_stderr"]
    assert any("libtiff.tif" in json.dumps(e) and "TIFF" in e["line"] for e in native), native


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def test_a_picture_pillow_cannot_decode_gets_its_thumbnail_from_ffmpeg(tmp_path: Path) -> None:
    picture = tmp_path / "frame.dpx"  # Pillow has no DPX plugin; ffmpeg reads and writes it
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=120x80", "-frames:v", "1", str(picture))
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever Pillow says, it cannot
        Image.open(picture)

    async def make() -> Any:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:

            async def run(call: Callable[[], Any]) -> Any:
                return await loop.run_in_executor(pool, call)

            return await make_thumbnail(
                bytes(picture),
                "image",
                64,
                root=bytes(tmp_path),
                duration=None,
                time_limit=60,
                run=run,
            )

    made = asyncio.run(make())
    assert made.source == "ffmpeg"
    assert made.image is not None and max(made.image.size) == 64
