"""ffprobe and ffmpeg die with a daemon killed by -9, as the hashing workers do.

The tool is slowed by a stand-in of the same name first on PATH: a Python script that sleeps
in its own process (a shell's `sleep` would be a grandchild, which no parent-death signal
reaches) and then execs the real tool, so the probe or the frame is real once it runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaforged.extract.tools import die_with
from tests.conftest import Daemon, wait_for
from tests.faults.conftest import descendants, left_running

pytestmark = pytest.mark.timeout(180)

SLOW_S = 120  # far beyond the test: a child still there after the kill outlived the daemon


def _slowed(folder: Path, tool: str) -> None:
    real = shutil.which(tool)
    assert real is not None
    folder.mkdir(exist_ok=True)
    script = folder / tool
    script.write_text(
        f"#!{sys.executable} -I\n"
        "import os, sys, time\n"
        f"time.sleep({SLOW_S})\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    script.chmod(0o755)


def _clip(path: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48:rate=5",
         "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("tool", ["ffprobe", "ffmpeg"])
def test_tools_die_with_a_killed_daemon(
    daemon_factory: Callable[..., Daemon],
    library: Path,
    tmp_path: Path,
    tally: Counter[str],
    tool: str,
) -> None:
    _clip(library / "clip.mp4")  # made before the stand-in is on any PATH
    _slowed(tmp_path / "bin", tool)  # ffprobe: metadata; ffmpeg: the thumbnail's frame
    daemon = daemon_factory([library], extract_timeout=SLOW_S * 2, thumbnail_timeout=SLOW_S * 2)
    daemon.env["PATH"] = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    daemon.start()
    assert daemon.proc is not None
    pid = daemon.proc.pid
    running = wait_for(
        lambda: [p.pid for p in descendants(pid) if p.name == tool and p.state != "Z"] or None,
        timeout=60,
        what=f"the daemon to start {tool}",
    )
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    tally["faults"] += 1
    try:
        left = left_running(running, timeout=10)
        assert left == [], f"{tool} outlived the daemon: {left}"
    finally:
        for child in running:  # without the fix: do not leave them to the next tests
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def test_a_child_whose_daemon_died_before_the_tie_exits_at_once() -> None:
    """The race: the daemon dies between the fork and the prctl. Given a pid that is not its
    parent (as after that death), the child ends before it execs the tool."""
    not_the_parent = os.getpid() + 1_000_000
    child = subprocess.run(
        ["sh", "-c", "exit 0"], preexec_fn=die_with(not_the_parent), timeout=30, check=False
    )
    assert child.returncode == 1
    tied = subprocess.run(
        ["sh", "-c", "exit 0"], preexec_fn=die_with(os.getpid()), timeout=30, check=False
    )
    assert tied.returncode == 0
