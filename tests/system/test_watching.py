"""Hands-off watching with the real daemon: settling, renames, offline roots, the guard,
polling, the inotify limit, reloads, the watchdog, excludes, pause and purge."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HEAVY_GROUP, Daemon, sha256_of, wait_for


def _files(folder: Path, n: int, prefix: str = "f", size: int = 64) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"{prefix}{i:05d}.jpg"
        path.write_bytes(f"{folder.name}/{prefix}{i}".encode().ljust(size, b"."))
        out.append(path)
    return out


def _tag(daemon: Daemon, item_ids: list[int], name: str) -> None:
    args = [a for i in item_ids for a in ("--id", str(i))]
    daemon.ctl("tag", "add", name, *args)


def _tagged(daemon: Daemon, name: str) -> set[int]:
    rows = daemon.catalog.query(
        "SELECT item_id FROM item_tags JOIN tags ON tags.id = tag_id WHERE name = ?", name
    )
    return {r["item_id"] for r in rows}


def _present(daemon: Daemon, folder: Path) -> dict[bytes, Any]:
    prefix = os.fsencode(folder) + b"/"
    return {k: r for k, r in daemon.catalog.items().items() if k.startswith(prefix)}


def _hashed(daemon: Daemon) -> int:
    return int(daemon.status()["totals"]["hashed_bytes"])


def test_a_slow_writer_is_catalogued_once_with_its_final_hash(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library], settle_seconds=1.0).start()
    daemon.wait_idle()
    video = library / "copying.mp4"
    with open(video, "wb") as f:  # grows for ~3 s, never still for a whole settle time
        for i in range(12):
            f.write(bytes([i]) * 65536)
            f.flush()
            time.sleep(0.25)
    wait_for(lambda: daemon.catalog.item(video), what="the finished copy")
    daemon.wait_idle()
    item = daemon.catalog.item(video)
    assert item is not None
    assert item["file_hash"] == sha256_of(video)
    assert item["size"] == 12 * 65536
    # Hashed once, whole: a partial hash along the way would have read more bytes.
    assert _hashed(daemon) == 12 * 65536


def test_temporary_download_names_wait_for_their_rename(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    part = library / "movie.mkv.part"
    part.write_bytes(b"x" * 5000)
    marker = library / "seen.jpg"
    marker.write_bytes(b"a later event, so the .part one was handled")
    wait_for(lambda: daemon.catalog.item(marker), what="the later file")
    assert daemon.catalog.item(part) is None
    part.rename(library / "movie.mkv")
    wait_for(lambda: daemon.catalog.item(library / "movie.mkv"), what="the renamed download")


def test_a_folder_renamed_keeps_ids_and_tags_without_rehashing(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    album = library / "Album"
    _files(album, 300)
    _files(library / "Other", 5)
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    before = _present(daemon, album)
    assert len(before) == 300
    ids = {k[len(os.fsencode(album)) :]: r["id"] for k, r in before.items()}
    _tag(daemon, sorted(ids.values())[:50], "favourite")
    hashed = _hashed(daemon)

    album.rename(library / "Album (2024)")
    moved_to = library / "Album (2024)"
    wait_for(lambda: len(_present(daemon, moved_to)) == 300, what="the renamed folder")
    daemon.wait_idle()
    after = _present(daemon, moved_to)
    assert {k[len(os.fsencode(moved_to)) :]: r["id"] for k, r in after.items()} == ids
    assert _present(daemon, album) == {}
    assert daemon.catalog.items("missing") == {}
    assert _tagged(daemon, "favourite") == set(sorted(ids.values())[:50])
    assert _hashed(daemon) == hashed  # matched by (dev, inode): not one byte read again


def test_moves_while_stopped_keep_identity_within_and_across_roots(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    _files(a / "x", 20)
    b.mkdir()
    daemon = daemon_factory([a, b]).start()
    daemon.wait_idle()
    ids = {os.path.basename(k): r["id"] for k, r in daemon.catalog.items().items()}
    _tag(daemon, list(ids.values())[:5], "keep")
    assert daemon.stop() == 0

    (a / "x").rename(a / "y")  # a folder renamed inside root A
    (a / "y" / "f00000.jpg").rename(b / "f00000.jpg")  # a file moved to root B
    daemon.start()
    daemon.wait_idle()
    items = daemon.catalog.items()
    assert {os.path.basename(k): r["id"] for k, r in items.items()} == ids
    assert items[os.fsencode(b / "f00000.jpg")]["id"] == ids[b"f00000.jpg"]
    assert _tagged(daemon, "keep") == set(list(ids.values())[:5])
    assert daemon.catalog.items("missing") == {}
    assert _hashed(daemon) == 0


def test_a_root_that_disappears_goes_offline_and_comes_back(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    root = tmp_path / "share"
    _files(root / "2024", 30)
    daemon = daemon_factory([root], poll_interval=0.5).start()
    daemon.wait_idle()
    ids = {k: r["id"] for k, r in daemon.catalog.items().items()}

    root.rename(tmp_path / "share.away")  # unplugged
    wait_for(lambda: not daemon.status()["roots"][0]["online"], what="the root to go offline")
    status = daemon.status()["roots"][0]
    assert "not reachable" in status["offline_reason"]
    assert daemon.catalog.items("missing") == {}  # nothing marked missing

    (tmp_path / "share.away").rename(root)  # plugged back in
    wait_for(lambda: daemon.status()["roots"][0]["online"], what="the root to come back")
    new = root / "2024" / "after.jpg"
    new.write_bytes(b"made after the share came back")
    wait_for(lambda: daemon.catalog.item(new), what="a file made after the return")
    assert {k: r["id"] for k, r in daemon.catalog.items().items() if k != os.fsencode(new)} == ids
    assert daemon.catalog.items("missing") == {}
    assert daemon.stop() == 0


def _can_mount(target: Path) -> bool:
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "mftest", str(target)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def test_an_unmounted_share_is_offline_not_deleted(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    mount_point = tmp_path / "nas"
    mount_point.mkdir()
    (mount_point / "underneath.txt").write_bytes(b"on the parent file system")
    if not _can_mount(mount_point):
        pytest.skip("this machine does not allow mounting a tmpfs (no CAP_SYS_ADMIN)")
    try:
        _files(mount_point / "Photos", 10)
        daemon = daemon_factory([mount_point], poll_interval=0.5).start()
        daemon.wait_idle()
        assert len(daemon.catalog.items()) == 10
        subprocess.run(["umount", "-l", str(mount_point)], check=True)  # -l: even while busy
        # The mount point is not empty: only its device tells that the share is gone.
        rescan = daemon.ctl("rescan", check=False)  # reports the root offline: exit 1
        assert rescan.returncode == 1 and "unmounted?" in rescan.stderr
        wait_for(lambda: not daemon.status()["roots"][0]["online"], what="offline")
        assert "parent's file system" in daemon.status()["roots"][0]["offline_reason"]
        assert daemon.catalog.items("missing") == {}
        assert _can_mount(mount_point)
        _files(mount_point / "Photos", 10)  # the same bytes come back on a new tmpfs
        wait_for(lambda: daemon.status()["roots"][0]["online"], what="online again")
        daemon.wait_idle()
        assert len(daemon.catalog.items()) == 10
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)


def test_the_mass_missing_guard_waits_for_confirm(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    files = _files(library / "Shoot", 20)
    daemon = daemon_factory([library], missing_guard_min=5, missing_guard_share=0.5).start()
    daemon.wait_idle()
    assert daemon.stop() == 0
    for path in files[:15]:
        path.unlink()
    daemon.start()
    daemon.wait_idle()
    root = daemon.status()["roots"][0]
    assert root["held_missing"] == 15
    assert "mediaforgectl confirm" in root["held"]
    assert len(daemon.catalog.items()) == 20  # nothing marked missing
    shown = daemon.ctl("status").stdout
    assert "held back" in shown

    result = daemon.ctl("confirm", str(library), "--json")
    assert '"missing": 15' in result.stdout
    assert len(daemon.catalog.items("missing")) == 15
    assert daemon.status()["roots"][0]["held"] is None
    assert daemon.stop() == 0


def test_a_root_forced_to_poll(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    _files(library / "old", 3)
    daemon = daemon_factory(
        [library], root_options={str(library): {"watch_mode": "poll"}}, poll_interval=0.3
    ).start()
    daemon.wait_idle()
    root = daemon.status()["roots"][0]
    assert root["watch"] == "poll" and root["watch_mode"] == "poll"
    new = _files(library / "new", 4)
    (library / "old" / "f00000.jpg").rename(library / "old" / "renamed.jpg")
    (library / "old" / "f00001.jpg").unlink()
    wait_for(lambda: all(daemon.catalog.item(p) for p in new), what="polled new files")
    wait_for(
        lambda: (
            (daemon.catalog.item(library / "old/f00001.jpg") or {"status": ""})["status"]
            == "missing"
        ),
        what="a polled deletion",
    )
    renamed = daemon.catalog.item(library / "old" / "renamed.jpg")
    assert renamed is not None
    assert daemon.log_events()[-1]  # the log is readable JSON
    assert not any(e.get("event") == "watching" for e in daemon.log_events())


def test_auto_mode_polls_a_network_file_system(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path
) -> None:
    mountinfo = tmp_path / "mountinfo"
    with open("/proc/self/mountinfo", encoding="utf-8") as real:
        text = real.read()
    # The real table plus an NFS mount at the library, as the kernel would list it.
    text += f"999 1 0:99 / {library} rw,relatime - nfs4 nas:/volume1/media rw\n"
    mountinfo.write_text(text)
    daemon = daemon_factory([library], poll_interval=0.3)
    daemon.env["MEDIAFORGE_MOUNTINFO"] = str(mountinfo)
    daemon.start()
    daemon.wait_idle()
    root = daemon.status()["roots"][0]
    assert root["watch"] == "poll"
    assert "nfs4" in root["watch_mode_reason"]
    path = library / "from-another-machine.jpg"
    path.write_bytes(b"written through the share")
    wait_for(lambda: daemon.catalog.item(path), what="the polled file")
    assert daemon.stop() == 0


def test_the_inotify_limit_falls_back_to_polling(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    for i in range(40):
        (library / f"d{i}").mkdir()
    probe = subprocess.run(
        ["unshare", "-U", "-r", "sh", "-c", "echo 10 > /proc/sys/user/max_inotify_watches"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"no user namespace to lower the inotify limit in: {probe.stderr!r}")
    daemon = daemon_factory([library], poll_interval=0.3)
    # A user namespace with its own watch limit: the daemon runs out of watches for real.
    daemon.wrapper = [
        "unshare",
        "-U",
        "-r",
        "sh",
        "-c",
        'echo 10 > /proc/sys/user/max_inotify_watches && exec "$@"',
        "sh",
    ]
    daemon.start()
    root = wait_for(
        lambda: (r := daemon.status()["roots"][0])["watch"] == "poll" and r, what="the fallback"
    )
    assert "sysctl fs.inotify.max_user_watches=" in root["watch_fallback"]
    assert "polling:" in daemon.ctl("status").stdout
    path = library / "d7" / "late.jpg"
    path.write_bytes(b"found by polling")
    wait_for(lambda: daemon.catalog.item(path), what="a file in a polled root")


def test_sighup_reloads_the_root_list(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    _files(a, 3)
    _files(b, 4)
    daemon = daemon_factory([a]).start()
    daemon.wait_idle()
    daemon.roots = [a, b]
    daemon.write_config()
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_notified("RELOADING=1")
    wait_for(lambda: len(daemon.status()["roots"]) == 2, what="the new root")
    wait_for(lambda: len(_present(daemon, b)) == 4, what="the new root's files")
    live = b / "live.jpg"
    live.write_bytes(b"the new root is watched")
    wait_for(lambda: daemon.catalog.item(live), what="a live file in the new root")

    daemon.settings["settle_seconds"] = "not a number"  # a broken config is refused
    daemon.write_config()
    failed = daemon.ctl("reload", check=False)
    assert failed.returncode != 0 and "settle_seconds" in failed.stderr
    assert len(daemon.status()["roots"]) == 2

    daemon.settings["settle_seconds"] = 0.2
    daemon.roots = [b]
    daemon.write_config()
    result = daemon.ctl("reload", "--json")
    assert str(a) in result.stdout
    assert [r["path"] for r in daemon.status()["roots"]] == [str(b)]
    # A removed root's items stay in the catalog, offline (tests/system/test_roots.py).
    assert not _present(daemon, a)
    prefix = os.fsencode(a) + b"/"
    assert len([k for k in daemon.catalog.items("offline") if k.startswith(prefix)]) == 3
    assert any(e.get("event") == "reload_failed" for e in daemon.log_events())
    assert daemon.stop() == 0


def test_watchdog_pings_reach_the_notify_socket(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library])
    daemon.env["WATCHDOG_USEC"] = "400000"
    daemon.start()
    daemon.wait_notified("WATCHDOG=1")
    first = daemon.count_notified("WATCHDOG=1", 0)
    # Pings at half the interval (0.2 s), from the event loop: several more within seconds.
    wait_for(lambda: daemon.count_notified("WATCHDOG=1") >= first + 3, what="more pings")
    assert daemon.count_notified("STATUS=", 0) >= 1


def test_excludes_and_the_ignore_marker(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    kept = _files(library / "Photos", 3)
    _files(library / "Photos" / "@eaDir", 2)
    (library / "Thumbs.db").write_bytes(b"windows")
    (library / "Photos" / "._f00000.jpg").write_bytes(b"apple double")
    _files(library / "Private", 4)
    (library / "Private" / ".mediaforgeignore").touch()
    _files(library / "Raw", 2, size=80)
    daemon = daemon_factory([library], root_options={str(library): {"exclude": ["Raw"]}}).start()
    daemon.wait_idle()
    assert set(daemon.catalog.items()) == {os.fsencode(p) for p in kept}

    (library / "Photos" / ".mediaforgeignore").touch()  # now exclude Photos too, live
    wait_for(lambda: len(daemon.catalog.items("missing")) == 3, what="Photos to be excluded")
    (library / "Private" / ".mediaforgeignore").unlink()  # and bring Private back
    wait_for(lambda: len(_present(daemon, library / "Private")) == 4, what="Private back")
    (library / "Photos" / "new.jpg").write_bytes(b"inside an ignored folder")
    (library / "Private" / "new.jpg").write_bytes(b"inside a folder that is back")
    wait_for(lambda: daemon.catalog.item(library / "Private/new.jpg"), what="new file")
    daemon.wait_idle()
    assert daemon.catalog.item(library / "Photos/new.jpg") is None


def test_pause_one_root(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    daemon = daemon_factory([a, b]).start()
    daemon.wait_idle()
    daemon.ctl("pause", str(a))
    assert daemon.status()["roots"][0]["paused"] is True
    (a / "held.jpg").write_bytes(b"waits for resume")
    (b / "free.jpg").write_bytes(b"goes through")
    wait_for(lambda: daemon.catalog.item(b / "free.jpg"), what="the other root's file")
    daemon.ctl("rescan", str(b))  # a full turn of the pipeline while A is paused
    assert daemon.catalog.item(a / "held.jpg") is None
    assert "paused" in daemon.ctl("status").stdout
    daemon.ctl("resume", str(a))
    wait_for(lambda: daemon.catalog.item(a / "held.jpg"), what="the held file after resume")
    bad = daemon.ctl("pause", str(tmp_path / "nowhere"), check=False)
    assert bad.returncode != 0 and "not a library root" in bad.stderr


def test_missing_items_are_purged_after_the_grace_period(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    gone, kept = _files(library, 2)
    # 0.00003 days is about 2.6 s: the purge check runs every second at that grace.
    daemon = daemon_factory([library], missing_grace_days=0.00003).start()
    daemon.wait_idle()
    item = daemon.catalog.item(gone)
    assert item is not None
    _tag(daemon, [item["id"]], "old")
    gone.unlink()
    wait_for(lambda: (daemon.catalog.item(gone) or {})["status"] == "missing", what="missing")
    assert _tagged(daemon, "old") == {item["id"]}  # kept through the grace period
    wait_for(lambda: daemon.catalog.item(gone) is None, what="the purge")
    assert _tagged(daemon, "old") == set()
    assert daemon.catalog.item(kept) is not None
    assert daemon.status()["totals"]["purged"] == 1
    assert daemon.stop() == 0


def _rss_peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.xdist_group(HEAVY_GROUP)  # not beside the kill -9 loop (tests/conftest.py)
def test_a_storm_of_50000_files_is_caught_whole(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library], quick_reconcile_interval=2.0, settle_seconds=0.5)
    daemon.measure = False  # 50,000 files: coverage tracing would make this a load test of it
    daemon.start()
    daemon.wait_idle()

    def write(start: int) -> None:
        for d in range(start, 100, 4):
            _files(library / f"burst{d:03d}", 500, size=32)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    # inotify may drop events in such a storm (silently); the quick reconcile finds the rest.
    wait_for(lambda: len(daemon.catalog.items()) == 50_000, timeout=180, what="all 50,000")
    assert daemon.proc is not None
    peak_mib = _rss_peak_kib(daemon.proc.pid) / 1024
    assert peak_mib < 400, f"the daemon's memory grew to {peak_mib:.0f} MiB"
    assert daemon.catalog.items("missing") == {}


@pytest.fixture(autouse=True)
def _no_stray_mounts(tmp_path: Path) -> Any:
    yield
    # A failed mount test must not leave a tmpfs behind on the shared machine.
    for path in (tmp_path / "nas",):
        if os.path.ismount(path):
            subprocess.run(["umount", str(path)], check=False)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_excluded_folders_get_no_watch_and_undecodable_ones_are_watched(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    for album in ("A", "B"):
        _files(library / album, 2)
        for i in range(30):  # Synology's thumbnail folders: one per file
            (library / album / "@eaDir" / f"IMG_{i}.JPG").mkdir(parents=True)
    odd = os.fsencode(library) + b"/Caf\xe9"  # a folder name that is not UTF-8
    os.mkdir(odd)
    # The quick check is far away: what follows is found from its events.
    daemon = daemon_factory([library], quick_reconcile_interval=3600).start()
    daemon.wait_idle()
    root = daemon.status()["roots"][0]
    # The root, A, B and Caf\xe9: no @eaDir anywhere. Raw inotify takes bytes paths, so the
    # folder that watchfiles could not watch (tests/unit/test_folder_watches.py) is watched.
    assert root["watch_folders"] == 4
    assert root["unwatched_folders"] == 0
    assert not any(e.get("event") == "folders_not_watched" for e in daemon.log_events())
    late = odd + b"/late.jpg"
    with open(late, "wb") as f:
        f.write(b"seen from its event, in a folder whose name is not UTF-8")
    wait_for(lambda: daemon.catalog.item(late), what="a file in a non-UTF-8 folder")
    # A new folder is watched before it is scanned: files made in it later are seen.
    (library / "C" / "deep").mkdir(parents=True)
    wait_for(lambda: daemon.status()["roots"][0]["watch_folders"] == 6, what="the new watches")
    (library / "C" / "deep" / "x.jpg").write_bytes(b"inside the new folder")
    wait_for(lambda: daemon.catalog.item(library / "C/deep/x.jpg"), what="the new folder's file")
    assert daemon.stop() == 0
