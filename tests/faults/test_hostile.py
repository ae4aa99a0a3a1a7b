"""Hostile files in a root: the daemon never hangs, never crashes, and records each one."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.conftest import NOBODY, Daemon, sha256_of, wait_for
from tests.faults.conftest import descendants, ground_truth, read_proc
from tests.system.test_service import readable_tree
from tests.system.unitfile import unprivileged


def test_special_files_links_and_odd_names(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    os.mkfifo(library / "a pipe.mp4")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(library / "a socket.jpg"))
    os.mknod(library / "a device.mkv", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    (library / "loop").symlink_to(library)  # a symlink loop
    (library / "passwd.jpg").symlink_to("/etc/passwd")  # a link out of the root
    (library / "dangling.jpg").symlink_to(library / "nowhere")
    (library / "empty.jpg").write_bytes(b"")
    odd = [
        os.fsencode(library) + b"/latin1-caf\xe9.jpg",
        os.fsencode(library) + b"/new\nline.jpg",
        os.fsencode(library) + b"/\x1b[31mred\x1b[0m.jpg",
    ]
    for path in odd:
        with open(path, "wb") as f:
            f.write(path)
    started = time.monotonic()
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    tally["faults"] += 10
    # Nothing waited on a pipe or a device (a blocking open would never return at all).
    assert time.monotonic() - started < 60
    truth = ground_truth(library)
    catalogued = {k: (r["size"], r["file_hash"]) for k, r in daemon.catalog.items().items()}
    tally["files"] += len(truth)
    assert catalogued == truth  # odd names exactly as bytes; no FIFO, socket, device, link
    assert catalogued[os.fsencode(library / "empty.jpg")] == (0, sha256_of(library / "empty.jpg"))
    finished = [e for e in daemon.log_events() if e.get("event") == "reconcile_finished"][-1]
    assert finished["skipped_special"] == 3 and finished["skipped_symlinks"] == 3

    # mediaforgectl prints names safely: no raw newline or escape sequence reaches the
    # terminal from a file name.
    shown = daemon.ctl("rescan", os.fsdecode(odd[2])).stdout
    assert "\x1b" not in shown and "red" in shown
    shown = daemon.ctl("rescan", os.fsdecode(odd[1])).stdout
    assert "new\nline" not in shown and "line.jpg" in shown

    # Made while watching: a FIFO is never opened (it would block a reader forever).
    os.mkfifo(library / "late.mp3")
    (library / "after.jpg").write_bytes(b"after the fifo")
    wait_for(lambda: daemon.catalog.item(library / "after.jpg"), what="the file after the FIFO")
    assert daemon.catalog.item(library / "late.mp3") is None
    unix.close()
    assert daemon.stop() == 0


def test_a_sparse_terabyte_never_stalls_status_or_shutdown(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    huge = library / "huge.mkv"
    with open(huge, "wb") as f:
        f.truncate(1 << 40)  # 1 TiB of holes: an hour of hashing
    (library / "small.jpg").write_bytes(b"small")
    daemon = daemon_factory([library]).start()
    wait_for(lambda: daemon.status()["pending"]["indexing"] >= 1, what="hashing to start")
    tally["faults"] += 1
    latencies = []
    for _ in range(5):  # the control channel answers while a worker reads the terabyte
        t = time.monotonic()
        daemon.status()
        latencies.append(time.monotonic() - t)
    # A small file of the same batch is not held back behind the terabyte.
    wait_for(lambda: daemon.catalog.item(library / "small.jpg"), what="the other file")
    t = time.monotonic()
    assert daemon.stop(timeout=30) == 0
    stopped_in = time.monotonic() - t
    if stopped_in > 15:
        tally["hangs"] += 1
    assert stopped_in < 15, f"shutdown took {stopped_in:.1f}s with a huge file being hashed"
    item = daemon.catalog.item(huge)  # never stored with the hash of a part of it
    assert item is None or (item["file_hash"] is None and item["error_code"] == "cancelled")


def test_files_that_change_or_vanish_while_hashed(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    daemon = daemon_factory([library], settle_seconds=0.0).start()
    daemon.wait_idle()
    growing = library / "growing.mkv"
    with open(growing, "wb") as f:
        f.truncate(3 << 30)  # 3 GiB of holes: a few seconds to hash

    def grow() -> None:  # appends while the daemon hashes it, then stops
        for i in range(40):
            with open(growing, "ab") as f:
                f.write(bytes([i]) * 4096)
            time.sleep(0.05)

    writer = threading.Thread(target=grow)
    writer.start()
    writer.join()
    tally["faults"] += 1
    expected = sha256_of(growing)
    wait_for(
        lambda: (daemon.catalog.item(growing) or {"file_hash": None})["file_hash"] == expected,
        timeout=120,
        what="the final hash of the grown file",
    )
    assert daemon.catalog.item(growing)["size"] == growing.stat().st_size  # type: ignore[index]

    doomed = library / "doomed.mkv"
    with open(doomed, "wb") as f:
        f.truncate(3 << 30)
    wait_for(lambda: daemon.status()["pending"]["indexing"] >= 1, what="hashing to start")
    doomed.unlink()  # deleted while it is read
    tally["faults"] += 1
    daemon.wait_idle(timeout=120)
    assert daemon.catalog.item(doomed) is None or daemon.catalog.item(doomed)["status"] != "present"  # type: ignore[index]
    assert daemon.stop() == 0


def test_a_folder_replaced_by_a_file_of_the_same_name(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    (library / "x").mkdir()
    (library / "x" / "in.jpg").write_bytes(b"inside x")
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    (library / "x" / "in.jpg").unlink()
    (library / "x").rmdir()
    (library / "x").write_bytes(b"now x is a file")
    wait_for(lambda: daemon.catalog.item(library / "x"), what="the file x")
    daemon.wait_idle()
    assert daemon.catalog.item(library / "x" / "in.jpg")["status"] == "missing"  # type: ignore[index]
    assert daemon.stop() == 0


def test_unreadable_files_and_folders_as_an_unprivileged_daemon(
    daemon_factory: Callable[..., Daemon], short_tmp: Path, tally: Counter[str]
) -> None:
    readable_tree(short_tmp)
    library = short_tmp / "library"
    (library / "open").mkdir(parents=True)
    (library / "open" / "ok.jpg").write_bytes(b"readable")
    (library / "locked.jpg").write_bytes(b"root only")
    (library / "locked.jpg").chmod(0o600)
    (library / "private").mkdir()
    (library / "private" / "p.jpg").write_bytes(b"in a folder nobody may list")
    for path in (library, library / "open", library / "open" / "ok.jpg"):
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else 0o644)
    (library / "private").chmod(0o700)
    daemon = daemon_factory([library])
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(daemon.workdir)], check=True)
    # Coverage's subprocess hook would write its data under the repository, which nobody
    # may not: run this daemon without it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV", "COVERAGE"))}
    env.pop("MEDIAFORGE_CONFIG", None)
    daemon.write_config()
    daemon.start(
        argv=[sys.executable, "-m", "mediaforged", "--config", str(daemon.config_path)],
        env={**env, "MEDIAFORGE_LOG_FORMAT": "json"},
        preexec_fn=unprivileged(NOBODY, NOBODY),
    )
    daemon.wait_idle()
    tally["faults"] += 2
    locked = daemon.catalog.item(library / "locked.jpg")
    assert locked is not None and locked["status"] == "failed"
    assert locked["error_code"] == "permission_denied"
    assert daemon.catalog.item(library / "open" / "ok.jpg") is not None
    recent = daemon.status()["errors"]["recent"]
    assert any(e["code"] == "unreadable_dir" and "private" in e["path"] for e in recent)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.stop() == 0


def test_an_ffprobe_that_never_returns(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path, tally: Counter[str]
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ffprobe").write_text("#!/bin/sh\nexec sleep 3600\n")
    (fake / "ffprobe").chmod(0o755)
    video = library / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))  # looks like an MP4
    daemon = daemon_factory([library], extract_timeout=1.0)
    daemon.env["PATH"] = f"{fake}:{os.environ['PATH']}"
    daemon.start()
    tally["faults"] += 1
    item = wait_for(
        lambda: (r := daemon.catalog.item(video)) is not None and r["error_code"] and r,
        timeout=60,
        what="the hung probe to be recorded",
    )
    assert item["error_code"] == "timeout"
    assert daemon.proc is not None
    left = wait_for(
        lambda: (
            not [p for p in descendants(daemon.proc.pid) if p.name.startswith(("sleep", "ffprobe"))]
            or None
        ),
        timeout=10,
        what="the probe and its children to be gone",
    )
    assert left is True
    assert not [p for p in descendants(daemon.proc.pid) if p.state == "Z"]  # no zombie
    assert daemon.stop() == 0


def test_hashing_workers_die_with_a_killed_daemon(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    with open(library / "huge.mkv", "wb") as f:
        f.truncate(1 << 40)
    daemon = daemon_factory([library]).start()
    wait_for(lambda: daemon.status()["pending"]["indexing"] >= 1, what="hashing to start")
    assert daemon.proc is not None
    workers = [p.pid for p in descendants(daemon.proc.pid) if p.state != "Z"]
    assert workers
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    tally["faults"] += 1

    def gone() -> bool:
        return all((p := read_proc(pid)) is None or p.state == "Z" for pid in workers)

    # Orphans would read the terabyte for an hour; they notice their parent is gone.
    wait_for(gone, timeout=20, what="the hashing workers to stop")
