"""A root's file system is lazily unmounted (`umount -l`, as a desktop does with a pulled USB
disk): the root goes offline within seconds, and nothing is marked missing."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, wait_for


@pytest.fixture
def usb_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "usb"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "mfusb", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)


@pytest.mark.parametrize("below", [False, True], ids=["root-is-the-mount", "root-below-it"])
def test_a_lazily_unmounted_root_goes_offline_at_once(
    daemon_factory: Callable[..., Daemon], usb_disk: Path, below: bool
) -> None:
    root = usb_disk / "Photos" if below else usb_disk
    for i in range(20):
        folder = root / f"d{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"p{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i]) * 64)
    # The periodic checks are an hour away: only the unmount itself can tell the daemon.
    daemon = daemon_factory(
        [root], quick_reconcile_interval=3600, reconcile_interval=3600, poll_interval=3600
    ).start()
    daemon.wait_idle()
    assert daemon.status()["roots"][0]["online"] is True

    subprocess.run(["umount", "-l", str(usb_disk)], check=True)
    began = time.monotonic()
    wait_for(lambda: daemon.status()["roots"][0]["online"] is False, timeout=8, what="offline")
    took = time.monotonic() - began
    status = daemon.status()
    assert status["roots"][0]["offline_reason"]
    assert status["roots"][0]["by_status"].get("missing", 0) == 0
    rows = daemon.catalog.query("SELECT count(*) FROM media_items WHERE status = 'missing'")
    assert rows[0][0] == 0
    print(f"offline {took:.2f} s after the unmount")
    assert daemon.stop() == 0
