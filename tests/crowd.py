"""A function run as ``nobody`` in a forked child *while the test goes on* (``as_nobody`` in
conftest waits for its function): for the tests where an unprivileged user holds connections
open, or floods the socket, while root is served.

The child only uses modules already imported (this machine's interpreter may live where
nobody cannot read it), so warm any lazy import before starting one.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
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
