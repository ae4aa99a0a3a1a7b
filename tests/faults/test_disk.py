"""The catalog's disk fills up or turns read-only: indexing waits, nothing crashes, and the
catalog converges once space returns (a real tmpfs, where the machine lets the test mount)."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, wait_for
from tests.faults.conftest import ground_truth, tree


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "state-disk"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1500k", "mfstate", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _remount(mount_point: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount_point)], check=True)


def _problem(daemon: Daemon) -> str | None:
    problem: str | None = daemon.status()["catalog"]["problem"]
    return problem


def test_a_full_then_read_only_catalog_disk(
    daemon_factory: Callable[..., Daemon],
    library: Path,
    small_disk: Path,
    tally: Counter[str],
) -> None:
    list(tree(library, 40, 250))  # 10,000 files: a catalog of several MB
    daemon = daemon_factory([library], batch_size=500)
    daemon.state_dir = small_disk / "state"
    daemon.catalog.db = daemon.state_dir / "catalog.db"
    daemon.start()
    assert daemon.proc is not None
    pid = daemon.proc.pid
    problem = wait_for(lambda: _problem(daemon), timeout=120, what="the disk to fill up")
    tally["faults"] += 1
    assert problem.startswith("catalog disk full")
    assert "catalog disk full" in daemon.ctl("status").stdout
    assert daemon.proc.poll() is None and daemon.proc.pid == pid  # no crash, no restart

    _remount(small_disk, "size=256m")  # space returns
    wait_for(lambda: _problem(daemon) is None, timeout=60, what="the writer to resume")
    daemon.wait_idle(timeout=180)
    truth = ground_truth(library)
    catalogued = {k: (r["size"], r["file_hash"]) for k, r in daemon.catalog.items().items()}
    tally["files"] += len(truth)
    tally["lost"] += len(set(truth) - set(catalogued))
    assert catalogued == truth

    assert daemon.stop() == 0

    # A state directory that is read-only when the daemon starts (the kernel remounts a
    # failing disk read-only; a running daemon's open files keep the mount busy, so this
    # is the case that can be made here): a clear exit that systemd does not restart.
    _remount(small_disk, "ro")
    extra = list(tree(library / "later", 2, 50))
    daemon.start(wait_ready=False)
    tally["faults"] += 1
    assert daemon.wait_exit(60) == 5  # EXIT_STORAGE, in the unit's RestartPreventExitStatus
    assert "catalog_unwritable" in daemon.log_tail()
    _remount(small_disk, "rw")
    daemon.start()
    wait_for(lambda: all(daemon.catalog.item(p) for p in extra), timeout=120, what="catch-up")
    assert len(daemon.catalog.items()) == len(truth) + len(extra)
    assert daemon.stop() == 0
