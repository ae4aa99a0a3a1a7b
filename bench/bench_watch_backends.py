"""inotify backends side by side: watchfiles' RustNotify, inotify_simple, asyncinotify.

    python bench/bench_watch_backends.py                  # 2,500 folders, 30,000 files
    python bench/bench_watch_backends.py --folders 5000 --files 60000 --json

Each backend, on the same fresh tree, in the same run:
- arm: seconds to put a watch on every folder (the list is made beforehand, not timed);
- storm: a separate process creates the files (open, write, close), spread over 100 folders,
  while the backend reads; we report the seconds from the writer's end until the last name
  was reported (lag), the names seen out of those created, and the CPU seconds this process
  spent (the backend alone: the writer is another process) per 10,000 files;
- non-UTF-8: a file named b"caf\\xe9.jpg" is created and read (open, read, close), then a
  file "after.jpg" is created: does the backend keep going, and does it give the name back?
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncinotify
import inotify_simple
from watchfiles._rust_notify import RustNotify

# The mask the daemon's raw backend uses: no opens, reads or closes without writing.
MASK = (
    inotify_simple.flags.CREATE
    | inotify_simple.flags.DELETE
    | inotify_simple.flags.MOVED_FROM
    | inotify_simple.flags.MOVED_TO
    | inotify_simple.flags.CLOSE_WRITE
    | inotify_simple.flags.MODIFY
    | inotify_simple.flags.ATTRIB
    | inotify_simple.flags.DELETE_SELF
    | inotify_simple.flags.MOVE_SELF
    | inotify_simple.flags.ONLYDIR
)

WRITER = """
import os, sys
top, n, width = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    fd = os.open(b"%s/d%03d/f%06d.jpg" % (top, i % width, i), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 32)
    os.close(fd)
"""


def make_tree(top: Path, folders: int) -> list[bytes]:
    out = []
    for i in range(folders):
        path = top / f"d{i % 100:03d}" / f"sub{i:05d}" if i >= 100 else top / f"d{i:03d}"
        path.mkdir(parents=True, exist_ok=True)
        out.append(os.fsencode(path))
    return [os.fsencode(top), *out]


class Backend:
    """Arm, then collect reported file names (bytes) in a thread until stopped."""

    name = ""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.errors: list[str] = []
        self.stop = threading.Event()

    def arm(self, folders: list[bytes]) -> None:
        raise NotImplementedError

    def run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Watchfiles(Backend):
    name = "watchfiles 1.3 (RustNotify)"

    def arm(self, folders: list[bytes]) -> None:
        self.notify = RustNotify([os.fsdecode(f) for f in folders], False, False, 0, False, False)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                result = self.notify.watch(50, 10, 500, self.stop)
            except Exception as exc:  # the non-UTF-8 case ends the watch
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            if isinstance(result, set):
                self.seen.update(os.fsencode(os.path.basename(p)) for _c, p in result)

    def close(self) -> None:
        self.notify.close()


class Simple(Backend):
    name = f"inotify_simple {inotify_simple.__version__}"

    def arm(self, folders: list[bytes]) -> None:
        self.ino = inotify_simple.INotify()
        for folder in folders:
            self.ino.add_watch(folder, MASK)

    def run(self) -> None:
        while not self.stop.is_set():
            for event in self.ino.read(timeout=500):
                if event.mask & inotify_simple.flags.Q_OVERFLOW:
                    self.errors.append("IN_Q_OVERFLOW")
                self.seen.add(os.fsencode(event.name))

    def close(self) -> None:
        self.ino.close()


class Async(Backend):
    name = f"asyncinotify {asyncinotify.__version__} (cache_size=4096)"

    def arm(self, folders: list[bytes]) -> None:
        self.ino = asyncinotify.Inotify(cache_size=4096)
        for folder in folders:
            self.ino.add_watch(folder, asyncinotify.Mask(int(MASK)))

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        reader = asyncio.ensure_future(self._read())  # no per-event timeout: its cost is ours
        await asyncio.to_thread(self.stop.wait)
        reader.cancel()

    async def _read(self) -> None:
        async for event in self.ino:
            if asyncinotify.Mask.Q_OVERFLOW in event.mask:
                self.errors.append("IN_Q_OVERFLOW")
            if event.name is not None:
                self.seen.add(bytes(event.name))

    def close(self) -> None:
        self.ino.close()


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def measure(cls: type[Backend], work: Path, folders: int, files: int) -> dict[str, Any]:
    top = work / cls.__name__
    listed = make_tree(top, folders)
    backend = cls()
    started = time.perf_counter()
    backend.arm(listed)
    arm_s = time.perf_counter() - started
    thread = threading.Thread(target=backend.run)
    thread.start()
    cpu0 = time.process_time()
    subprocess.run([sys.executable, "-c", WRITER, str(top), str(files), "100"], check=True)
    written = time.perf_counter()
    expected = {b"f%06d.jpg" % i for i in range(files)}
    complete = wait_until(lambda: expected <= backend.seen, 30)
    lag_s = time.perf_counter() - written
    cpu_s = time.process_time() - cpu0
    seen = len(expected & backend.seen)
    overflowed = "IN_Q_OVERFLOW" in backend.errors

    odd = os.fsencode(top) + b"/d000/caf\xe9.jpg"
    with open(odd, "wb") as f:
        f.write(b"not UTF-8")
    with open(odd, "rb") as f:
        f.read()
    (top / "d001" / "after.jpg").write_bytes(b"after")
    survived = wait_until(lambda: b"after.jpg" in backend.seen, 3)
    backend.stop.set()
    thread.join()
    backend.close()
    shutil.rmtree(top)
    return {
        "backend": cls.name,
        "arm_s": round(arm_s, 3),
        "storm_complete": complete,
        "storm_seen": seen,
        "storm_overflow_reported": overflowed,
        "storm_lag_s": round(lag_s, 3),
        "cpu_s_per_10k_files": round(cpu_s / files * 10_000, 3),
        "non_utf8_survived": survived,
        "non_utf8_name_back": b"caf\xe9.jpg" in backend.seen,
        "errors": backend.errors[:2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", type=int, default=2500)
    parser.add_argument("--files", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mf-backends-") as tmp:
        for _ in range(args.runs):
            for cls in (Watchfiles, Simple, Async):
                results.setdefault(cls.name, []).append(
                    measure(cls, Path(tmp), args.folders, args.files)
                )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.folders} folders, {args.files} files, {args.runs} runs (median; per run)")
    for name, runs in results.items():
        print(f"\n{name}")
        for key in ("arm_s", "storm_lag_s", "cpu_s_per_10k_files"):
            values = [r[key] for r in runs]
            print(f"  {key:22} {statistics.median(values):8.3f}   {values}")
        for key in ("storm_seen", "storm_overflow_reported", "non_utf8_survived"):
            print(f"  {key:22} {[r[key] for r in runs]}")
        print(f"  {'non_utf8_name_back':22} {[r['non_utf8_name_back'] for r in runs]}")
        print(f"  {'errors':22} {runs[-1]['errors']}")


if __name__ == "__main__":
    main()
