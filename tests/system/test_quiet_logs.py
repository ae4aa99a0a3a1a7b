"""What the daemon logs at info is what a person should read: no line per ctl call, and no
asyncio traceback when it stops while an `events --follow` subscriber is connected."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PYTHON, Daemon, wait_for


def test_ctl_calls_are_debug_and_a_follower_at_shutdown_leaves_no_traceback(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    for _ in range(5):
        daemon.ctl("status")
    (library / "new.jpg").write_bytes(b"an event for the followers".ljust(64, b"."))
    wait_for(lambda: daemon.catalog.item(library / "new.jpg"), what="the new file")
    ctl = [PYTHON, "-m", "mediaforged.cli.main", "--socket", str(daemon.socket)]
    followers = [
        subprocess.Popen(
            [*ctl, "events", "--follow", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["--since", "0"], ["--since", "0", "--json"])
    ]
    for follower in followers:  # its first event printed: it is connected, following
        assert follower.stdout is not None
        assert "added" in follower.stdout.readline()
    assert daemon.stop() == 0
    for follower in followers:  # told why the stream ended, not just hung up on
        assert "stopping" in follower.communicate(timeout=30)[1]
    events = daemon.log_events()
    info = [e for e in events if e.get("level") in ("info", "warning", "error")]
    assert not [e for e in info if e["event"] in ("client_connected", "client_disconnected")]
    text = daemon.log_path.read_text()
    assert "Traceback" not in text, daemon.log_tail(60)
    assert not [e for e in events if e.get("level") == "error"], daemon.log_tail(60)
