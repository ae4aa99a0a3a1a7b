"""Hashing in worker processes.

Measured on the 2-core machines: in threads, a batch of small files hashed at a tenth of
hashlib's single-thread speed, because every read gives up the GIL and waits to get it back
from the event loop (busy with SQL); in processes each batch runs at full speed, and
pickling 512 paths and results costs far less than that. Large files stream in 1 MiB reads
either way, and a shared event stops a huge file mid-read at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog

from mediaforged.fs.fsio import FileProblem, FileStat, HashResult, StatLike, hash_file
from mediaforged.fs.safepath import DirChain

__all__ = ["HashPool", "Throttle", "hash_many"]

log = structlog.get_logger("mediaforged.hashpool")

Outcome = HashResult | FileProblem
_cancel_event: Any = None  # set in each worker process by _init_worker
_throttle: Throttle | None = None
_PR_SET_PDEATHSIG = 1
_parent = 0  # the daemon: a worker whose daemon died (kill -9) stops instead of hashing on


def _cancelled() -> bool:
    # A killed daemon left orphans reading a sparse terabyte for an hour (seen in the
    # fault suite): the parent check costs one syscall per 1 MiB read.
    return bool(_cancel_event is not None and _cancel_event.is_set()) or os.getppid() != _parent


class Throttle:
    """Caps the read rate of one process: after n bytes, sleep until they fit the rate.

    ``rate`` is read at every call (bytes/s; 0 means no cap), so a reload applies at once.
    """

    def __init__(
        self,
        rate: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._due = 0.0  # when the bytes read so far will have been paid for

    def __call__(self, n: int) -> None:
        rate = self._rate()
        if rate <= 0:
            return
        now = self._clock()
        self._due = max(self._due, now) + n / rate
        if self._due > now:
            self._sleep(self._due - now)


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the daemon dies, even while it waits for work (idle
    workers of a daemon killed with -9 were seen lingering for an hour)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != _parent:  # the daemon died before the line above
        os._exit(1)


def _init_worker(event: Any, limit: Any, processes: int, parent: int) -> None:
    global _cancel_event, _throttle, _parent  # noqa: PLW0603 - per-process state of a worker
    _cancel_event = event
    # The daemon's pid from the daemon, not getppid(): a daemon killed while this worker
    # started would make getppid() the reaper's, and the orphan would wait forever on a
    # queue whose both ends it holds (seen in the migration kill test).
    _parent = parent
    _die_with_parent()
    # Each worker takes its share of the cap (bytes/s across the pool, shared memory).
    _throttle = Throttle(lambda: float(limit.value) / processes)
    # The daemon decides when its workers stop (it shuts the pool down); a Ctrl-C or a
    # SIGTERM sent to the whole process group must not kill them mid-batch with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def hash_many(
    items: list[tuple[bytes, bytes, FileStat | None]],
) -> list[tuple[str, Any, Any, Any, Any]]:
    """In a worker: hash each (root, path) file; results as plain tuples (FileProblem does
    not pickle). One chain of folder descriptors serves the batch: files of one folder
    come together, so the folders on the way are opened once, never by path."""
    cancelled = _cancelled if _cancel_event is not None else None
    out: list[tuple[str, Any, Any, Any, Any]] = []
    with DirChain() as chain:
        for root, path, expected in items:
            if cancelled is not None and cancelled():
                out.append(("err", "cancelled", "hashing was cancelled", None, None))
                continue
            try:
                r = hash_file(path, expected, cancelled, _throttle, root=root, chain=chain)
            except FileProblem as problem:
                out.append(("err", problem.code, problem.message, None, None))
            else:
                out.append(("ok", r.sha256, r.mime_type, r.media_type, r.st))
    return out


def _outcome(t: tuple[str, Any, Any, Any, Any]) -> Outcome:
    if t[0] == "ok":
        return HashResult(t[1], t[2], t[3], t[4])
    return FileProblem(t[1], t[2])


class HashPool:
    def __init__(self, processes: int, read_limit_mb: float = 0.0) -> None:
        self._processes = processes
        self._context = multiprocessing.get_context("spawn")  # never fork a threaded process
        self._cancel = self._context.Event()
        self._limit = self._context.Value("d", read_limit_mb * 1e6, lock=False)
        self._pool: ProcessPoolExecutor | None = None

    def set_read_limit(self, mb_per_s: float) -> None:
        """The cap on bytes read per second across all workers (0: none); applies at once."""
        self._limit.value = mb_per_s * 1e6

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._processes,
                mp_context=self._context,
                initializer=_init_worker,
                initargs=(self._cancel, self._limit, self._processes, os.getpid()),
            )
        return self._pool

    async def hash(self, items: list[tuple[bytes, bytes, StatLike | None]]) -> list[Outcome]:
        """Hash (root, path, expected lstat) items; each path is reached from its root."""
        loop = asyncio.get_running_loop()
        # Compact stats both ways: pickling showed up in profiles of a first import.
        compact = [(r, p, FileStat.of(st) if st is not None else None) for r, p, st in items]
        try:
            results = await loop.run_in_executor(self._executor(), hash_many, compact)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start a new pool, retry this batch once.
            log.warning("hash_pool_broken", files=len(items))
            self._pool = None
            results = await loop.run_in_executor(self._executor(), hash_many, compact)
        return [_outcome(t) for t in results]

    def cancel(self) -> None:
        """Stop work in progress at the next read, even inside a huge file."""
        self._cancel.set()

    def close(self) -> None:
        self.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
