"""FsGuard: file-system calls in threads, with a timeout, and a bound on stuck threads.

A call "hangs" here by waiting on a threading.Event, as a stat on a dead mount waits in the
kernel; tests/faults/test_hang.py does it with a real hung mount.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from mediaforged.fs.guard import FsGuard, FsTimeout


def _blocked(release: threading.Event, entered: list[int]) -> str:
    entered.append(threading.get_ident())
    release.wait(10)
    return "answered"


async def test_a_call_answers_with_its_result_or_its_error(tmp_path: Path) -> None:
    guard = FsGuard("lib", timeout=5)
    (tmp_path / "a").write_bytes(b"12345")
    assert (await guard.call(os.lstat, os.fsencode(tmp_path / "a"))).st_size == 5
    with pytest.raises(FileNotFoundError):
        await guard.call(os.lstat, os.fsencode(tmp_path / "nope"))
    assert not guard.hung


async def test_a_hung_call_times_out_without_blocking_the_loop() -> None:
    guard = FsGuard("/srv/share", timeout=0.2)
    release = threading.Event()
    entered: list[int] = []
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    began = time.monotonic()
    with pytest.raises(FsTimeout, match=r"/srv/share did not answer within 0\.2 s"):
        await guard.call(_blocked, release, entered)
    assert 0.2 <= time.monotonic() - began < 2
    assert ticks >= 5  # the loop kept running while the call hung
    assert not isinstance(FsTimeout("x"), OSError)  # never mistaken for "not there"
    assert guard.hung
    ticker.cancel()
    release.set()


async def test_while_a_call_is_stuck_no_new_thread_starts_until_it_returns() -> None:
    guard = FsGuard("/srv/share", timeout=0.1)
    release = threading.Event()
    entered: list[int] = []
    with pytest.raises(FsTimeout):
        await guard.call(_blocked, release, entered)
    began = time.monotonic()
    for _ in range(20):
        with pytest.raises(FsTimeout, match="did not answer"):
            await guard.call(_blocked, release, entered)
    assert time.monotonic() - began < 0.5  # refused at once, not after another timeout
    assert len(entered) == 1  # one stuck thread, not 21
    release.set()
    for _ in range(500):  # its thread returns at once; the guard learns it from that thread
        if not guard.hung:
            break
        await asyncio.sleep(0.01)
    assert not guard.hung  # it answered: calls go through again
    assert await guard.call(str.upper, "ok") == "OK"


async def test_no_more_than_max_threads_calls_run_at_once() -> None:
    guard = FsGuard("lib", timeout=5, max_threads=2)
    release = threading.Event()
    entered: list[int] = []
    calls = [asyncio.create_task(guard.call(_blocked, release, entered)) for _ in range(2)]
    for _ in range(500):
        if len(entered) == 2:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(FsTimeout, match="2 calls have not returned yet"):
        await guard.call(_blocked, release, entered)
    release.set()
    assert await asyncio.gather(*calls) == ["answered", "answered"]
