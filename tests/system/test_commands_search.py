"""search through the real mediaforgectl: every filter, sorting, paging, table and JSON lines."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from tests.conftest import Daemon, wait_for


def _ids(daemon: Daemon, *args: str) -> list[str]:
    """Paths (relative to the library) that `search --json` finds, in its order."""
    out = daemon.ctl("search", *args, "--json", "--limit", "1000").stdout
    return [Path(json.loads(line)["path"]).name for line in out.splitlines()]


def _set_metadata(daemon: Daemon, path: Path, **values: Any) -> None:
    """Audio tags, camera and dates as the extractors of issue 3 record them (the daemon
    on this branch extracts image dimensions only): written to the real catalog."""
    conn = sqlite3.connect(daemon.catalog.db, timeout=30)
    try:
        (item_id,) = conn.execute(
            "SELECT id FROM media_items WHERE path = ?", (str(path),)
        ).fetchone()
        conn.execute("INSERT OR IGNORE INTO media_metadata (item_id) VALUES (?)", (item_id,))
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(
            f"UPDATE media_metadata SET {sets} WHERE item_id = ?", (*values.values(), item_id)
        )
        conn.commit()
    finally:
        conn.close()


def test_search(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    photos = library / "Photos"
    music = library / "Music"
    photos.mkdir()
    music.mkdir()
    Image.new("RGB", (1920, 1080), "blue").save(photos / "beach.jpg")
    Image.new("RGB", (320, 240), "red").save(photos / "cat.jpg")
    Image.new("RGB", (640, 480), "green").save(photos / "100% cotton.png")
    (music / "come together.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"a" * 900)
    (music / "let it be.flac").write_bytes(b"fLaC" + b"b" * 3000)
    (library / "holiday.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + b"c" * 2000)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    wait_for(
        lambda: len(daemon.catalog.query("SELECT * FROM media_metadata WHERE width > 0")) == 3,
        what="image dimensions",
    )
    _set_metadata(
        daemon, music / "come together.mp3",
        artist="The Beatles", album="Abbey Road", title="Come Together", duration_s=259.0,
    )  # fmt: skip
    _set_metadata(
        daemon, music / "let it be.flac",
        artist="The Beatles", album="Let It Be", title="Let It Be", duration_s=243.0,
    )  # fmt: skip
    _set_metadata(daemon, library / "holiday.mkv", duration_s=1800.0, width=3840, height=2160)
    _set_metadata(
        daemon, photos / "beach.jpg",
        camera_make="Canon", camera_model="EOS R6", taken_at="2024-07-14 10:00:00.000000",
    )  # fmt: skip
    _set_metadata(
        daemon, photos / "cat.jpg",
        camera_make="Apple", camera_model="iPhone 13", taken_at="2023-01-02 08:30:00.000000",
    )  # fmt: skip

    everything = _ids(daemon)
    assert len(everything) == 6
    assert _ids(daemon, "--type", "image") == ["100% cotton.png", "beach.jpg", "cat.jpg"]
    assert _ids(daemon, "beach") == ["beach.jpg"]  # the path
    assert _ids(daemon, "abbey") == ["come together.mp3"]  # the album, any case
    assert _ids(daemon, "100%") == ["100% cotton.png"]  # % is a character, not a wildcard
    assert _ids(daemon, "--artist", "beatles", "--sort", "-duration") == [
        "come together.mp3",
        "let it be.flac",
    ]
    assert _ids(daemon, "--album", "let it") == ["let it be.flac"]
    assert _ids(daemon, "--title", "together") == ["come together.mp3"]
    assert _ids(daemon, "--camera", "canon") == ["beach.jpg"]
    assert _ids(daemon, "--camera", "iphone") == ["cat.jpg"]
    assert _ids(daemon, "--taken-from", "2024-01-01") == ["beach.jpg"]
    assert _ids(daemon, "--taken-to", "2023-01-02") == ["cat.jpg"]  # the whole last day
    assert _ids(daemon, "--taken-from", "2022-01-01", "--taken-to", "2025-01-01") == [
        "beach.jpg",
        "cat.jpg",
    ]
    assert _ids(daemon, "--min-width", "1000") == ["beach.jpg", "holiday.mkv"]
    assert _ids(daemon, "--min-width", "1000", "--min-height", "2000") == ["holiday.mkv"]
    assert _ids(daemon, "--min-duration", "250") == ["come together.mp3", "holiday.mkv"]
    assert _ids(daemon, "--max-duration", "250") == ["let it be.flac"]
    assert _ids(daemon, "--added-from", "2000-01-01", "--type", "video") == ["holiday.mkv"]
    assert _ids(daemon, "--added-to", "2000-01-01") == []
    assert _ids(daemon, "--under", str(music)) == ["come together.mp3", "let it be.flac"]

    daemon.ctl("tag", "add", "summer", str(photos / "beach.jpg"), str(library / "holiday.mkv"))
    daemon.ctl("tag", "add", "best", str(photos / "beach.jpg"))
    assert _ids(daemon, "--tag", "summer") == ["beach.jpg", "holiday.mkv"]
    assert _ids(daemon, "--tag", "summer", "--tag", "best") == ["beach.jpg"]
    daemon.ctl("collection", "create", "Frame")
    daemon.ctl("collection", "add", "Frame", str(photos / "cat.jpg"))
    assert _ids(daemon, "--collection", "Frame") == ["cat.jpg"]

    # Sorting and paging: largest first, two per page, a stable order across pages.
    by_size = _ids(daemon, "--sort", "-size")
    sizes = {Path(p).name: p.stat().st_size for p in library.rglob("*") if p.is_file()}
    assert by_size == sorted(sizes, key=lambda n: -sizes[n])
    page2 = json.loads(daemon.ctl("search", "--sort", "-size", "--limit", "2", "--offset", "2",
                                  "--json").stdout.splitlines()[0])  # fmt: skip
    assert Path(page2["path"]).name == by_size[2]
    table = daemon.ctl("search", "--sort", "-size", "--limit", "2", "--offset", "2").stdout
    assert "3-4 of 6" in table and by_size[2] in table and by_size[0] not in table
    assert "1920x1080" in daemon.ctl("search", "beach").stdout

    # Status: a deleted file is missing, not gone.
    (photos / "cat.jpg").unlink()
    wait_for(lambda: _ids(daemon, "--status", "missing") == ["cat.jpg"], what="cat.jpg missing")
    assert "cat.jpg" not in _ids(daemon)
    assert len(_ids(daemon, "--status", "any")) == 6

    for bad, message in [
        (["--type", "movie"], "type must be one of image, audio, video, other"),
        (["--sort", "colour"], "sort must be one of"),
        (["--taken-from", "last week"], "is not a date"),
        (["--status", "gone"], "status must be one of"),
        (["--limit", "100000"], "limit must be 0 to 10000"),
        (["--under", "relative"], None),  # made absolute by mediaforgectl: no error
    ]:
        result = daemon.ctl("search", *bad, check=False)
        if message is None:
            assert result.returncode == 0
        else:
            assert result.returncode == 1 and message in result.stderr, (bad, result.stderr)
    assert daemon.stop() == 0
