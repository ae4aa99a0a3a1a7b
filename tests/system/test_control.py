"""The control socket under bad input, mediaforgectl without a daemon, config errors at start."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaforged.cli.main import Client, DaemonUnavailable
from tests.conftest import Daemon, as_nobody, wait_for
from tests.rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]


def test_malformed_messages_get_clear_errors(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library]).start()
    client = RawClient(daemon.socket)
    assert client.hello["hello"] == "mediaforged" and client.hello["protocol"] == 1

    cases = [
        (b"\x00\xff\xfe random bytes\n", "bad_json"),
        (b"{not json\n", "bad_json"),
        (b"[1,2,3]\n", "bad_request"),
        (b'{"id": 7, "cmd": "explode"}\n', "unknown_command"),
        (b'{"id": 8, "cmd": "status", "args": "all"}\n', "bad_request"),
        (b'{"id": 9, "cmd": "rescan", "args": {"path": 42}}\n', "bad_request"),
        (b'{"id": 10, "cmd": "rescan", "args": {"path": "relative/path"}}\n', "bad_request"),
    ]
    for raw, code in cases:
        reply = client.send(raw)
        assert reply["ok"] is False and reply["error"]["code"] == code, (raw, reply)
        assert reply["error"]["message"]
    assert client.send(b'{"id": 11, "cmd": "ping"}\n') == {
        "id": 11,
        "ok": True,
        "result": {"pong": True, "version": "0.1.0", "protocol": 1},
    }
    client.close()

    # A line longer than the limit: an error, then the connection is closed.
    big = RawClient(daemon.socket)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        big.write(b'{"id": 1, "cmd": "' + b"x" * (2 << 20) + b'"}\n')
    assert big.read()["error"]["code"] == "too_large"
    big.close()

    # A client that vanishes mid-request harms nothing.
    gone = RawClient(daemon.socket)
    gone.write(b'{"id": 1, "cmd": "sta')
    gone.close()

    assert daemon.status()["state"] in ("scanning", "watching")
    assert daemon.stop() == 0


def test_ctl_without_a_daemon_says_so(short_tmp: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mediaforged.cli.main",
            "--socket",
            str(short_tmp / "no.sock"),
            "status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 69
    assert "not running" in result.stderr and "systemctl start mediaforged" in result.stderr


def test_ctl_without_permission_says_so(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    daemon = daemon_factory([library], socket_mode="0600").start()
    os.chmod(short_tmp, 0o755)
    os.chmod(daemon.workdir, 0o755)

    def connect() -> tuple[int, str]:
        try:
            Client(daemon.socket).close()
        except DaemonUnavailable as exc:
            return exc.exit_code, str(exc)
        return 0, "connected"

    code, message = as_nobody(connect)
    assert code == 77
    assert "permission denied" in message and "group" in message
    root_client = Client(daemon.socket)  # root still may
    assert root_client.hello["hello"] == "mediaforged"
    root_client.close()
    assert daemon.stop() == 0


def test_invalid_config_stops_the_daemon_with_the_key_named(short_tmp: Path) -> None:
    config = short_tmp / "bad.toml"
    config.write_text('roots = ["/tmp"]\nsettle_seconds = "soon"\n')
    result = subprocess.run(
        [sys.executable, "-m", "mediaforged", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "settle_seconds: expected float" in result.stderr


def test_no_roots_is_a_clear_error(short_tmp: Path) -> None:
    env = {**os.environ, "HOME": str(short_tmp), "XDG_CONFIG_HOME": str(short_tmp)}
    env.pop("MEDIAFORGE_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "mediaforged"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert "no library roots configured" in result.stderr


def test_help_texts() -> None:
    for module in ("mediaforged", "mediaforged.cli.main"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0
        assert "usage" in result.stdout.lower()
    rescan = subprocess.run(
        [sys.executable, "-m", "mediaforged.cli.main", "rescan", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "--full" in rescan.stdout and "--json" in rescan.stdout


def test_an_unmounted_root_is_offline_not_missing(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    mount = tmp_path / "share"
    mount.mkdir()
    for i in range(5):
        (mount / f"{i}.jpg").write_bytes(b"photo %d" % i)
    daemon = daemon_factory([mount]).start()
    daemon.wait_idle()
    assert len(daemon.catalog.items()) == 5
    assert daemon.stop() == 0

    # What an unmounted share looks like: the mount point is there, empty.
    stash = tmp_path / "stash"
    mount.rename(stash)
    mount.mkdir()
    daemon.start()
    root = wait_for(
        lambda: (r := daemon.status()["roots"][0])["online"] is False and r, what="offline root"
    )
    assert "empty" in root["offline_reason"]
    assert len(daemon.catalog.items("present")) == 5  # nothing marked missing

    # The share comes back: a rescan finds everything where it was.
    mount.rmdir()
    stash.rename(mount)
    daemon.ctl("rescan")
    status = daemon.status()
    assert status["roots"][0]["online"] is True
    assert len(daemon.catalog.items("present")) == 5
    assert daemon.stop() == 0


def test_systemd_unit_verifies() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(REPO / "systemd" / "mediaforged.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line  # not installed on this machine
    ]
    assert problems == []


def test_a_catalog_that_is_not_a_database_is_kept_and_reported(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library])
    daemon.state_dir.mkdir()
    garbage = b"this is not an SQLite database, but it may be someone's only copy\n" * 100
    catalog = daemon.state_dir / "catalog.db"
    catalog.write_bytes(garbage)
    daemon.start(wait_ready=False)
    assert daemon.wait_exit() == 4  # EXIT_CORRUPT: restarting cannot help
    assert catalog.read_bytes() == garbage  # never overwritten with an empty catalog
    corrupt = [e for e in daemon.log_events() if e.get("event") == "catalog_corrupt"]
    assert corrupt and "not a database" in corrupt[0]["error"]


def test_rescan_streams_progress_before_its_reply(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    for i in range(200):
        (library / f"{i:03}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes([i % 256]) * 64)
    daemon = daemon_factory([library], watch=False).start()
    daemon.wait_idle()
    client = RawClient(daemon.socket)
    client.write(b'{"id": "r1", "cmd": "rescan", "args": {"full": true}}\n')
    lines = []
    while True:
        message = client.read()
        lines.append(message)
        if "ok" in message:
            break
    client.close()
    progress = [m for m in lines if "progress" in m]
    assert progress, lines
    assert all(m["id"] == "r1" for m in lines)
    job = progress[0]["progress"]["jobs"][0]
    assert job["kind"] == "rescan" and job["path"] == str(library)
    final = lines[-1]
    assert final["ok"] is True
    assert final["result"]["jobs"][0]["walked"] == 200
    assert final["result"]["jobs"][0]["done"] == 200  # --full rehashed every file
    assert daemon.stop() == 0
