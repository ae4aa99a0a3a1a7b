"""The fault-injection suite: shared tallies, the ground truth, and `--soak`.

At the end the suite prints one line: faults injected, files checked, items lost (must be
0), hangs (must be 0). ``pytest tests/faults --soak`` repeats the random faults many times.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Iterator
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
