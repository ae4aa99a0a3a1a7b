"""Symlinks swapped in below a root never lead the daemon out of it (issue 13, items 1-2).

A private folder outside the root holds files whose bytes are unique; whatever the link
tricks, none of their hashes (nor their names) may ever reach the catalog.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Daemon, sha256_of, wait_for


def _private(folder: Path, count: int = 3) -> set[str]:
    """Secret files in ``folder`` and in ``folder/sub``; their SHA-256s."""
    (folder / "sub").mkdir(parents=True)
    for where in (folder, folder / "sub"):
        for i in range(count):
            (where / f"secret{i}.jpg").write_bytes(f"private {where.name} {i} ".encode() * 40)
    return {sha256_of(p) for p in folder.rglob("secret*.jpg")}


def _leaks(daemon: Daemon, secrets: set[str]) -> list[bytes]:
    """Catalogued paths (any status) that hold a secret's bytes or name."""
    return [
        key
        for key, row in daemon.catalog.items(status=None).items()
        if row["file_hash"] in secrets or b"secret" in key
    ]


def test_a_folder_swapped_for_a_symlink_is_not_followed(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    secrets = _private(library.parent / "private")
    for name in ("photos", "music"):
        (library / name / "sub").mkdir(parents=True)
        (library / name / "sub" / "a.jpg").write_bytes(f"{name} a".encode())
    # The quick reconcile (folder mtimes) is what read the private folder (issue 13, 1).
    daemon = daemon_factory([library], quick_reconcile_interval=0.3).start()
    daemon.wait_idle()
    photo = daemon.catalog.item(library / "photos" / "sub" / "a.jpg")
    assert photo is not None

    os.rename(library / "photos", library / "photos_old")
    (library / "photos").symlink_to(library.parent / "private")
    shutil.rmtree(library / "music")
    (library / "music").symlink_to(library.parent / "private")
    tally["faults"] += 2

    def settled() -> bool:
        music = daemon.catalog.item(library / "music" / "sub" / "a.jpg")
        moved = daemon.catalog.item(library / "photos_old" / "sub" / "a.jpg")
        return bool(music and music["status"] == "missing" and moved)

    wait_for(settled, what="the quick reconcile to see the swap")
    time.sleep(1.0)  # a few more quick reconciles: nothing may follow the links later
    daemon.call("rescan", {"path": str(library)})
    daemon.wait_idle()
    assert _leaks(daemon, secrets) == []
    present = daemon.catalog.items()
    assert not [k for k in present if k.startswith(os.fsencode(library / "photos") + b"/")]
    assert not [k for k in present if k.startswith(os.fsencode(library / "music") + b"/")]
    moved = daemon.catalog.item(library / "photos_old" / "sub" / "a.jpg")
    assert moved is not None and moved["id"] == photo["id"]  # a move keeps its item
    tally["files"] += len(secrets)
    assert daemon.stop() == 0


def test_rescan_through_a_symlinked_folder_stores_nothing(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    secrets = _private(library.parent / "private" / "photos")
    (library / "evil").symlink_to("/etc")
    (library / "link").symlink_to(library.parent / "private")
    (library / "real.jpg").write_bytes(b"a real file")
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    passwd = sha256_of(Path("/etc/passwd"))

    for target in ("evil/passwd", "link/photos", "link/photos/secret0.jpg", "evil"):
        result = daemon.ctl("rescan", str(library / target), check=False)
        assert result.returncode != 0, result.stdout
        assert "symlink" in result.stderr, result.stderr  # it says why
        tally["faults"] += 1
    daemon.wait_idle()
    assert _leaks(daemon, secrets | {passwd}) == []
    assert set(daemon.catalog.items(status=None)) == {os.fsencode(library / "real.jpg")}

    why = daemon.call("why", {"path": str(library / "link" / "photos" / "secret0.jpg")})
    assert not why["catalogued"] and "symlink" in why["message"]
    assert daemon.ctl("tag", "add", "x", str(library / "evil" / "passwd"), check=False).returncode
    assert daemon.stop() == 0


def test_a_swap_racing_the_walks_never_escapes(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    secrets = _private(library.parent / "private")
    flip = library / "flip"
    hold = library / ".hold"  # a dot name: excluded, so the parked folder is never walked
    (flip / "sub").mkdir(parents=True)
    for i in range(20):
        (flip / f"own{i}.jpg").write_bytes(f"own {i}".encode())
        (flip / "sub" / f"own{i}.jpg").write_bytes(f"own sub {i}".encode())
    daemon = daemon_factory([library], quick_reconcile_interval=0.2).start()
    daemon.wait_idle()

    stop = threading.Event()
    flips = 0

    def flipper() -> None:  # the folder and a link out of the root, in turn
        nonlocal flips
        while not stop.is_set():
            os.rename(flip, hold)
            flip.symlink_to(library.parent / "private")
            time.sleep(0.002)
            flip.unlink()
            os.rename(hold, flip)
            flips += 1
            time.sleep(0.002)

    thread = threading.Thread(target=flipper)
    thread.start()
    targets = [library, flip, flip / "sub", flip / "sub" / "secret0.jpg", flip / "secret1.jpg"]
    try:
        deadline = time.monotonic() + 4.0
        rounds = 0
        while time.monotonic() < deadline:
            for target in targets:
                daemon.ctl("rescan", str(target), check=False)
                rounds += 1
    finally:
        stop.set()
        thread.join()
    tally["faults"] += 1
    assert flips > 50 and rounds >= len(targets)
    daemon.call("rescan", {"path": str(library)})
    daemon.wait_idle()
    assert _leaks(daemon, secrets) == []
    assert len(daemon.catalog.items()) == 40  # the folder's own files, all back
    assert daemon.stop() == 0
