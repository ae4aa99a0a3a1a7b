"""The two folder-watch backends on real folders: raw inotify (Linux) and watchfiles.

What the watcher relies on: bytes paths whatever the name, reads that wake nobody, an
overflow reported, close-after-write told apart from a write still going on, and a folder
renamed reported under its new name only. watchfiles' own behaviour is pinned in
test_watchfiles_contract.py."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from mediaforged.sources.folderwatch import FolderWatch
from mediaforged.sources.watchapi import Batch, Change, list_folders

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="raw inotify is Linux only")

if sys.platform == "linux":
    from mediaforged.sources.inotifywatch import InotifyWatch


def _none(_name: bytes) -> None:
    return None


def _write(path: bytes, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)


def _queue_size() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as f:
        return int(f.read())


async def _next(watch: InotifyWatch | FolderWatch, limit: float = 5.0) -> Batch:
    return await asyncio.wait_for(watch.changes(50, 10), limit)


async def _quiet(watch: InotifyWatch, seconds: float) -> bool:
    """True if no batch came within ``seconds`` (the wait goes on in its thread; close()
    ends it)."""
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(_next(watch))), seconds)
    except TimeoutError:
        return True
    return False


async def test_non_utf8_names_are_bytes_and_reads_wake_nobody(tmp_path: Path) -> None:
    top = os.fsencode(tmp_path)
    odd_dir = top + b"/Caf\xe9"
    os.mkdir(odd_dir)
    watch = InotifyWatch(top, _none)
    await watch.arm()
    try:
        assert watch.folders == 2 and watch.undecodable == []
        odd = odd_dir + b"/caf\xe9.jpg"
        _write(odd, b"a name that is not UTF-8")
        batch = await _next(watch)
        assert (Change.ADDED, odd) in batch.changes
        assert odd in batch.closed and odd not in batch.writing
        for _ in range(20):  # cat, a media server's scan, our own hashing
            fd = os.open(odd, os.O_RDONLY)
            os.read(fd, 100)
            os.close(fd)
            os.listdir(odd_dir)
        assert await _quiet(watch, 1.0)
    finally:
        await watch.close()


async def test_a_write_still_open_is_told_from_a_closed_one(tmp_path: Path) -> None:
    top = os.fsencode(tmp_path)
    watch = InotifyWatch(top, _none)
    await watch.arm()
    path = top + b"/copying.mp4"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"x" * 1000)
            batch = await _next(watch)
            assert path in batch.writing and path not in batch.closed
        finally:
            os.close(fd)
        batch = await _next(watch)
        assert path in batch.closed and path not in batch.writing
        assert batch.changes == [(Change.MODIFIED, path)]
    finally:
        await watch.close()


async def test_an_overflow_is_reported(tmp_path: Path) -> None:
    top = os.fsencode(tmp_path)
    queue = _queue_size()
    if queue > 65536:
        pytest.skip(f"max_queued_events is {queue}: too many files to overflow it here")
    watch = InotifyWatch(top, _none)
    await watch.arm()
    try:
        # Nobody reads while these are made: 3 events each (create, modify, close_write).
        for i in range(queue // 2):
            _write(b"%s/f%06d" % (top, i), b"x")
        batch = await _next(watch)
        assert batch.overflowed
        assert batch.events <= queue + 1
    finally:
        await watch.close()


async def test_a_renamed_folder_is_reported_under_its_new_name(tmp_path: Path) -> None:
    top = os.fsencode(tmp_path)
    os.makedirs(top + b"/A/sub")
    watch = InotifyWatch(top, _none)
    await watch.arm()
    try:
        assert watch.folders == 3
        os.rename(top + b"/A", top + b"/B")
        batch = await _next(watch)
        assert (Change.DELETED, top + b"/A") in batch.changes
        assert (Change.ADDED, top + b"/B") in batch.changes
        assert watch.folders == 1  # A's watches are dropped: they would report old paths
        assert await watch.add([top + b"/B"]) == [top + b"/B", top + b"/B/sub"]
        _write(top + b"/B/sub/x.jpg", b"x")
        batch = await _next(watch)
        assert {p for _c, p in batch.changes} == {top + b"/B/sub/x.jpg"}
    finally:
        await watch.close()


async def test_the_root_removed_ends_the_watch(tmp_path: Path) -> None:
    top = os.fsencode(tmp_path / "root")
    os.mkdir(top)
    watch = InotifyWatch(top, _none)
    await watch.arm()
    try:
        os.rename(top, top + b".away")
        batch = await _next(watch)
        assert (Change.DELETED, top) in batch.changes
        with pytest.raises(FileNotFoundError):
            await _next(watch)
    finally:
        await watch.close()


async def test_watchfiles_leaves_non_utf8_folders_to_the_quick_check(tmp_path: Path) -> None:
    # Where watchfiles is the backend (not Linux), such folders are listed as unwatchable.
    top = os.fsencode(tmp_path)
    os.mkdir(top + b"/Caf\xe9")
    os.mkdir(top + b"/ok")
    assert list_folders(top, _none) == ([top, top + b"/ok"], [top + b"/Caf\xe9"])
    watch = FolderWatch(top, _none)
    await watch.arm()
    try:
        assert watch.folders == 2 and watch.undecodable == [top + b"/Caf\xe9"]
        _write(top + b"/ok/new.jpg", b"x")
        batch = await _next(watch)
        assert (Change.ADDED, top + b"/ok/new.jpg") in batch.changes
        assert not batch.overflowed and not batch.closed
    finally:
        await watch.close()
