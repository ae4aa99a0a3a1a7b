"""The fault-injection suite: shared tallies, the ground truth, processes, and `--soak`.

At the end the suite prints one line: faults injected, files checked, items lost (must be
0), hangs (must be 0). ``pytest tests/faults --soak`` repeats the random faults many times.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TALLY: Counter[str] = Counter()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the long variants of the faults")


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--soak"))


@pytest.fixture
def tally() -> Counter[str]:
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        terminalreporter.write_line(
            f"faults: {TALLY['faults']} injected, {TALLY['files']} files checked, "
            f"{TALLY['lost']} items lost, {TALLY['hangs']} hangs"
        )


def ground_truth(root: Path) -> dict[bytes, tuple[int, str]]:
    """Every regular file the daemon should catalog (default excludes: dot names),
    computed independently of it: path -> (size, SHA-256)."""
    out: dict[bytes, tuple[int, str]] = {}
    stack = [os.fsencode(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith(b"."):
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                elif stat.S_ISREG(st.st_mode):
                    with open(entry.path, "rb") as f:
                        out[entry.path] = (st.st_size, hashlib.file_digest(f, "sha256").hexdigest())
    return out


def tree(root: Path, folders: int, per_folder: int) -> Iterator[Path]:
    for d in range(folders):
        folder = root / f"album{d:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_folder):
            path = folder / f"img{i:04d}.jpg"
            path.write_bytes(f"{d}/{i}".encode() * 8)
            yield path


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    parent: int
    name: str  # the command name, cut to 15 bytes by the kernel
    state: str  # "Z": a zombie


def read_proc(pid: int) -> Proc | None:
    """One process as /proc/PID/stat shows it; None once it is gone (reaped)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "PID (NAME) STATE PPID ...": the name may hold spaces and parentheses.
    name = stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")]
    state, parent = stat_line[stat_line.rindex(")") + 1 :].split()[:2]
    return Proc(pid, int(parent), name, state)


def left_running(pids: list[int], timeout: float = 10.0) -> list[Proc]:
    """Those of ``pids`` still running after ``timeout``: the hashing workers of a daemon
    killed with -9 must end with it, however early in their start it died."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for pid in pids if (p := read_proc(pid)) is not None and p.state != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid``: its children, theirs, and so on (zombies included)."""
    by_parent: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := read_proc(int(entry))) is not None:
            by_parent.setdefault(proc.parent, []).append(proc)
    found: list[Proc] = []
    below = [pid]
    while below:
        for child in by_parent.get(below.pop(), []):
            found.append(child)
            below.append(child.pid)
    return found
