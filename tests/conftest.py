"""Shared fixtures: a real daemon subprocess, driven by the real mediaforgectl over its socket.

Sockets live in short directories under /tmp: a Unix socket path is limited to 107 bytes and
pytest's tmp_path can be longer. Waiting is always on a condition (READY=1 on a socket the
test owns, or a catalog state), never on a fixed sleep.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaforged.cli.client import Client, CommandFailed, DaemonUnavailable

PYTHON = sys.executable
DEFAULT_TIMEOUT = 30.0


def wait_for(
    condition: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


NOBODY = 65534


def as_nobody(fn: Callable[[], Any]) -> Any:
    """Run fn in a forked child that dropped to an unprivileged uid (root reads everything)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result: Any = ("ok", fn())
        except BaseException as exc:
            result = ("raised", exc)
        with os.fdopen(write_end, "wb") as w:
            pickle.dump(result, w)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as r:
        kind, value = pickle.load(r)
    os.waitpid(pid, 0)
    if kind == "raised":
        raise value
    return value


def sha256_of(path: Path | bytes) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Catalog:
    """Reads the catalog with the stdlib sqlite3 module: an independent view of what was written.

    Until the daemon said READY=1 (``ready`` tells; the Daemon below passes its own) the
    catalog may not exist yet, or not have its tables: such a query finds nothing. Any other
    error, and any error at all once the daemon is ready (a renamed column, a missing table),
    is raised: a query that cannot run must not pass for one that found no rows.
    """

    def __init__(self, db: Path, ready: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        self.ready = ready

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        early = not self.ready()
        if not self.db.exists():
            if early:
                return []
            raise AssertionError(f"no catalog at {self.db}, though the daemon is ready")
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if early and str(exc).startswith("no such table"):
                return []  # the daemon is still creating the schema
            raise
        finally:
            conn.close()

    def items(self, status: str | None = "present") -> dict[bytes, sqlite3.Row]:
        sql = "SELECT * FROM media_items"
        rows = self.query(sql + " WHERE status = ?", status) if status else self.query(sql)
        return {bytes(r["path_key"]): r for r in rows}

    def item(self, path: Path | bytes) -> sqlite3.Row | None:
        key = path if isinstance(path, bytes) else os.fsencode(path)
        rows = self.query("SELECT * FROM media_items WHERE path_key = ?", key)
        return rows[0] if rows else None


def _toml(value: Any) -> str:
    """A TOML value: JSON's form of strings, numbers, booleans and lists is valid TOML;
    tables need TOML's own inline form."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):  # of tables too: [[targets]] as an array of inline tables
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


class Daemon:
    """mediaforged as a subprocess, with its own NOTIFY_SOCKET to learn when it is ready."""

    def __init__(self, workdir: Path, roots: list[Path], **settings: Any) -> None:
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.socket = workdir / "d.sock"
        self.log_path = workdir / "daemon.log"
        self.catalog = Catalog(self.state_dir / "catalog.db", self.said_ready)
        self.roots = roots
        # No HTTP unless a test asks (http_listen="127.0.0.1:0"): hundreds of test daemons
        # must not fight over port 8686. No damage checks either unless a test asks (verify=
        # "idle"): a full decode of every file in every test daemon would cost the suite
        # minutes of CPU for what tests/integration/test_verify.py covers.
        self.settings = {
            "settle_seconds": 0.2,
            "watch_debounce_ms": 50,
            "http_listen": "",
            "verify": "off",
            **settings,
        }
        self.config_path = workdir / "mediaforge.toml"
        self.proc: subprocess.Popen[bytes] | None = None
        self._notify: socket.socket | None = None
        self.notifications: list[str] = []
        self.notified_at: list[tuple[float, str]] = []  # (monotonic time, message)
        self.env: dict[str, str] = {}  # extra environment for the daemon
        self.wrapper: list[str] = []  # a command the daemon runs under (unshare, ...)
        # False: not traced by coverage (tracing slows the daemon about eightfold, and a
        # daemon killed with SIGKILL never writes its coverage data anyway).
        self.measure = True
        # Where its stdout and stderr go instead of the log file (a pipe's write end).
        self.output: int | None = None

    def write_config(self) -> None:
        lines = [f"roots = {json.dumps([str(r) for r in self.roots])}"]
        lines.append(f"state_dir = {json.dumps(str(self.state_dir))}")
        lines.append(f"socket_path = {json.dumps(str(self.socket))}")
        lines += [f"{k} = {_toml(v)}" for k, v in self.settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(
        self,
        *extra: str,
        wait_ready: bool = True,
        argv: list[str] | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> Daemon:
        """Start with the test's config, or with ``argv`` and ``env`` as given (the unit's)."""
        if argv is None:
            self.write_config()
            argv = [PYTHON, "-m", "mediaforged", "--config", str(self.config_path), *extra]
        if env is None:
            env = {**os.environ, "MEDIAFORGE_LOG_FORMAT": "json"}
            env.pop("MEDIAFORGE_CONFIG", None)
            env.update(self.env)
        if not self.measure:
            env = {k: v for k, v in env.items() if not k.startswith("COVERAGE_PROCESS_")}
        notify_path = self.workdir / "n.sock"
        notify_path.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        # Read it all the time, as systemd does: the daemon drops messages to a full queue.
        self._notify.settimeout(0.1)
        self._reader = threading.Thread(target=self._read_notifications, args=(self._notify,))
        os.chmod(notify_path, 0o777)  # a daemon started as another user must reach it too
        self.notifications = []
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*self.wrapper, *argv],
            stdout=self._log if self.output is None else self.output,
            stderr=subprocess.STDOUT,
            env={**env, "NOTIFY_SOCKET": str(notify_path)},
            preexec_fn=preexec_fn,  # noqa: PLW1509 - the test's sandbox, before any thread
        )
        self._reader.start()
        if wait_ready:
            self.wait_notified("READY=1")
        return self

    def _read_notifications(self, sock: socket.socket) -> None:
        while True:
            try:
                text = sock.recv(65536).decode()
                self.notified_at.append((time.monotonic(), text))
                self.notifications.append(text)
            except TimeoutError:
                if self.proc is None or self.proc.poll() is not None:
                    return  # the daemon is gone and its last messages are in
            except OSError:
                return  # closed

    def said_ready(self) -> bool:
        """Whether this run of the daemon sent READY=1 (its catalog's schema is made by then)."""
        return any("READY=1" in n for n in self.notifications)

    def wait_notified(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not any(text in n for n in self.notifications):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited with {self.proc.returncode} before {text}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text} within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)

    def count_notified(self, text: str, seconds: float = 0.2) -> int:
        """How many notifications so far contain ``text``, after waiting ``seconds``."""
        time.sleep(seconds)
        return sum(text in n for n in self.notifications)

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def ctl(
        self, *args: str, check: bool = True, timeout: float = 60, columns: int = 200
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [PYTHON, "-m", "mediaforged.cli.main", "--socket", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": str(columns)},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"mediaforgectl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}\n{self.log_tail()}"
            )
        return result

    def call(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        """One request over the socket from this process, with mediaforgectl's Client (a
        mediaforgectl process, traced by coverage, costs about 0.45 s); AssertionError with
        the daemon's log if it fails."""
        try:
            client = Client(self.socket, timeout=60)
        except DaemonUnavailable as exc:
            raise AssertionError(f"{cmd}: {exc}\n{self.log_tail()}") from None
        try:
            return client.call(cmd, args)
        except (CommandFailed, DaemonUnavailable, OSError) as exc:
            raise AssertionError(f"{cmd}: {exc}\n{self.log_tail()}") from None
        finally:
            client.close()

    def status(self) -> dict[str, Any]:
        """The status reply (the tests poll it often). `mediaforgectl status --json` prints
        this same object (tests/system/test_ctl.py)."""
        data: dict[str, Any] = self.call("status")
        return data

    def wait_idle(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait until startup reconcile is over and nothing is pending anywhere."""

        def idle() -> dict[str, Any] | None:
            s = self.status()
            p = s["pending"]
            busy = any(not j["complete"] for j in s["jobs"]) or any(
                p[k]
                for k in ("settling", "index_queue", "indexing", "write_queue", "reconciles_queued")
            )
            return None if busy or s["state"] in ("starting", "scanning") else s

        result: dict[str, Any] = wait_for(idle, timeout, "the daemon to be idle")
        return result

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for a daemon that is expected to exit by itself."""
        return self.stop(None, timeout)

    def stop(self, sig: int | None = signal.SIGTERM, timeout: float = DEFAULT_TIMEOUT) -> int:
        assert self.proc is not None
        if self.proc.poll() is None and sig is not None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"daemon did not stop within {timeout}s:\n{self.log_tail()}"
            ) from None
        self._log.close()
        self._collect_notifications()
        return code

    def close(self) -> None:
        if self.proc is not None:
            self._log.close()
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def _collect_notifications(self) -> None:
        if self._notify is not None:
            self._reader.join(5)  # it returns once the daemon exited and the queue is empty
            self._notify.close()
            self._notify = None


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mf", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root


@pytest.fixture
def daemon_factory(short_tmp: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(roots: list[Path], **settings: Any) -> Daemon:
        workdir = short_tmp / f"d{len(made)}"
        workdir.mkdir()
        d = Daemon(workdir, roots, **settings)
        made.append(d)
        return d

    yield make
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.close()


HEAVY_GROUP = "cpu_heavy"


def _group(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    assert mark is not None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """How the workers of `--dist loadgroup --no-loadscope-reorder` (.ci/dev) share the tests.

    A test file stays on one worker (its module-scoped daemon starts once), as with
    loadfile. A test marked ``xdist_group(HEAVY_GROUP)`` keeps both cores busy for long (the
    50,000-file storm, the kill -9 loop; beside each other each took several times as long
    as alone): those run one after the other on one worker, and first, so that none starts
    last and holds the run's end while the other worker idles. Then the biggest files
    first, as xdist's own reorder did. A plain run (no workers) keeps the files' order.
    """
    if not hasattr(config, "workerinput"):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    groups = [_group(item) for item in items]
    sizes: dict[str, int] = {}
    first: dict[str, int] = {}
    for n, g in enumerate(groups):
        sizes[g] = sizes.get(g, 0) + 1
        first.setdefault(g, n)
    order = sorted(
        range(len(items)),
        key=lambda n: (groups[n] != HEAVY_GROUP, -sizes[groups[n]], first[groups[n]], n),
    )
    items[:] = [items[n] for n in order]
