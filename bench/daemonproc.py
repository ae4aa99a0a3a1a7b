"""Start a real mediaforged for a benchmark: a config of its own, JSON logs in the work folder,
and a wait until the socket accepts (shared by bench_control.py and bench_lockout.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mediaforged.cli.main import Client, DaemonUnavailable


def start_daemon(
    tree: Path, work: Path, sock: Path, extra: str = ""
) -> tuple[subprocess.Popen[bytes], Path]:
    """mediaforged on ``tree`` with its state in ``work``; ``extra`` is more TOML."""
    config = work / "mediaforge.toml"
    config.write_text(
        f"roots = [{json.dumps(str(tree))}]\n"
        f"state_dir = {json.dumps(str(work / 'state'))}\n"
        f"socket_path = {json.dumps(str(sock))}\n"
        + ("" if "http_listen" in extra else 'http_listen = ""\n')  # off unless asked for
        + extra
    )
    log = open(work / "daemon.log", "wb")  # noqa: SIM115 - the daemon's, for its lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaforged", "--config", str(config), "--log-format", "json"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
    )
    deadline = time.monotonic() + 60
    while True:  # the socket file appears a moment before the daemon accepts on it
        try:
            Client(sock, timeout=60).close()
            return proc, sock
        except DaemonUnavailable:
            if proc.poll() is not None or time.monotonic() > deadline:
                log_text = (work / "daemon.log").read_text()
                raise SystemExit(f"mediaforged did not start: {log_text}") from None
            time.sleep(0.01)
