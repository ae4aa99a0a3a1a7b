"""Start-up failures a restart cannot fix: one clear line (the path, the fix) and an exit code
that the units' RestartPreventExitStatus= lists, so that systemd does not restart in a loop."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mediaforged.daemon import main
from tests.conftest import NOBODY, PYTHON
from tests.system import unitfile

UNITS = (unitfile.UNIT, unitfile.UNIT.parent / "user" / "mediaforged.service")
# As a service's user: no root, no supplementary groups.
AS_NOBODY = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]


@pytest.fixture
def place(short_tmp: Path) -> Path:
    """A folder the unprivileged user can enter, with a state folder it owns and a root
    folder (like /run) that it cannot write."""
    short_tmp.chmod(0o755)
    (short_tmp / "state").mkdir()
    os.chown(short_tmp / "state", NOBODY, NOBODY)
    (short_tmp / "library").mkdir(mode=0o755)
    (short_tmp / "run").mkdir(mode=0o755)  # root's, as /run is
    return short_tmp


def _start(place: Path, socket: Path, *wrapper: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVERAGE_", "MEDIAFORGE_"))}
    argv = [PYTHON, "-m", "mediaforged", "--root", str(place / "library")]
    argv += ["--state-dir", str(place / "state"), "--socket", str(socket)]
    return subprocess.run(
        [*wrapper, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "HOME": str(place), "MEDIAFORGE_LOG_FORMAT": "console"},
        check=False,
    )


def _prevented(unit: Path) -> set[int]:
    (line,) = unitfile.parse_unit(unit)["RestartPreventExitStatus"]
    return {int(code) for code in line.split()}


def test_an_unwritable_socket_folder_is_one_line_and_no_restart(place: Path) -> None:
    socket = place / "run" / "mediaforge" / "mediaforged.sock"
    result = _start(place, socket, *AS_NOBODY)
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode == main.EXIT_NOPERM, lines
    (line,) = lines  # no traceback, nothing but the error
    assert "socket_unusable" in line and str(socket) in line, line
    assert f"install -d -o {NOBODY} -g {NOBODY} -m 0750 {socket.parent}" in line, line
    assert not socket.parent.exists()
    for unit in UNITS:
        assert main.EXIT_NOPERM in _prevented(unit), unit


def test_both_units_prevent_a_restart_for_every_code_but_a_crash() -> None:
    # A crash, and an HTTP port in use (freed a moment later), are worth a restart.
    codes = {
        getattr(main, name)
        for name in dir(main)
        if name.startswith("EXIT_") and name not in ("EXIT_FATAL", "EXIT_HTTP")
    }
    assert codes == {2, 3, 4, 5, 77}
    for unit in UNITS:
        assert _prevented(unit) == codes, unit
