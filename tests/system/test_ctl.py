"""mediaforgectl's commands against a running daemon: what a user sees."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PYTHON, Daemon, wait_for


def test_pause_resume_ping_version(daemon_factory: Callable[..., Daemon], library: Path) -> None:
    daemon = daemon_factory([library]).start()
    daemon.wait_idle()
    assert "is running (protocol 1)" in daemon.ctl("ping").stdout
    assert json.loads(daemon.ctl("ping", "--json").stdout)["pong"] is True
    assert daemon.ctl("version").stdout.startswith("mediaforgectl 0.1.0")
    # --json prints the reply the harness reads over the socket (Daemon.status).
    printed = json.loads(daemon.ctl("status", "--json").stdout)
    assert printed.keys() == daemon.status().keys() and printed["state"] == "watching"

    # status --watch in a pipe: a JSON line per refresh, until Ctrl-C.
    ctl = [PYTHON, "-m", "mediaforged.cli.main", "-s", str(daemon.socket)]
    watcher = subprocess.Popen(
        [*ctl, "status", "--watch", "0.2", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    lines = [json.loads(watcher.stdout.readline()) for _ in range(3)]
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(10) == 0
    watcher.stdout.close()
    assert [line["state"] for line in lines] == ["watching"] * 3
    assert lines[0]["uptime_s"] < lines[2]["uptime_s"]

    assert daemon.ctl("pause").stdout.strip() == "paused every root"
    assert daemon.status()["state"] == "paused"
    held = library / "while-paused.jpg"
    held.write_bytes(b"\xff\xd8\xff\xe0 held")
    # Noticed, settled and queued, but not indexed while paused.
    wait_for(
        lambda: daemon.status()["pending"]["indexing"] == 1, what="the file to wait in the indexer"
    )
    assert daemon.catalog.item(held) is None
    assert "resumed (watching)" in daemon.ctl("resume").stdout
    wait_for(lambda: daemon.catalog.item(held), what="the held file after resume")
    assert daemon.stop() == 0


def test_rescan_of_one_file_and_of_a_vanished_folder(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    album = library / "album"
    album.mkdir()
    for i in range(3):
        (album / f"{i}.flac").write_bytes(b"fLaC" + bytes([i]) * 100)
    daemon = daemon_factory([library], watch=False).start()
    daemon.wait_idle()
    assert len(daemon.catalog.items()) == 3

    one = album / "0.flac"
    one.write_bytes(b"fLaC changed")
    result = json.loads(daemon.ctl("rescan", str(one), "--json").stdout)
    assert result["jobs"][0]["walked"] == 1
    assert daemon.catalog.item(one)["size"] == len(b"fLaC changed")

    shutil.rmtree(album)
    out = daemon.ctl("rescan", str(album)).stdout
    assert "missing" in out
    assert all(r["status"] == "missing" for r in daemon.catalog.items(None).values())
    assert daemon.catalog.items() == {}
    assert daemon.stop() == 0


def test_human_status_shows_an_offline_root(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    gone_root = short_tmp / "unplugged"  # a USB disk that is not there
    daemon = daemon_factory([library, gone_root]).start()
    daemon.wait_idle()
    status = daemon.status()
    roots = {r["path"]: r for r in status["roots"]}
    assert roots[str(gone_root)]["online"] is False
    assert "not reachable" in roots[str(gone_root)]["offline_reason"]
    assert roots[str(gone_root)]["watch"].startswith("failed")

    human = daemon.ctl("status").stdout
    assert "offline" in human and str(gone_root) in human
    assert "awaiting metadata" in human

    # The disk comes back: a rescan brings the root online.
    gone_root.mkdir()
    (gone_root / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 a")
    daemon.ctl("rescan", str(gone_root))
    wait_for(lambda: daemon.catalog.item(gone_root / "a.jpg"), what="the returning root's file")
    roots = {r["path"]: r for r in daemon.status()["roots"]}
    assert roots[str(gone_root)]["online"] is True
    assert daemon.stop() == 0
