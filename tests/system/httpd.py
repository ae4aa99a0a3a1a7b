"""A daemon with its HTTP API on a free loopback port, shared by a test module, and its tokens."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Daemon, wait_for


@dataclass
class Http:
    daemon: Daemon
    base: str  # http://127.0.0.1:PORT
    admin: str  # the admin token the first start wrote
    read: str  # a read token made with mediaforgectl

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60, **kw)


@contextmanager
def http_daemon(roots: list[Path], **settings: Any) -> Iterator[Http]:
    """Start the daemon (roots already filled), wait until idle, yield; stop it after."""
    workdir = Path(tempfile.mkdtemp(prefix="mfh", dir="/tmp"))
    daemon = Daemon(workdir, roots, http_listen="127.0.0.1:0", **settings)
    try:
        daemon.start()
        daemon.wait_idle(60)
        base = wait_for(lambda: daemon.status()["http"], 30, "the HTTP address in status")
        token_file = daemon.state_dir / "admin.token"
        wait_for(token_file.exists, 30, "the first admin token")
        admin = token_file.read_text().strip()
        read = daemon.ctl("token", "create", "reader", "--scope", "read").stdout.strip()
        yield Http(daemon, base, admin, read)
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
        daemon.close()
        shutil.rmtree(workdir, ignore_errors=True)
