"""`cancel`: a long reconcile stops on request, marks nothing missing, and loses nothing.

Hashing is slowed with read_limit_mb and the index queue kept short, so the walk waits on
back-pressure and a cancel lands in the middle of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import PYTHON, Daemon, wait_for

FILES = 5000  # 2 KiB each: 10 MB, about 10 s at 1 MB/s
# Start at full speed (the first catalog), then slow hashing down with `reload`.
QUEUE = {"workers": 1, "queue_size": 512, "batch_interval": 0.1}


def _slow_down(daemon: Daemon, mb_per_s: int = 1) -> None:
    daemon.settings["read_limit_mb"] = mb_per_s
    daemon.write_config()
    daemon.ctl("reload")


def _make_files(folder: Path, count: int, per_folder: int = 250) -> list[Path]:
    made = []
    for i in range(count):
        sub = folder / f"f{i // per_folder:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i:05d}.bin"
        path.write_bytes(i.to_bytes(4, "big") * 512)
        made.append(path)
    return made


def _running_job(daemon: Daemon, kind: str) -> dict[str, Any] | None:
    for job in daemon.status()["jobs"]:
        if job["kind"] == kind and not job["complete"] and job["done"] > 0:
            return job
    return None


def _ctl_process(daemon: Daemon, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "mediaforged.cli.main", "--socket", str(daemon.socket), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_cancel_stops_a_rescan_and_marks_nothing_missing(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    files = _make_files(library, FILES)
    daemon = daemon_factory([library], watch=False, **QUEUE).start()
    daemon.wait_idle()
    assert len(daemon.catalog.items()) == FILES
    _slow_down(daemon)
    deleted = files[::250]  # one per folder: wherever the walk stops, some lie beyond it
    for path in deleted:
        path.unlink()

    rescan = _ctl_process(daemon, "rescan", "--full", str(library))
    job = wait_for(lambda: _running_job(daemon, "rescan"), 30, "the rescan to be hashing")
    # The human status shows the job, on one 80-column screen.
    view = daemon.ctl("status", columns=80).stdout.splitlines()
    assert len(view) <= 24 and max(len(line) for line in view) <= 80, view
    assert any(f"job {job['job']} rescan" in line and "indexed" in line for line in view), view
    result = json.loads(daemon.ctl("cancel", "--json").stdout)
    cancelled = result["cancelled"]
    assert [j["job"] for j in cancelled] == [job["job"]]
    assert cancelled[0]["cancelled"] and cancelled[0]["complete"], cancelled
    assert cancelled[0]["dropped"] > 0
    # The walk was cut short: back-pressure held it long before the last folder.
    assert cancelled[0]["walked"] < FILES

    _, stderr = rescan.communicate(timeout=30)
    assert rescan.returncode == 1
    assert "rescan cancelled" in stderr and "left as they were catalogued" in stderr

    # A cut-short walk is no evidence that files are gone: nothing was marked missing.
    assert len(daemon.catalog.items()) == FILES
    assert not daemon.catalog.items("missing")
    status = daemon.status()
    shown = next(j for j in status["jobs"] if j["job"] == job["job"])
    assert shown["cancelled"] and shown["complete"]
    assert status["pending"]["index_queue"] == 0
    events = [e for e in daemon.log_events() if e.get("event") == "reconcile_cancelled"]
    assert events and events[0]["kind"] == "rescan"

    # Nothing else to cancel now; an unknown job is a clear error.
    assert "nothing to cancel" in daemon.ctl("cancel").stdout
    missing = daemon.ctl("cancel", "99999", check=False)
    assert missing.returncode == 1 and "no job 99999" in missing.stderr

    # A later rescan that runs to its end finds the deleted files.
    daemon.ctl("rescan", str(library))
    assert set(daemon.catalog.items("missing")) == {os.fsencode(p) for p in deleted}


def test_a_cancelled_watch_job_loses_no_file(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path
) -> None:
    """A folder moved in is walked by its own job; cancelled half way, the files it did not
    index are found by the next quick check (its folder is marked changed), not lost until
    the next full reconcile."""
    daemon = daemon_factory([library], **QUEUE, quick_reconcile_interval=2).start()
    daemon.wait_idle()
    _slow_down(daemon)
    outside = tmp_path / "incoming"
    _make_files(outside, FILES, per_folder=FILES)  # one folder: listed at once, then queued
    os.rename(outside, library / "incoming")

    job = wait_for(lambda: _running_job(daemon, "watch-dir"), 30, "the new folder's job")
    cancelled = json.loads(daemon.ctl("cancel", "--json").stdout)["cancelled"]
    assert job["job"] in [j["job"] for j in cancelled]
    dropped = next(j for j in cancelled if j["job"] == job["job"])["dropped"]
    assert dropped > 0, cancelled
    assert len(daemon.catalog.items()) < FILES

    # Hashing at full speed again; the quick check (every 2 s) picks up the rest.
    _slow_down(daemon, 0)
    try:
        wait_for(lambda: len(daemon.catalog.items()) == FILES or None, 60, "all files catalogued")
    except AssertionError:
        raise AssertionError(f"{len(daemon.catalog.items())} files:\n{daemon.log_tail()}") from None
    finished = [e for e in daemon.log_events() if e.get("event") == "reconcile_finished"]
    assert any(e["kind"] == "quick" and e["files_indexed"] > 0 for e in finished), finished


def test_a_rescan_in_flight_when_the_daemon_stops_is_told_so(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    _make_files(library, 2000)
    daemon = daemon_factory([library], watch=False, **QUEUE).start()
    daemon.wait_idle()
    _slow_down(daemon)

    rescan = _ctl_process(daemon, "rescan", "--full")
    wait_for(lambda: _running_job(daemon, "rescan"), 30, "the rescan to be hashing")
    assert daemon.stop(signal.SIGTERM) == 0
    _, stderr = rescan.communicate(timeout=30)
    assert rescan.returncode == 1
    assert "mediaforged is stopping" in stderr, stderr
