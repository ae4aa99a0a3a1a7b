"""search through the real mediaforgectl: every filter, sorting, paging, table and JSON lines."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from tests.conftest import Daemon, wait_for


def _ids(daemon: Daemon, *args: str) -> list[str]:
    """Paths (relative to the library) that `search --json` finds, in its order."""
    out = daemon.ctl("search", *args, "--json", "--limit", "1000").stdout
    return [Path(json.loads(line)["path"]).name for line in out.splitlines()]


def _photo(
    path: Path,
    size: tuple[int, int],
    make: str = "",
    model: str = "",
    taken: str = "",
    *,
    offset: str = "",
) -> None:
    exif = Image.Exif()
    if make:
        exif[0x010F], exif[0x0110] = make, model  # Make, Model
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    if offset:
        exif.get_ifd(0x8769)[0x9011] = offset  # OffsetTimeOriginal
    Image.new("RGB", size, "blue").save(path, exif=exif)


def _taken(daemon: Daemon, *args: str) -> dict[str, str | None]:
    """name -> taken_at, as `search --json` gives it."""
    out = daemon.ctl("search", *args, "--json", "--limit", "1000").stdout
    items = [json.loads(line) for line in out.splitlines()]
    return {Path(i["path"]).name: i["taken_at"] for i in items}


def _ffmpeg(path: Path, source: str, **tags: str) -> None:
    metadata = [a for k, v in tags.items() for a in ("-metadata", f"{k}={v}")]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, *metadata, str(path)],
        check=True,
        timeout=60,
    )


def test_search(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    photos = library / "Photos"
    music = library / "Music"
    photos.mkdir()
    music.mkdir()
    _photo(photos / "beach.jpg", (1920, 1080), "Canon", "EOS R6", "2024:07:14 10:00:00")
    # Late evening in New York: already the next day in UTC.
    _photo(photos / "cat.jpg", (320, 240), "Apple", "iPhone 13", "2023:01:02 23:30:00",
           offset="-05:00")  # fmt: skip
    _photo(photos / "100% cotton.png", (640, 480))
    beatles = {"artist": "The Beatles"}
    _ffmpeg(music / "come together.mp3", "sine=d=3", **beatles, album="Abbey Road",
            title="Come Together")  # fmt: skip
    _ffmpeg(music / "let it be.flac", "sine=d=2", **beatles, album="Let It Be", title="Let It Be")
    _ffmpeg(library / "holiday.mkv", "testsrc=size=1280x720:rate=5:d=5")
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    # The real extractors fill in tags, EXIF, dimensions and durations behind the catalog.
    wait_for(
        lambda: (
            daemon.status()["pending"]["metadata"] == 0
            and len(
                daemon.catalog.query("SELECT * FROM media_metadata WHERE extracted_at IS NOT NULL")
            )
            == 6
        ),
        what="metadata of all six files",
    )

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
    # When taken: the local time where it was taken, with the file's UTC offset if it has
    # one, else with none (not UTC: no "Z"); the daemon's own times are UTC.
    assert _taken(daemon, "--type", "image") == {
        "100% cotton.png": None,
        "beach.jpg": "2024-07-14T10:00:00",
        "cat.jpg": "2023-01-02T23:30:00-05:00",
    }
    beach = json.loads(daemon.ctl("search", "beach", "--json").stdout)
    assert beach["taken_offset"] is None and beach["created_at"].endswith("Z")
    assert "2023-01-02" in daemon.ctl("search", "cat").stdout  # the local date in the table
    assert _ids(daemon, "--taken-from", "2024-01-01") == ["beach.jpg"]
    assert _ids(daemon, "--taken-to", "2023-01-02") == ["cat.jpg"]  # the whole (local) day
    assert _ids(daemon, "--taken-from", "2023-01-03") == ["beach.jpg"]  # not the UTC day
    assert _ids(daemon, "--taken-from", "2022-01-01", "--taken-to", "2025-01-01") == [
        "beach.jpg",
        "cat.jpg",
    ]
    assert _ids(daemon, "--taken-from", "2024-07-14T10:00", "--taken-to", "2024-07-14T10:01") == [
        "beach.jpg"
    ]
    assert _ids(daemon, "--taken-from", "2023-01-02T23:00", "--taken-to", "2023-01-03") == [
        "cat.jpg"
    ]
    assert _ids(daemon, "--min-width", "1000") == ["beach.jpg", "holiday.mkv"]
    assert _ids(daemon, "--min-width", "1000", "--min-height", "1000") == ["beach.jpg"]
    assert _ids(daemon, "--min-duration", "2.5") == ["come together.mp3", "holiday.mkv"]
    assert _ids(daemon, "--max-duration", "2.5") == ["let it be.flac"]
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
    table = daemon.ctl("search", "--sort", "-size", "--limit", "2", "--offset", "2")
    assert "3-4 of 6" in table.stderr  # in a pipe, stdout holds only the rows
    assert by_size[2] in table.stdout and by_size[0] not in table.stdout
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
        (["--taken-to", "2023-01-03T04:30Z"], "without a UTC offset"),
        (["--status", "gone"], "status must be one of"),
        (["--limit", "100000"], "limit must be 0 to 10000"),
        (["--under", "relative"], None),  # made absolute by mediaforgectl: no error
    ]:
        result = daemon.ctl("search", *bad, check=False)
        if message is None:
            assert result.returncode == 0
        else:
            # A usage error, though the daemon is the one that finds it.
            assert result.returncode == 2 and message in result.stderr, (bad, result.stderr)
    assert daemon.stop() == 0
