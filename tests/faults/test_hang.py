"""A root whose file system stops answering (a hard-mounted NFS share whose server died).

The hang is real: the root is a FUSE file system served by this test process
(``hangfs``), and ``hang()`` makes its server hold every request unanswered, so the
daemon's ``stat`` of the root waits in the kernel. The daemon must keep its event loop
free: ``status`` answers, the watchdog keeps being fed, the other root is indexed, the
hung root is reported offline with the reason, nothing is marked missing, and the root
comes back by itself once its file system answers again.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, wait_for
from tests.faults.hangfs import HangFS, fuse_unavailable

FS_TIMEOUT_S = 1.0  # the daemon's timeout of a file-system call (fs_timeout)
ANSWER_S = 2.0  # a status must come back within this while the root hangs


@pytest.fixture
def nas(short_tmp: Path) -> Iterator[HangFS]:
    why = fuse_unavailable()
    if why:
        pytest.skip(why)
    fs = HangFS(short_tmp / "nas")
    for i in range(3):
        fs.add(f"photo{i}.jpg", f"photo {i} ".encode() * 64)
    try:
        fs.mount()
    except OSError as exc:
        pytest.skip(f"cannot mount a FUSE file system here: {exc}")
    yield fs
    fs.unmount()  # after the daemons are gone (fixtures end in reverse order)


def _daemon(factory: Callable[..., Daemon], library: Path, nas: HangFS) -> Daemon:
    # poll_interval: the FUSE root is polled (inotify cannot see a FUSE server's changes),
    # and an offline root is rechecked at this interval.
    daemon = factory([library, nas.mountpoint], poll_interval=0.5, fs_timeout=FS_TIMEOUT_S)
    daemon.env["WATCHDOG_USEC"] = "1000000"  # a WATCHDOG=1 every half second
    return daemon


def _timed_status(daemon: Daemon) -> dict[str, Any]:
    began = time.monotonic()
    status = daemon.status()
    took = time.monotonic() - began
    assert took < ANSWER_S, f"status took {took:.1f} s while a root hangs"
    return status


def _nas_root(status: dict[str, Any], nas: HangFS) -> dict[str, Any]:
    root: dict[str, Any] = next(r for r in status["roots"] if r["path"] == str(nas.mountpoint))
    return root


def _offline(daemon: Daemon, nas: HangFS) -> dict[str, Any] | None:
    root = _nas_root(_timed_status(daemon), nas)
    return None if root["online"] else root


def _present_under(daemon: Daemon, folder: Path) -> int:
    prefix = os.fsencode(folder) + b"/"
    return sum(1 for key in daemon.catalog.items() if key.startswith(prefix))


def _largest_watchdog_gap(daemon: Daemon, since: float) -> float:
    pings = [t for t, text in list(daemon.notified_at) if "WATCHDOG=1" in text and t >= since]
    pings.append(time.monotonic())
    return max(b - a for a, b in itertools.pairwise(pings))


@pytest.mark.timeout(120)
def test_a_root_that_hangs_while_running_is_offline_and_the_rest_goes_on(
    nas: HangFS,
    daemon_factory: Callable[..., Daemon],
    library: Path,
    tally: Counter[str],
) -> None:
    (library / "a.jpg").write_bytes(b"a" * 300)
    daemon = _daemon(daemon_factory, library, nas).start()
    daemon.wait_idle()
    assert _present_under(daemon, nas.mountpoint) == 3

    nas.hang()
    tally["faults"] += 1
    hung_at = time.monotonic()
    # A rescan of the hung root ends (it does not wait for the mount) and says why.
    result = daemon.call("rescan", {"path": str(nas.mountpoint)})
    assert any("did not answer within" in e for e in result["errors"]), result
    assert nas.held.is_set()  # a stat of the daemon's really waits in the kernel
    root = wait_for(lambda: _offline(daemon, nas), what="the hung root to be offline")
    assert f"{nas.mountpoint} did not answer within {FS_TIMEOUT_S:g} s" in root["offline_reason"]

    daemon.proc.send_signal(signal.SIGHUP)  # a reload stats every root again
    nas.add("new-while-hung.jpg", b"n" * 500)  # found once the root answers again
    (library / "b.jpg").write_bytes(b"b" * 400)  # the other root keeps being indexed
    wait_for(lambda: _timed_status(daemon) and daemon.catalog.item(library / "b.jpg"))
    wait_for(
        lambda: any(e.get("event") == "reloaded" for e in daemon.log_events()),
        what="the reload to finish while the root hangs",
    )
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # a few more rounds of rechecks while it hangs
        assert _offline(daemon, nas) is not None
        time.sleep(0.2)
    assert _largest_watchdog_gap(daemon, hung_at) < 2.0
    assert daemon.catalog.items("missing") == {}
    assert _present_under(daemon, nas.mountpoint) == 3

    nas.resume()
    wait_for(lambda: _offline(daemon, nas) is None, what="the root to be back online")
    wait_for(
        lambda: daemon.catalog.item(nas.mountpoint / "new-while-hung.jpg"),
        what="the file added while it hung to be indexed",
    )
    assert _present_under(daemon, nas.mountpoint) == 4
    assert daemon.catalog.items("missing") == {}
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_a_root_hung_at_start_holds_neither_the_start_nor_the_stop(
    nas: HangFS,
    daemon_factory: Callable[..., Daemon],
    library: Path,
    tally: Counter[str],
) -> None:
    (library / "a.jpg").write_bytes(b"a" * 300)
    daemon = _daemon(daemon_factory, library, nas)
    nas.hang()
    tally["faults"] += 1
    began = time.monotonic()
    daemon.start()  # READY=1
    assert time.monotonic() - began < 15
    root = wait_for(lambda: _offline(daemon, nas), what="the hung root to be offline")
    assert "did not answer within" in root["offline_reason"]
    wait_for(lambda: daemon.catalog.item(library / "a.jpg"), what="the other root indexed")
    assert _present_under(daemon, nas.mountpoint) == 0
    # Calls stuck in the kernel are in daemon threads: they do not hold the exit.
    began = time.monotonic()
    assert daemon.stop(timeout=20) == 0
    assert time.monotonic() - began < 15
    nas.resume()
