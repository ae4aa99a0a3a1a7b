"""Broken, hostile and lying files: each costs one typed error, never a hang or a crash."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from mediaforged.extract.common import ExtractError
from mediaforged.extract.image import guard_bombs
from mediaforged.extract.read import extract_one
from mediaforged.extract.thumbnail import video_frame
from mediaforged.extract.tools import run_tool
from tests.conftest import wait_for
from tests.integration.media import MediaSet

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _bomb_limit() -> None:
    guard_bombs(1_000_000)


async def _error(path: Path, media_type: str) -> ExtractError:
    with pytest.raises(ExtractError) as info:
        await extract_one(bytes(path), media_type, 20.0, root=bytes(path.parent))
    assert info.value.message
    return info.value


@pytest.mark.parametrize(
    ("key", "media_type", "codes"),
    [
        ("truncated_video", "video", {"corrupt"}),
        ("random_video", "video", {"corrupt"}),
        ("empty_video", "video", {"corrupt"}),
        ("text_as_mp4", "video", {"corrupt"}),
        ("truncated_audio", "audio", {"corrupt"}),
        ("random_audio", "audio", {"corrupt", "not_audio"}),
        ("empty_audio", "audio", {"corrupt", "not_audio"}),
        ("png_as_mp3", "audio", {"corrupt", "not_audio"}),
        ("truncated_image", "image", {"corrupt", "unreadable"}),
        ("random_image", "image", {"not_an_image"}),
        ("empty_image", "image", {"not_an_image"}),
        ("mp3_as_jpg", "image", {"not_an_image"}),
        ("bomb_warn", "image", {"decompression_bomb"}),
        ("bomb_error", "image", {"decompression_bomb"}),
        ("bad_raw", "image", {"corrupt"}),
    ],
)
async def test_broken_file_is_one_typed_error(
    media: MediaSet, key: str, media_type: str, codes: set[str]
) -> None:
    error = await _error(media.hostile[key], media_type)
    assert error.code in codes, (error.code, error.message)


async def test_bombs_are_refused_in_both_of_pillows_zones(media: MediaSet) -> None:
    # 1.2x the limit is where Pillow only warns: that warning must be an error for us.
    warn = await _error(media.hostile["bomb_warn"], "image")
    assert "1200000 pixels" in warn.message
    error = await _error(media.hostile["bomb_error"], "image")
    assert "9000000 pixels" in error.message
    guard_bombs(100_000_000)  # under a higher limit the same file is an ordinary image
    ok = await extract_one(
        bytes(media.hostile["bomb_warn"]),
        "image",
        20.0,
        root=bytes(media.hostile["bomb_warn"].parent),
    )
    assert (ok["width"], ok["height"]) == (1200, 1000)


async def test_eps_is_never_opened(media: MediaSet) -> None:
    path = media.hostile["eps_as_jpg"]
    with Image.open(path) as img:  # unrestricted Pillow would take it (and run Ghostscript)
        assert img.format == "EPS"
    error = await _error(path, "image")
    assert error.code == "not_an_image"


@pytest.mark.parametrize("key", ["dash_name", "protocol_name"])
async def test_names_are_never_options_or_protocols(media: MediaSet, key: str) -> None:
    path = media.hostile[key]
    assert path.name in ("-h.mp4", "concat:a|b.mp4")
    got = await extract_one(bytes(path), "video", 20.0, root=bytes(path.parent))
    assert (got["width"], got["height"], got["video_codec"]) == (96, 64, "h264")
    frame = await video_frame(bytes(path), 320, got["duration_s"], 20.0, root=bytes(path.parent))
    assert frame.size == (96, 64)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_tool_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $$ $! > {pids}; wait"
    started = time.monotonic()
    with pytest.raises(ExtractError) as info:
        await run_tool(["sh", "-c", script], 0.5)
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 10
    shell, child = (int(p) for p in pids.read_text().split())
    assert not _alive(shell)  # reaped, not a zombie
    # The background child was in the tool's process group: killed too (init reaps it).
    wait_for(lambda: not _alive(child), 5, "the background child to die")


async def test_a_cancelled_tool_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(run_tool(["sh", "-c", f"echo $$ > {pids}; sleep 60"], 30))
    while not pids.exists() or not pids.read_text().strip():  # noqa: ASYNC110 - a file, no event
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(int(pids.read_text()))


async def test_a_missing_tool_is_a_clear_error() -> None:
    with pytest.raises(ExtractError) as info:
        await run_tool(["/nonexistent/ffprobe", "-version"], 5)
    assert info.value.code == "no_tool"
