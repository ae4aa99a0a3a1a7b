"""The daemon as a real subprocess on a real library, driven by mediaforgectl over its socket."""

from __future__ import annotations

import io
import json
import os
import signal
import wave
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from tests.conftest import Daemon, sha256_of, wait_for


def _jpeg(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buf, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 800)
    return path


def _tree(root: Path) -> dict[Path, str]:
    """A small library: photos, a duplicate, audio, a document, nested folders."""
    files = [
        _jpeg(root / "Photos" / "2024" / "beach.jpg"),
        _jpeg(root / "Photos" / "2024" / "sunset.jpg", (10, 20, 200)),
        _wav(root / "Music" / "Artist" / "track01.wav"),
    ]
    dup = root / "Photos" / "copy of beach.jpg"
    dup.write_bytes(files[0].read_bytes())
    doc = root / "Documents" / "notes.txt"
    doc.parent.mkdir()
    doc.write_text("shopping list\n")
    files += [dup, doc]
    return {f: sha256_of(f) for f in files}


def _assert_catalog_matches(daemon: Daemon, root: Path) -> None:
    """The catalog's present items are exactly the regular files on disk, with their hashes."""
    truth = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        dirnames[:] = [d for d in dirnames if not d.startswith(b".")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path) and not name.startswith(b"."):
                truth[path] = sha256_of(path)
    items = daemon.catalog.items()
    assert {k: r["file_hash"] for k, r in items.items()} == truth


