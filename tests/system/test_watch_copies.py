"""Trees copied into a watched root (``cp -r``, ``shutil.copytree``): every folder gets its
watch and every file is catalogued from the events, not from a reconcile an hour later.

The race this guards (issue 14, item 1): a new folder's watch is armed a moment after its
creation event; what is created in it meanwhile (files, sub-folders, and theirs) has no
event of its own. The quick reconcile is an hour away here, so it cannot hide a miss.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Daemon, wait_for

FOLDERS = 30
FILES = 20
ROUNDS = 3


def _source_tree(top: Path) -> None:
    """FOLDERS folders of FILES files; every third one also has a sub-folder of files."""
    for d in range(FOLDERS):
        folder = top / f"d{d:03d}"
        folder.mkdir(parents=True)
        for i in range(FILES):
            (folder / f"IMG_{d:03d}_{i:04d}.jpg").write_bytes(f"{d}/{i}".encode().ljust(64, b"."))
        if d % 3 == 0:
            sub = folder / "sub"
            sub.mkdir()
            for i in range(3):
                (sub / f"S_{d:03d}_{i}.jpg").write_bytes(f"{d}/sub/{i}".encode().ljust(64, b"."))


def _disk(top: Path) -> tuple[set[bytes], int]:
    """The regular files below ``top`` (bytes paths) and the number of folders (``top`` too)."""
    files: set[bytes] = set()
    folders = 0
    for dirpath, _dirs, names in os.walk(os.fsencode(top)):
        folders += 1
        files.update(os.path.join(dirpath, n) for n in names)
    return files, folders


class _Intruder(threading.Thread):
    """Makes a file in each folder of the copies as soon as it sees the folder, and a
    sub-folder with a file in each top one: things made in folders whose watch is being
    armed, the window the race is about."""

    def __init__(self, dests: list[Path]) -> None:
        super().__init__(daemon=True)
        self.dests = dests
        self.done = threading.Event()
        self.seen: set[str] = set()

    def run(self) -> None:
        while not self.done.is_set():
            for dest in self.dests:
                for dirpath, _dirs, _names in os.walk(dest):
                    if dirpath not in self.seen:
                        self.seen.add(dirpath)
                        self._intrude(Path(dirpath), top=Path(dirpath).parent == dest)

    @staticmethod
    def _intrude(folder: Path, top: bool) -> None:
        try:
            (folder / "intruder.jpg").write_bytes(str(folder).encode().ljust(64, b"!"))
            if top:
                (folder / "extra").mkdir()
                (folder / "extra" / "x.jpg").write_bytes(str(folder).encode().ljust(64, b"x"))
        except OSError:
            pass  # removed meanwhile: nothing to catalogue there


def test_trees_copied_in_are_watched_and_catalogued_whole(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path
) -> None:
    source = tmp_path / "bulk"
    _source_tree(source)
    daemon = daemon_factory([library], quick_reconcile_interval=3600).start()
    daemon.wait_idle()
    for n in range(ROUNDS):
        # Both ways at once, into two folders: more folders appear while others are armed.
        copies = [library / f"Bulk{n}a", library / f"Bulk{n}b"]
        intruder = _Intruder(copies)
        intruder.start()
        cp = subprocess.Popen(["cp", "-r", str(source), str(copies[1])])
        shutil.copytree(source, copies[0])
        assert cp.wait(60) == 0
        intruder.done.set()
        intruder.join()
        files, folders = _disk(library)

        def uncatalogued(files: set[bytes] = files) -> set[bytes]:
            return files - set(daemon.catalog.items())

        # Within the settle time plus a generous bound, from the events alone.
        wait_for(lambda: not uncatalogued(), timeout=60, what=f"round {n}'s files")
        wait_for(
            lambda folders=folders: daemon.status()["roots"][0]["watch_folders"] == folders,
            timeout=60,
            what=f"{folders} watched folders after round {n}",
        )
    # Every copied folder is watched: a file made in each now is seen from its event.
    late = []
    for dirpath, _dirs, _names in os.walk(library):
        if dirpath != str(library):
            path = Path(dirpath, "late.jpg")
            path.write_bytes(dirpath.encode().ljust(64, b"L"))
            late.append(os.fsencode(path))
    wait_for(lambda: not set(late) - set(daemon.catalog.items()), timeout=90, what="the late files")
    status = daemon.status()
    assert status["roots"][0]["watch_folders"] == _disk(library)[1]
    assert status["roots"][0]["unwatched_folders"] == 0
    assert daemon.catalog.items("missing") == {}
    assert daemon.stop() == 0
