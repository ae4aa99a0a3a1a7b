"""A log stream whose reader went away (``mediaforged ... 2>&1 | tee log``, then Ctrl-C kills
tee) or that nobody reads (a full pipe) never stops the daemon: SIGTERM still stops it with
its normal code, the socket still answers, and the lines it could not write are counted."""

from __future__ import annotations

import fcntl
import json
import os
import select
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, wait_for

_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, named in the module from Python 3.10 on Linux only


class _Reader(threading.Thread):
    """The pipe's reader (tee): keeps the lines until stopped; then its end is closed."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.data = b""
        self.quit = threading.Event()

    def run(self) -> None:
        while not self.quit.is_set():
            if select.select([self.fd], [], [], 0.05)[0]:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return
                self.data += chunk

    def close(self) -> None:
        self.quit.set()
        self.join()
        os.close(self.fd)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.data.decode(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


def _start_into_pipe(daemon: Daemon, pipe_size: int | None = None) -> int:
    """Start ``daemon`` with stdout and stderr into a new pipe; returns its read end."""
    r, w = os.pipe()
    if pipe_size:
        fcntl.fcntl(w, _F_SETPIPE_SZ, pipe_size)
    daemon.output = w
    try:
        daemon.start()
    finally:
        os.close(w)  # the daemon holds the only write end now, as under `| tee`
    return r


def _intact(daemon: Daemon) -> None:
    conn = sqlite3.connect(daemon.catalog.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def _files(library: Path, n: int) -> set[bytes]:
    for i in range(n):
        (library / f"p{i}.jpg").write_bytes(f"photo {i}".encode().ljust(64, b"."))
    return {os.fsencode(library / f"p{i}.jpg") for i in range(n)}


def test_sigterm_stops_a_daemon_whose_log_pipe_broke(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    files = _files(library, 5)
    daemon = daemon_factory([library])
    reader = _Reader(_start_into_pipe(daemon))
    reader.start()
    daemon.wait_idle()
    wait_for(lambda: any(e.get("event") == "ready" for e in reader.events()), what="the logs")
    reader.close()  # Ctrl-C: tee is gone, the next write gets EPIPE
    daemon.ctl("rescan", str(library))  # logs at info: a write into the broken pipe
    (library / "late.jpg").write_bytes(b"made after the pipe broke".ljust(64, b"."))
    files.add(os.fsencode(library / "late.jpg"))
    wait_for(lambda: set(daemon.catalog.items()) == files, timeout=60, what="the late file")
    assert daemon.status()["state"] == "watching"
    assert daemon.stop(timeout=60) == 0
    assert set(daemon.catalog.items()) == files
    _intact(daemon)


def test_a_log_pipe_nobody_reads_blocks_nothing(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    files = _files(library, 5)
    daemon = daemon_factory([library], log_level="debug")
    r = _start_into_pipe(daemon, pipe_size=4096)  # one page: full after a few lines
    for i in range(200):  # each is logged (debug): far more than the pipe holds
        assert daemon.call("ping") is not None, f"ping {i}"
    daemon.wait_idle()
    assert set(daemon.catalog.items()) == files
    reader = _Reader(r)  # someone reads again: the next line says how many were dropped
    reader.start()

    def dropped() -> int:
        daemon.call("ping")
        counts = [e.get("lines", 0) for e in reader.events() if e["event"] == "log_lines_dropped"]
        return sum(counts)

    assert wait_for(dropped, timeout=60, what="log_lines_dropped") > 100
    assert daemon.stop(timeout=60) == 0
    reader.close()
    _intact(daemon)
