"""The catalog is not world-readable outside systemd: a daemon started from a login shell
(umask 0022) makes its folders 0750 and its files 0640, tightens what an older version left
wider, and `doctor` warns about a state folder or catalog that others can read."""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from mediaforged.cli.doctor import run_checks
from tests.conftest import Daemon, wait_for

pytestmark = pytest.mark.timeout(180)


def _login_umask() -> None:
    os.umask(0o022)  # a shell's default: 0755 folders and 0644 files unless we say otherwise


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _modes(top: Path) -> dict[str, int]:
    """Every folder and file under ``top`` (``top`` itself as "."), with its mode."""
    found = {".": _mode(top)}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(top))] = _mode(path)
    return found


def _library(root: Path) -> Path:
    picture = root / "photo.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, "JPEG")
    (root / "notes.txt").write_text("a catalogued name is private too\n")
    return picture


def _thumbnails_done(daemon: Daemon) -> bool:
    s = daemon.status()
    return bool(s["thumbnails"]["idle"] and s["pending"]["thumbnails"] == 0)


def _wrong(modes: dict[str, int], top: Path) -> dict[str, str]:
    """The entries whose mode is not exactly 0750 (folders) or 0640 (files)."""
    out = {}
    for name, mode in modes.items():
        want = 0o750 if (top / name).is_dir() else 0o640
        if mode != want:
            out[name] = f"{mode:04o}"
    return out


def test_a_login_shell_umask_makes_a_private_catalog(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    _library(library)
    daemon = daemon_factory([library])
    daemon.start(preexec_fn=_login_umask)
    tally["faults"] += 1
    wait_for(lambda: _thumbnails_done(daemon), timeout=90, what="the thumbnail")
    state = daemon.state_dir
    running = _modes(state)
    # While it runs: the WAL and its index exist, and a thumbnail two folders down.
    assert {"catalog.db", "catalog.db-wal", "catalog.db-shm"} <= set(running)
    assert any(name.endswith(".webp") for name in running)
    assert _wrong(running, state) == {}
    assert daemon.stop() == 0
    daemon.start(preexec_fn=_login_umask)  # the first restart makes the first backup
    backups = wait_for(
        lambda: sorted((state / "backups").glob("catalog-*.db")) or None, what="a backup"
    )
    assert _wrong(_modes(state), state) == {}, backups
    assert daemon.stop() == 0
    assert not [e for e in daemon.log_events() if e.get("event", "").startswith("permissions_")]


def test_wider_modes_left_by_an_older_version_are_tightened(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    _library(library)
    daemon = daemon_factory([library])
    daemon.start(preexec_fn=_login_umask)
    wait_for(lambda: _thumbnails_done(daemon), timeout=90, what="the thumbnail")
    assert daemon.stop() == 0
    state = daemon.state_dir
    widened = [state, state / "catalog.db", state / "thumbnails"]
    os.chmod(state, 0o755)  # as a daemon before this fix made them
    os.chmod(state / "catalog.db", 0o644)
    os.chmod(state / "thumbnails", 0o777)
    tally["faults"] += 1

    daemon.start(preexec_fn=_login_umask)
    assert (_mode(state), _mode(state / "catalog.db")) == (0o750, 0o640)
    assert _mode(state / "thumbnails") == 0o750
    tightened = {
        e["path"]: (e["mode"], e["now"])
        for e in daemon.log_events()
        if e.get("event") == "permissions_tightened"
    }
    assert tightened == {
        str(state): ("0755", "0750"),
        str(state / "catalog.db"): ("0644", "0640"),
        str(state / "thumbnails"): ("0777", "0750"),
    }, widened
    assert daemon.stop() == 0


def test_a_thumbnail_folder_given_outside_the_state_folder_is_only_reported(
    daemon_factory: Callable[..., Daemon], library: Path, short_tmp: Path
) -> None:
    """It may be shared on purpose (a web server showing it): what is inside is private,
    the folder itself is left as its owner made it, and the log says it is open."""
    _library(library)
    shared = short_tmp / "shared-thumbs"
    shared.mkdir()
    os.chmod(shared, 0o755)
    daemon = daemon_factory([library], thumbnail_dir=str(shared))
    daemon.start(preexec_fn=_login_umask)
    wait_for(lambda: _thumbnails_done(daemon), timeout=90, what="the thumbnail")
    modes = _modes(shared)
    assert modes.pop(".") == 0o755
    assert any(name.endswith(".webp") for name in modes)
    assert _wrong(modes, shared) == {}
    reported = [e for e in daemon.log_events() if e.get("event") == "permissions_too_open"]
    assert [(e["path"], e["mode"], e["now"]) for e in reported] == [
        (str(shared), "0755", "unchanged")
    ]
    assert daemon.stop() == 0


def test_doctor_warns_about_a_state_folder_others_can_read(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    daemon = daemon_factory([library])
    daemon.start(preexec_fn=_login_umask)
    assert daemon.stop() == 0
    env = {k: v for k, v in os.environ.items() if k != "MEDIAFORGE_CONFIG"}

    def catalog_check() -> tuple[str, str, str]:
        (check,) = [c for c in run_checks(daemon.config_path, env=env) if c.check == "catalog"]
        return check.status, check.detail, check.fix

    assert catalog_check()[0] == "pass"
    state = daemon.state_dir
    os.chmod(state, 0o755)
    os.chmod(state / "catalog.db", 0o644)
    status, detail, fix = catalog_check()
    assert status == "warn"
    assert f"{state} 0755" in detail and f"{state / 'catalog.db'} 0644" in detail
    assert f"chmod go-w,o-rwx {state}" in fix and f"chmod 0640 {state / 'catalog.db'}" in fix