def test_first_catalog_of_a_tree(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    hashes = _tree(library)
    os.mkfifo(library / "a.fifo")
    (library / "Photos" / "loop").symlink_to(library)  # a symlink loop
    (library / "outside.jpg").symlink_to("/etc/hostname")  # a link out of the root
    odd = os.fsencode(library) + b"/caf\xe9-latin1.jpg"  # not valid UTF-8
    with open(odd, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    (library / ".hidden.jpg").write_bytes(b"excluded by the default patterns")

    daemon = daemon_factory([library]).start()
    status = daemon.wait_idle()
    items = daemon.catalog.items()

    for path, digest in hashes.items():
        assert items[os.fsencode(path)]["file_hash"] == digest
    beach = items[os.fsencode(library / "Photos/2024/beach.jpg")]
    copy = items[os.fsencode(library / "Photos/copy of beach.jpg")]
    assert beach["id"] != copy["id"] and beach["file_hash"] == copy["file_hash"]
    assert beach["media_type"] == "image" and beach["mime_type"] == "image/jpeg"
    assert items[os.fsencode(library / "Music/Artist/track01.wav")]["media_type"] == "audio"
    assert items[os.fsencode(library / "Documents/notes.txt")]["media_type"] == "other"
    # The non-UTF-8 name is kept exactly, with a readable display form.
    assert items[odd]["path"].endswith("caf\\xe9-latin1.jpg")
    assert len(items) == len(hashes) + 1  # no FIFO, no symlinks, no hidden file
    _assert_catalog_matches(daemon, library)

    root = status["roots"][0]
    assert root["path"] == str(library)
    # Hashing the non-UTF-8 name makes watchfiles end its watch (it cannot decode the name
    # of an open event); the daemon reconciles and re-arms.
    wait_for(lambda: daemon.status()["roots"][0]["watch"] == "inotify", what="the watch")
    assert root["by_media_type"] == {"image": 4, "audio": 1, "other": 1}
    assert root["last_reconcile"]["files"] == len(hashes) + 1
    assert status["state"] == "watching"
    assert daemon.stop() == 0
    assert any("STOPPING=1" in n for n in daemon.notifications)


def test_live_add_modify_delete_rename(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    _tree(library)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    before = daemon.catalog.items()
    beach_id = before[os.fsencode(library / "Photos/2024/beach.jpg")]["id"]
    track_id = before[os.fsencode(library / "Music/Artist/track01.wav")]["id"]

    new = _jpeg(library / "Photos" / "new.jpg", (0, 255, 0))
    wait_for(lambda: daemon.catalog.item(new), what="the new file to be catalogued")

    notes = library / "Documents" / "notes.txt"
    notes.write_text("shopping list\nmilk\n")
    digest = sha256_of(notes)
    wait_for(
        lambda: (r := daemon.catalog.item(notes)) is not None and r["file_hash"] == digest,
        what="the modified file's new hash",
    )

    (library / "Photos" / "2024" / "sunset.jpg").unlink()
    wait_for(
        lambda: daemon.catalog.item(library / "Photos/2024/sunset.jpg")["status"] == "missing",
        what="the deleted file to be marked missing",
    )

    # A file rename and a folder rename keep the items' ids.
    (library / "Photos" / "2024" / "beach.jpg").rename(library / "Photos" / "2024" / "shore.jpg")
    (library / "Music" / "Artist").rename(library / "Music" / "Renamed Artist")
    shore = library / "Photos/2024/shore.jpg"
    track = library / "Music/Renamed Artist/track01.wav"
    wait_for(
        lambda: all(daemon.catalog.item(p) for p in (shore, track)),
        what="the renamed paths to be catalogued",
    )
    daemon.wait_idle()
    assert daemon.catalog.item(shore)["id"] == beach_id
    assert daemon.catalog.item(track)["id"] == track_id
    assert daemon.catalog.item(library / "Photos/2024/beach.jpg") is None
    _assert_catalog_matches(daemon, library)
    assert daemon.stop() == 0


def test_metadata_stage_fills_in_behind_the_catalog(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    photo = library / "wide.png"
    Image.new("RGB", (64, 16), (1, 2, 3)).save(photo)
    broken = library / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # JPEG magic, no image
    (library / "notes.txt").write_text("no extractor for text")
    daemon = daemon_factory([library]).start()

    def metadata() -> dict[str, dict[str, object]]:
        rows = daemon.catalog.query(
            "SELECT i.name, m.width, m.height, m.extra FROM media_metadata m "
            "JOIN media_items i ON i.id = m.item_id"
        )
        return {r["name"]: dict(r) for r in rows}

    meta = wait_for(lambda: len(m := metadata()) == 2 and m, what="metadata rows")
    assert (meta["wide.png"]["width"], meta["wide.png"]["height"]) == (64, 16)
    assert "error" in json.loads(str(meta["broken.jpg"]["extra"]))
    wait_for(
        lambda: (s := daemon.status())["metadata"]["idle"] and s["pending"]["metadata"] == 0,
        what="no metadata pending",
    )

    # New content: the old metadata is dropped and extracted again.
    Image.new("RGB", (10, 30), (9, 9, 9)).save(photo)
    wait_for(
        lambda: metadata().get("wide.png", {}).get("width") == 10,
        what="metadata of the new content",
    )
    status = daemon.status()
    assert status["metadata"]["failed"] >= 1 and status["metadata"]["extracted"] >= 2
    assert daemon.stop() == 0


def test_offline_changes_are_picked_up_at_restart(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    _tree(library)
    daemon = daemon_factory([library])
    daemon.start()
    daemon.wait_idle()
    ids = {k: r["id"] for k, r in daemon.catalog.items().items()}
    assert daemon.stop() == 0

    # While the daemon is down: add, modify, delete, move.
    _wav(library / "Music" / "Artist" / "track02.wav")
    (library / "Documents" / "notes.txt").write_text("changed while down\n")
    (library / "Photos" / "2024" / "sunset.jpg").unlink()
    (library / "Photos" / "2024" / "beach.jpg").rename(library / "beach-moved.jpg")

    daemon.start()
    daemon.wait_idle()
    _assert_catalog_matches(daemon, library)
    moved = daemon.catalog.item(library / "beach-moved.jpg")
    assert moved["id"] == ids[os.fsencode(library / "Photos/2024/beach.jpg")]
    assert daemon.catalog.item(library / "Photos/2024/sunset.jpg")["status"] == "missing"
    finished = [e for e in daemon.log_events() if e.get("event") == "reconcile_finished"]
    assert finished[-1]["files_unchanged"] == 2  # copy of beach.jpg and track01.wav
    assert daemon.stop() == 0


def test_status_and_rescan_through_the_socket(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    _tree(library)
    daemon = daemon_factory([library], watch=False).start()
    daemon.wait_idle()

    human = daemon.ctl("status").stdout
    assert str(library) in human and "idle" in human

    # Not watching: only a rescan finds these.
    extra = library / "Photos" / "later"
    for i in range(30):
        _jpeg(extra / f"img{i:02}.jpg", (i, i, i))
    result = daemon.ctl("rescan", str(extra), "--json")
    assert '"walked": 30' in result.stdout
    assert all(daemon.catalog.item(extra / f"img{i:02}.jpg") for i in range(30))

    plain = daemon.ctl("rescan", str(library)).stdout
    assert "35 files seen, 0 indexed, 0 missing" in plain

    outside = daemon.ctl("rescan", "/etc", check=False)
    assert outside.returncode == 1
    assert "not_in_library" in outside.stderr
    assert daemon.stop() == 0


def test_sigterm_commits_what_it_indexed(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    for i in range(3000):
        folder = library / f"f{i // 100:02}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.bin").write_bytes(os.urandom(64) * 16)
    # A long batch window: SIGTERM arrives while the writer holds uncommitted work.
    daemon = daemon_factory([library], batch_size=100000, batch_interval=60.0).start()
    # Stop once some files are hashed (what the writer holds then must be committed).
    wait_for(lambda: daemon.status()["totals"]["hashed_bytes"] > 0, what="the first files hashed")
    assert daemon.stop() == 0
    stopped = [e for e in daemon.log_events() if e.get("event") == "stopped"]
    assert stopped, daemon.log_tail()
    committed = len(daemon.catalog.items())
    assert committed == stopped[-1]["indexed"] > 0

    daemon.start()
    daemon.wait_idle(timeout=120)
    _assert_catalog_matches(daemon, library)
    assert daemon.stop() == 0


def test_non_utf8_name_created_live_is_catalogued(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    """watchfiles ends its watch on such a name; the daemon must reconcile and re-arm."""
    _tree(library)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    odd = os.fsencode(library) + b"/Photos/\xff\xfebad.jpg"
    with open(odd, "wb") as f:
        f.write(b"bytes of a file with a broken name")
    wait_for(lambda: daemon.catalog.item(odd), what="the non-UTF-8 file to be catalogued")

    # The watch still works afterwards.
    later = _jpeg(library / "after.jpg")
    wait_for(lambda: daemon.catalog.item(later), what="a file created after the re-arm")
    assert daemon.stop() == 0


def test_second_daemon_on_the_same_socket_refuses(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    first = daemon_factory([library]).start()
    second = daemon_factory([library])
    second.socket = first.socket
    second.start(wait_ready=False)
    assert second.wait_exit() == 3
    assert "already listening" in second.log_tail()
    assert first.ctl("ping").returncode == 0
    assert first.stop() == 0


def test_stale_socket_is_replaced(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    daemon = daemon_factory([library])
    daemon.socket.parent.mkdir(parents=True, exist_ok=True)
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(daemon.socket))  # bound, never listening: what a crash leaves behind
    s.close()
    daemon.start()
    assert daemon.ctl("ping").returncode == 0
    assert daemon.stop() == 0


def test_sigint_stops_too(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    daemon = daemon_factory([library]).start()
    assert daemon.stop(signal.SIGINT) == 0
    assert not daemon.socket.exists()
