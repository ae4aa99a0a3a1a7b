"""A function run as ``nobody`` in a forked child *while the test goes on* (``as_nobody`` in
conftest waits for its function): for the tests where an unprivileged user holds connections
open, or floods the socket (``flood``), while root is served.

The child only uses modules already imported (this machine's interpreter may live where
nobody cannot read it), so warm any lazy import before starting one.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

NOBODY = 65534


class Channel:
    """The child's side: ``report`` sends a value to the test, ``wait_go`` waits for its go."""

    def __init__(self, to_parent: int, from_parent: int) -> None:
        self._out = os.fdopen(to_parent, "wb")
        self._in = from_parent

    def report(self, value: Any) -> None:
        pickle.dump(("report", value), self._out)
        self._out.flush()

    def wait_go(self) -> None:
        os.read(self._in, 1)


class Nobody:
    """``fn(channel)`` as nobody in a child process; ``result()`` returns what it returned
    (or raises what it raised). The child is killed if it outlives ``close``."""

    def __init__(self, fn: Callable[[Channel], Any]) -> None:
        self._from_child, child_out = os.pipe()
        self._to_child_r, self._to_child = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child's coverage is not collected
            os.close(self._from_child)
            os.close(self._to_child)
            channel = Channel(child_out, self._to_child_r)
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                result: Any = ("ok", fn(channel))
            except BaseException as exc:
                result = ("raised", exc)
            pickle.dump(result, channel._out)
            channel._out.close()
            os._exit(0)
        os.close(child_out)
        os.close(self._to_child_r)
        self._in = os.fdopen(self._from_child, "rb")

    def next_report(self) -> Any:
        kind, value = pickle.load(self._in)
        if kind == "raised":
            raise value
        assert kind == "report", kind
        return value

    def go(self) -> None:
        os.write(self._to_child, b"g")

    def result(self) -> Any:
        while True:
            kind, value = pickle.load(self._in)
            if kind == "raised":
                raise value
            if kind == "ok":
                return value

    def close(self) -> None:
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self._in.close()
        os.close(self._to_child)

    def __enter__(self) -> Nobody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path, counts: Counter[str]) -> socket.socket | None:
    """A connection as nobody, kept if the daemon admitted it (its hello is not an error)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(str(path))
        hello = json.loads(sock.recv(4096).split(b"\n")[0])
    except (OSError, ValueError):
        counts["connect_failed"] += 1
        sock.close()
        return None
    if hello.get("ok") is False:
        counts[hello["error"]["code"]] += 1  # busy: the daemon refused it
        sock.close()
        return None
    counts["admitted"] += 1
    sock.setblocking(False)
    return sock


def _closed_by_daemon(sock: socket.socket, counts: Counter[str]) -> bool:
    """Whether the daemon ended this connection (an idle_timeout line, then EOF)."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if b"idle_timeout" in data:
        counts["idle_timeout"] += 1
    return not data or b"idle_timeout" in data


def flood(
    path: Path, idle: int, seconds: float, per_s: int, slow: int = 4
) -> Callable[[Channel], Counter[str]]:
    """What a hostile query-only user does to the control socket, for ``Nobody``: opens
    ``idle`` connections and keeps those admitted, makes ``slow`` of them dribble a request
    a byte at a time and as many send searches whose replies it never reads, then opens
    about ``per_s`` new connections a second for ``seconds``, reopening what the daemon
    closes. It reports its counts once the first connections are open (``next_report``)
    and returns them at the end: admitted, busy (refused), idle_timeout, connect_failed."""

    def run(channel: Channel) -> Counter[str]:
        counts: Counter[str] = Counter()
        held = [s for _ in range(idle) if (s := _open(path, counts)) is not None]
        dribblers, deaf = held[:slow], held[slow : 2 * slow]
        for sock in deaf:  # searches whose replies are never read
            with contextlib.suppress(OSError):
                sock.send(b'{"id": 1, "cmd": "search", "args": {"text": ""}}\n' * 20)
        for sock in dribblers:
            sock.send(b'{"id": 1, "cmd": "sta')
        channel.report(dict(counts))
        began = time.monotonic()
        opened = 0
        while (elapsed := time.monotonic() - began) < seconds:
            while opened < per_s * elapsed:  # a round every 10 ms or so
                opened += 1
                if (sock := _open(path, counts)) is not None:
                    held.append(sock)
            for sock in dribblers:
                with contextlib.suppress(OSError):
                    sock.send(b"t")
            for sock in [s for s in held if s not in deaf and _closed_by_daemon(s, counts)]:
                held.remove(sock)
                sock.close()
            time.sleep(0.01)
        for sock in held:
            sock.close()
        return counts

    return run
