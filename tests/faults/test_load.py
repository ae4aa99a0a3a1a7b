"""The kernel's inotify queue overflows: events are lost for real, the daemon notices
(IN_Q_OVERFLOW) and brings the catalog back to the disk at once, without stalling the loop."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Daemon, wait_for
from tests.faults.conftest import ground_truth

QUICK_S = 5.0
WATCHDOG_S = 10.0


def test_an_overflowing_event_queue(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    queue_limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    daemon = daemon_factory([library], quick_reconcile_interval=QUICK_S)
    daemon.env["WATCHDOG_USEC"] = str(int(WATCHDOG_S * 1e6))  # a ping every WATCHDOG_S / 2
    daemon.measure = False  # 21,000 files: under coverage this test took 97 s instead of 7
    daemon.start()
    daemon.wait_idle()
    assert daemon.proc is not None
    per_folder = 250
    folders = queue_limit // per_folder + 20
    # The folders exist and are watched first: so nothing but the quick reconcile (folder
    # mtimes) can find the files whose events the kernel drops (a new folder would be
    # scanned whole on its own event).
    for d in range(folders):
        (library / f"w{d:03d}").mkdir()
    wait_for(
        lambda: daemon.status()["roots"][0]["watch_folders"] == folders + 1,
        what="the folders to be watched",
    )
    # Stopped, the daemon reads no events: more than the queue holds, in many folders at
    # once, overflow it (the kernel drops the rest and says so only with IN_Q_OVERFLOW).
    daemon.proc.send_signal(signal.SIGSTOP)

    def write(start: int) -> None:
        for d in range(start, folders, 4):
            folder = library / f"w{d:03d}"
            for i in range(per_folder):
                (folder / f"img{i:04d}.jpg").write_bytes(f"{d}/{i}".encode() * 8)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    tally["faults"] += 1
    resumed = time.monotonic()
    daemon.proc.send_signal(signal.SIGCONT)
    truth = ground_truth(library)
    assert len(truth) > queue_limit

    def converged() -> bool:
        items = daemon.catalog.items()
        return {k: (r["size"], r["file_hash"]) for k, r in items.items()} == truth

    # One quick-reconcile interval plus the time to hash and commit what it finds (the
    # bound is wide for a shared machine; the log shows which mechanism caught up).
    wait_for(converged, timeout=300, what="the catalog to equal the disk")
    took = time.monotonic() - resumed
    tally["files"] += len(truth)
    # The overflow is seen (IN_Q_OVERFLOW) and a catch-up reconcile asked for at once; the
    # folders' own reconciles, still queued from their creation, may find the files first.
    overflows = [e for e in daemon.log_events() if e.get("event") == "watch_overflow"]
    assert overflows, "the overflow went unnoticed"
    assert daemon.status()["roots"][0]["overflows"] >= 1
    print(f"caught up {len(truth)} files in {took:.1f}s after the overflow")
    # The event loop kept feeding the watchdog while it caught up: no gap between pings
    # (after the SIGCONT) as long as the watchdog interval.
    pings = [t for t, text in daemon.notified_at if "WATCHDOG=1" in text and t > resumed]
    gaps = [b - a for a, b in zip([resumed, *pings], pings, strict=False)]
    if max(gaps) >= WATCHDOG_S:
        tally["hangs"] += 1
    assert max(gaps) < WATCHDOG_S, f"the event loop went {max(gaps):.1f}s without a ping"
    assert daemon.stop() == 0
