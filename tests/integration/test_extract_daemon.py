"""The metadata and thumbnail stages in a real daemon: searchable first, thumbnails behind,
broken files recorded once, retried on change or rescan, orphans removed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from tests.conftest import Daemon, sha256_of, wait_for
from tests.integration.media import MediaSet

pytestmark = pytest.mark.timeout(180)

GOOD = ["camera.jpg", "anim.gif", "song.mp3", "song.ogg", "clip.mp4"]
BROKEN = {
    "truncated-image.jpg": ("truncated_image", {"corrupt", "unreadable"}),
    "random-video.mp4": ("random_video", {"corrupt"}),
    "bomb-warn.png": ("bomb_warn", {"decompression_bomb"}),
}


def _library(media: MediaSet, root: Path) -> None:
    for name in GOOD:
        shutil.copy(media.folder / name, root / name)
    for name, (key, _) in BROKEN.items():
        shutil.copy(media.hostile[key], root / name)
    shutil.copy(media.hostile["dash_name"], root / "-h.mp4")  # same bytes as clip.mp4
    (root / "notes.txt").write_text("catalogued, never extracted")
    for name in ("song.mka", "drawing.svg"):
        shutil.copy(media.folder / name, root / name)


def _rows(daemon: Daemon) -> dict[str, dict[str, Any]]:
    rows = daemon.catalog.query(
        "SELECT i.name, i.status, i.error_code, i.error, i.file_hash, m.* FROM media_items i "
        "LEFT JOIN media_metadata m ON m.item_id = i.id WHERE i.status = 'present'"
    )
    return {r["name"]: dict(r) for r in rows}


def _drained(daemon: Daemon) -> dict[str, Any] | None:
    s = daemon.status()
    idle = s["metadata"]["idle"] and s["thumbnails"]["idle"]  # exact; the counts may lag
    return s if idle and s["pending"]["metadata"] == 0 and s["pending"]["thumbnails"] == 0 else None


def test_metadata_then_thumbnails_with_errors_on_items(
    daemon_factory: Callable[..., Daemon], library: Path, media: MediaSet
) -> None:
    _library(media, library)
    daemon = daemon_factory([library], image_max_pixels=1_000_000).start()
    daemon.wait_idle()
    status = wait_for(lambda: _drained(daemon), 90, "metadata and thumbnails done")
    rows = _rows(daemon)

    # Searchable fields, typed.
    assert rows["camera.jpg"]["camera_model"] == "Canon EOS 5D Mark IV"
    assert rows["camera.jpg"]["taken_offset"] == "+02:00"
    assert str(rows["camera.jpg"]["taken_at"]).startswith("2024-05-01 12:34:56")
    assert (rows["camera.jpg"]["display_width"], rows["camera.jpg"]["display_height"]) == (80, 120)
    assert rows["anim.gif"]["frame_count"] == 3
    assert (rows["song.mp3"]["artist"], rows["song.mp3"]["track_number"]) == ("Björk & 坂本龍一", 3)
    assert abs(rows["clip.mp4"]["duration_s"] - 1.0) <= 0.1
    assert rows["-h.mp4"]["video_codec"] == "h264"
    assert rows["notes.txt"]["item_id"] is None and rows["notes.txt"]["error_code"] is None
    # Matroska audio: mutagen cannot read it, ffprobe does.
    assert abs(rows["song.mka"]["duration_s"] - 1.0) <= 0.1
    assert rows["song.mka"]["audio_codec"] == "vorbis"
    # An image format we do not read: catalogued, no metadata, no error, nothing pending.
    assert json.loads(rows["drawing.svg"]["extra"]) == {"unread": "image/svg+xml"}
    assert rows["drawing.svg"]["error_code"] is None
    assert rows["drawing.svg"]["thumb_status"] == "none"

    # Broken files: present (catalogued), with the reason on the item; the daemon goes on.
    for name, (_, codes) in BROKEN.items():
        assert rows[name]["status"] == "present"
        assert rows[name]["error_code"] in codes, (name, rows[name]["error"])
        assert rows[name]["error"]
        assert rows[name]["thumb_status"] == "none"
    assert status["metadata"]["failed"] == status["metadata"]["failed_items"] == len(BROKEN)

    # Thumbnails: content-addressed, WebP, oriented, long edge at most 320, shared by dups.
    folder = daemon.state_dir / "thumbnails"

    def thumb(name: str) -> Path:
        h = rows[name]["file_hash"]
        return folder / h[:2] / h[2:4] / f"{h}.webp"

    for name in ("camera.jpg", "anim.gif", "song.mp3", "clip.mp4", "-h.mp4"):
        assert rows[name]["thumb_status"] == "ok", (name, rows[name]["thumb_error"])
        with Image.open(thumb(name)) as img:
            assert img.format == "WEBP" and max(img.size) <= 320
    assert thumb("-h.mp4") == thumb("clip.mp4")
    assert status["thumbnails"]["shared"] >= 1
    with Image.open(thumb("camera.jpg")) as img:
        assert img.size == (80, 120)  # EXIF orientation 6 applied, never enlarged
    with Image.open(thumb("clip.mp4")) as img:
        assert max(ImageStat.Stat(img.convert("L")).mean) > 40  # a picture, not black
    with Image.open(thumb("song.mp3")) as img:
        assert img.size == (40, 30)  # the embedded cover
    assert rows["song.ogg"]["thumb_status"] == "none"  # no cover
    assert not list(folder.rglob("*.tmp"))

    human = daemon.ctl("status").stdout
    assert "0 thumbnails pending" in human and "0 awaiting metadata" in human

    # A failed file is not tried again while it is unchanged...
    shutil.copy(media.folder / "plain.jpeg", library / "new.jpg")
    wait_for(lambda: (_rows(daemon).get("new.jpg") or {}).get("thumb_status") == "ok")
    assert daemon.status()["metadata"]["failed"] == len(BROKEN)
    # ...until a rescan asks,
    daemon.ctl("rescan", str(library / "random-video.mp4"))
    wait_for(lambda: daemon.status()["metadata"]["failed"] == len(BROKEN) + 1, what="retried")
    assert _rows(daemon)["random-video.mp4"]["error_code"] == "corrupt"
    # ...or it changes: fixed, its error is gone.
    shutil.copy(media.folder / "plain.jpeg", library / "truncated-image.jpg")
    fixed = wait_for(
        lambda: (r := _rows(daemon)["truncated-image.jpg"])["width"] == 120 and r,
        what="the repaired file extracted",
    )
    assert fixed["error_code"] is None and fixed["error"] is None

    # New content: a new thumbnail, and the old one (no item refers to it) is removed.
    old = thumb("camera.jpg")
    Image.new("RGB", (30, 20), (250, 250, 0)).save(library / "camera.jpg")
    new_hash = sha256_of(library / "camera.jpg")
    wait_for(
        lambda: (
            (r := _rows(daemon)["camera.jpg"])["file_hash"] == new_hash
            and r["thumb_status"] == "ok"
        ),
        what="the new thumbnail",
    )
    wait_for(lambda: not old.exists(), what="the orphaned thumbnail removed")
    assert (folder / new_hash[:2] / new_hash[2:4] / f"{new_hash}.webp").exists()
    assert daemon.stop() == 0


def test_thumbnails_can_be_turned_off_and_once_mode_finishes_metadata(
    daemon_factory: Callable[..., Daemon], library: Path, media: MediaSet
) -> None:
    shutil.copy(media.folder / "camera.jpg", library / "camera.jpg")
    shutil.copy(media.folder / "song.flac", library / "song.flac")
    daemon = daemon_factory([library], thumbnail_size=0)
    daemon.start("--once")
    assert daemon.wait_exit(60) == 0
    rows = _rows(daemon)
    assert rows["camera.jpg"]["camera_make"] == "Canon"
    assert rows["song.flac"]["album"] == "Homogenic"
    assert not (daemon.state_dir / "thumbnails").exists()
