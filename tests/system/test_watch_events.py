"""The watch under what an outside tester threw at it (issue 13): names that are not UTF-8
read while watching, a kernel queue overflow while the daemon was stopped, and slow copies
that pause between chunks."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, sha256_of, wait_for


def _count(daemon: Daemon, event: str) -> int:
    return sum(e.get("event") == event for e in daemon.log_events())


def _changes(daemon: Daemon, path: Path) -> list[str]:
    """The change log's kinds for ``path`` (added, changed, ...), oldest first."""
    out = daemon.ctl("events", "--json", "--since", "0").stdout
    events = [json.loads(line) for line in out.splitlines()]
    return [e["kind"] for e in events if e["path"] == str(path)]


def test_reading_a_non_utf8_file_does_not_end_the_watch(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    # The quick check is far away: everything below is found from its events.
    daemon = daemon_factory([library], quick_reconcile_interval=3600).start()
    daemon.wait_idle()
    odd = os.fsencode(library) + b"/caf\xe9.jpg"
    with open(odd, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 a photo whose name is not UTF-8")
    wait_for(lambda: daemon.catalog.item(odd), what="the non-UTF-8 file, from its event")
    daemon.wait_idle()  # its hashing and extraction read it too
    restarts = daemon.status()["roots"][0]["watch_restarts"]
    for _ in range(50):  # `cat`, or a media server scanning the share
        with open(odd, "rb") as f:
            f.read()
    later = library / "later.jpg"
    later.write_bytes(b"\xff\xd8\xff\xe0 the watch is still there")
    wait_for(lambda: daemon.catalog.item(later), what="a file made after the reads")
    root = daemon.status()["roots"][0]
    assert root["watch"] == "inotify"
    assert root["watch_restarts"] == restarts == 0
    assert _count(daemon, "watch_failed") == 0
    assert _count(daemon, "watching") == 1  # armed once: never re-armed
    assert daemon.stop() == 0


def _queue_size() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as f:
        return int(f.read())


def test_an_overflow_while_stopped_is_caught_up_at_once(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    queue = _queue_size()
    if queue > 65536:
        pytest.skip(f"max_queued_events is {queue}: too many files to overflow it here")
    old = library / "old"
    old.mkdir()
    # Far longer than the test: only the overflow's own catch-up can find what was dropped.
    daemon = daemon_factory([library], quick_reconcile_interval=3600, settle_seconds=0.2)
    daemon.measure = False  # thousands of files: coverage tracing would slow the catch-up
    daemon.start()
    daemon.wait_idle()
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        # Three events per file (create, modify, close_write): half the queue's size in
        # files in a watched folder overflows it by half. A folder made meanwhile has no
        # watch yet: its files make no events.
        for i in range(queue // 2):
            (old / f"f{i:06d}.jpg").write_bytes(b"%06d" % i)
        new = library / "new"
        new.mkdir()
        for i in range(100):
            (new / f"n{i:06d}.jpg").write_bytes(b"%06d" % i)
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    made = queue // 2 + 100
    # The quick check is an hour off: converging at all (2.7 s measured, 16 s on a loaded
    # machine) means the overflow's own catch-up found the dropped files.
    wait_for(lambda: len(daemon.catalog.items()) == made, timeout=120, what="every file made")
    root = daemon.status()["roots"][0]
    assert root["overflows"] >= 1
    events = daemon.log_events()
    overflow = next(e for e in events if e.get("event") == "watch_overflow")
    assert "IN_Q_OVERFLOW" in overflow["why"]
    caught = [
        e
        for e in events
        if e.get("event") == "reconcile_finished" and e.get("kind") == "watch-error"
    ]
    assert sum(e["files_indexed"] for e in caught) > 0, "the catch-up reconcile indexed nothing"
    assert "overflowed" in daemon.ctl("status").stdout
    # The folder made while the events were dropped is watched now.
    late = new / "late.jpg"
    late.write_bytes(b"after the catch-up")
    wait_for(lambda: daemon.catalog.item(late), what="a file in the folder made meanwhile")
    assert daemon.stop() == 0


CHUNK = 32 * 1024
CHUNKS = 8


def _write_slowly(path: Path, held_open: bool, done: threading.Event) -> None:
    """A chunk every 1.5 s: held open throughout (an SMB client), or opened, appended and
    closed each time (a `cat >>` in a loop)."""
    f: Any = open(path, "wb") if held_open else None  # noqa: SIM115 - closed below
    try:
        for i in range(CHUNKS):
            if held_open:
                f.write(bytes([i]) * CHUNK)
                f.flush()
            else:
                with open(path, "ab") as g:
                    g.write(bytes([i]) * CHUNK)
            time.sleep(1.5)
    finally:
        if f is not None:
            f.close()
        done.set()


def test_slow_copies_are_hashed_once_or_twice_not_at_every_pause(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library], settle_seconds=1.0).start()
    daemon.wait_idle()
    # Not media that extraction would reject (a failed event): what is counted is indexing.
    smb, appended = library / "smb-copy.txt", library / "appended.txt"
    smb_done, appended_done = threading.Event(), threading.Event()
    writers = [
        threading.Thread(target=_write_slowly, args=(smb, True, smb_done)),
        threading.Thread(target=_write_slowly, args=(appended, False, appended_done)),
    ]
    for t in writers:
        t.start()
    shown_early = False
    while not smb_done.is_set():  # never shown while its writer still holds it open
        shown_early = shown_early or daemon.catalog.item(smb) is not None
        time.sleep(0.2)
    for t in writers:
        t.join()
    for path in (smb, appended):
        wait_for(
            lambda p=path: (daemon.catalog.item(p) or {"size": 0})["size"] == CHUNK * CHUNKS,
            what=f"{path.name} whole",
        )
    daemon.wait_idle()
    assert not shown_early, "the held-open copy was catalogued half written"
    assert _changes(daemon, smb) == ["added"]
    # Closed after each chunk: indexed at the first close, then it waits longer each time.
    kinds = _changes(daemon, appended)
    assert kinds[0] == "added" and len(kinds) <= 3, kinds
    for path in (smb, appended):
        item = daemon.catalog.item(path)
        assert item is not None and item["file_hash"] == sha256_of(path)
    assert daemon.stop() == 0
