"""File-system calls on a root, made from the event loop without ever blocking it.

A stat on a hard-mounted NFS share whose server went away never returns (the process sits
in the kernel, and no signal but SIGKILL wakes it). Made on the loop, it would stop
everything, the systemd WATCHDOG=1 pings included, and systemd would kill the daemon. So
every such call runs in a thread of its own and is awaited with a timeout::

    guard = FsGuard("/srv/music")
    st = await guard.call(os.lstat, path)  # FsTimeout if it does not answer in time

A call that times out cannot be stopped: its thread stays in the kernel until the mount
answers. Two rules keep those threads from piling up: a guard (one per root) starts no new
thread while one of its calls is still stuck (the file system is hung: the next callers
fail at once), and it never runs more than ``max_threads`` calls at the same time.

The threads are daemon threads, not a ``ThreadPoolExecutor``'s, and not asyncio's default
executor: both are joined when the daemon exits, so one stuck call would keep a daemon
asked to stop from ever exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, TypeVarTuple

__all__ = ["DEFAULT_TIMEOUT_S", "FsGuard", "FsTimeout", "in_daemon_thread"]

P = ParamSpec("P")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# A spun-down disk behind a NAS can take ~10 s to answer its first stat; longer is a hang.
DEFAULT_TIMEOUT_S = 15.0


class FsTimeout(Exception):
    """A file system did not answer in time. Deliberately not an OSError (TimeoutError is
    one): code that reads "OSError" as "the file is not there" must not mistake a hung
    mount for a missing file and mark it missing."""


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # timed out (or cancelled) meanwhile: nobody waits for it any more
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def in_daemon_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
    """Run ``fn`` in a new daemon thread; the future (of the running loop) gets its result.
    Cancelling the future abandons the thread, which runs on to its end."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting side, whatever it is
            error = exc
        # RuntimeError: the loop closed while we were stuck (the daemon is exiting).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=work, name=f"fs {getattr(fn, '__name__', 'call')}", daemon=True).start()
    return future


class _Call:
    __slots__ = ("returned", "stuck")

    def __init__(self) -> None:
        self.returned = False
        self.stuck = False


class FsGuard:
    """The calls into one file system (a root): each in a thread, awaited with a timeout."""

    def __init__(
        self, name: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_threads: int = 4
    ) -> None:
        self.name = name
        self.timeout = timeout  # a reload may change it (fs_timeout)
        self.max_threads = max_threads
        # Changed by the worker threads as they return: under the lock.
        self._lock = threading.Lock()
        self._running = 0  # calls whose thread has not returned, stuck ones included
        self._stuck = 0  # of those, calls that timed out
        self._stuck_since: float | None = None  # when the first of them was made
        self._hung_reason = ""

    @property
    def hung(self) -> bool:
        """A call timed out and its thread has not returned yet."""
        return self._stuck_since is not None

    async def call(
        self,
        fn: Callable[[*Ts], T],
        *args: *Ts,
        timeout: float | None = None,  # noqa: ASYNC109 - the guard counts its own timeouts
    ) -> T:
        """``fn(*args)`` in a thread: its result or its exception, or FsTimeout when it does
        not return within ``timeout`` (default: the guard's), or an earlier call is still
        stuck."""
        timeout = self.timeout if timeout is None else timeout
        if self._stuck_since is not None:
            raise FsTimeout(self._hung_reason)  # the same words: status and the log stay still
        with self._lock:
            if self._running >= self.max_threads:
                raise FsTimeout(f"{self.name}: {self._running} calls have not returned yet")
            self._running += 1
        call = _Call()
        began = time.monotonic()

        def tracked() -> T:
            try:
                return fn(*args)
            finally:
                with self._lock:
                    call.returned = True
                    self._running -= 1
                    if call.stuck:
                        self._stuck -= 1
                        if self._stuck == 0:
                            self._stuck_since = None  # it answers again

        tracked.__name__ = getattr(fn, "__name__", "call")  # names the thread
        future = in_daemon_thread(tracked)
        # Not wait_for: an OSError(ETIMEDOUT) of fn's own (a soft NFS mount) is a TimeoutError
        # too, and is fn's answer to hand back, not ours.
        try:
            await asyncio.wait({future}, timeout=timeout)
        except asyncio.CancelledError:
            future.cancel()  # its thread's answer, when it comes, is dropped
            raise
        if future.done():
            return future.result()
        future.cancel()
        with self._lock:
            if not call.returned:
                call.stuck = True
                self._stuck += 1
                if self._stuck_since is None:
                    self._stuck_since = began
                    self._hung_reason = (
                        f"{self.name} did not answer within {timeout:g} s (a hung network mount?)"
                    )
        raise FsTimeout(
            self._hung_reason
            or f"{self.name} did not answer within {timeout:g} s (a hung network mount?)"
        )
