"""systemd/: the units pass `systemd-analyze verify` and `security`, and the daemon runs the way
the unit starts it (ExecStart and Environment parsed from the file, emulated sandbox: see
tests/system/unitfile.py), seen through its NOTIFY_SOCKET, its socket and its journal lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaforged.cli.sample import create_sample_library
from tests.conftest import NOBODY, Catalog, Daemon, sha256_of, wait_for
from tests.system import unitfile

SYSTEMD = unitfile.UNIT.parent
VENV_BINARY = Path(sys.executable).parent / "mediaforged"
MAX_EXPOSURE = 1.5

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="drops to another user: needs root")


def analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def installed_copy(unit: Path, dest: Path, binary: str) -> Path:
    """The unit with ExecStart pointing at this venv's mediaforged: verify checks that the
    binary exists, and the README's /opt/mediaforge venv is not installed on a test machine."""
    dest.mkdir(parents=True, exist_ok=True)
    text = unit.read_text()
    assert binary in text
    copy = dest / unit.name
    copy.write_text(text.replace(binary, str(VENV_BINARY)))
    return copy


@needs_analyze
def test_system_unit_verifies_with_no_output_at_all(tmp_path: Path) -> None:
    copy = installed_copy(SYSTEMD / "mediaforged.service", tmp_path, unitfile.INSTALLED_BINARY)
    result = analyze("verify", str(copy))
    # verify exits 0 on unknown keys and bad values and only prints a warning: any output fails.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

    # The same check catches a typo, so the silence above means something.
    broken = tmp_path / "broken" / "mediaforged.service"
    broken.parent.mkdir()
    broken.write_text(copy.read_text().replace("ProtectClock=yes", "ProtectClok=yes"))
    assert "ProtectClok" in analyze("verify", str(broken)).stderr


@needs_analyze
def test_user_unit_verifies_with_no_output_at_all(tmp_path: Path) -> None:
    copy = installed_copy(
        SYSTEMD / "user" / "mediaforged.service", tmp_path, "%h/.local/bin/mediaforged"
    )
    runtime = tmp_path / "xdg-runtime"  # a user manager needs one, as under a login session
    runtime.mkdir(mode=0o700)
    result = analyze("--user", "verify", str(copy), env={"XDG_RUNTIME_DIR": str(runtime)})
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _security(unit: Path, threshold: float) -> subprocess.CompletedProcess[str]:
    return analyze("security", "--offline=true", f"--threshold={round(threshold * 10)}", str(unit))


@needs_analyze
def test_system_unit_exposure_is_at_most_1_5() -> None:
    unit = SYSTEMD / "mediaforged.service"
    result = _security(unit, MAX_EXPOSURE)
    match = re.search(r"Overall exposure level for mediaforged\.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    # --threshold is what fails the check: a threshold below the rating must make it exit 1.
    assert _security(unit, exposure - 0.1).returncode != 0


@needs_analyze
def test_every_directive_left_out_says_why() -> None:
    """Each directive `security` marks as not set is named in a comment of the unit."""
    unit = SYSTEMD / "mediaforged.service"
    report = analyze("security", "--offline=true", str(unit)).stdout
    missing = {
        m.group(1)
        for m in re.finditer(r"^✗ (\w+)=", report, re.MULTILINE)
        if m.group(1) != "CapabilityBoundingSet"
    }
    comments = "\n".join(
        line for line in unit.read_text().splitlines() if line.lstrip().startswith("#")
    )
    assert missing, report  # the unit is not perfect: something must be explained
    unexplained = sorted(d for d in missing if f"{d}=" not in comments)
    assert unexplained == [], report


def test_sysusers_creates_the_units_user_and_group(tmp_path: Path) -> None:
    if shutil.which("systemd-sysusers") is None:
        pytest.skip("systemd-sysusers is not installed")
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(SYSTEMD / "mediaforged.sysusers")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    service = unitfile.parse_unit()
    users = {
        line.split(":")[0]: line for line in (tmp_path / "etc/passwd").read_text().splitlines()
    }
    groups = {line.split(":")[0] for line in (tmp_path / "etc/group").read_text().splitlines()}
    (user,) = service["User"]
    (group,) = service["Group"]
    assert user in users and group in groups
    assert users[user].endswith(":/usr/sbin/nologin")


# --- the daemon as the unit starts it ---------------------------------------------------------


def journal_lines(log: Path) -> list[tuple[int, dict[str, Any]]]:
    """Each `<N>{json}` line of the daemon's stderr: (syslog priority, event)."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = re.fullmatch(r"<(\d)>(\{.*\})", line)
        if m:
            out.append((int(m.group(1)), json.loads(m.group(2))))
    return out


class Service:
    """The directories and environment systemd would give the unit, owned by the service user."""

    def __init__(self, base: Path) -> None:
        self.unit = unitfile.parse_unit()
        self.dirs = {}
        for key, name in (
            ("CONFIGURATION_DIRECTORY", "Configuration"),
            ("STATE_DIRECTORY", "State"),
            ("CACHE_DIRECTORY", "Cache"),
            ("RUNTIME_DIRECTORY", "Runtime"),
        ):
            path = base / name.lower() / "mediaforge"
            path.mkdir(parents=True)
            mode = int(self.unit.get(f"{name}DirectoryMode", ["0755"])[0], 8)
            os.chmod(path, mode)
            if name != "Configuration":  # systemd leaves the configuration directory to root
                os.chown(path, NOBODY, NOBODY)
            self.dirs[key] = path
        self.config = self.dirs["CONFIGURATION_DIRECTORY"] / "mediaforge.toml"

    def write_config(self, **settings: Any) -> None:
        self.config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))

    def environment(self, log: Path) -> dict[str, str]:
        st = log.stat()
        watchdog_s = int(self.unit["WatchdogSec"][0])
        return {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",  # systemd's default
            "HOME": "/nonexistent",
            "USER": "nobody",
            "LOGNAME": "nobody",
            **{k: str(v) for k, v in self.dirs.items()},
            "WATCHDOG_USEC": str(watchdog_s * 1_000_000),
            "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",  # stderr is "the journal"
            **unitfile.environment(self.unit),
        }

    def argv(self, env: dict[str, str]) -> list[str]:
        argv = unitfile.exec_start(self.unit, env)
        assert argv[0] == unitfile.INSTALLED_BINARY
        return [str(VENV_BINARY), *argv[1:]]

    def sandbox(self) -> Callable[[], None]:
        return unitfile.sandbox(self.unit, NOBODY, NOBODY, unitfile.Seccomp(self.unit))


def readable_tree(path: Path) -> None:
    """Let the unprivileged service user reach a test folder made by root."""
    for parent in [path, *path.parents]:
        if parent == Path("/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o755)


@needs_analyze
@needs_root
def test_daemon_runs_as_the_unit_starts_it(
    short_tmp: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    readable_tree(short_tmp)
    library = short_tmp / "library"
    files = create_sample_library(library)
    locked = library / "locked.jpg"
    locked.write_bytes(b"\xff\xd8\xff" + b"x" * 100)
    locked.chmod(0)  # the service user cannot read it: a per-file error, logged at warning

    service = Service(short_tmp / "sys")
    service.write_config(
        roots=[str(library)],
        settle_seconds=0.2,
        watch_debounce_ms=50,
        log_level="info",
        http_listen="127.0.0.1:0",  # the unit lets the HTTP API listen on loopback
    )
    d = daemon_factory([library])
    runtime = service.dirs["RUNTIME_DIRECTORY"]
    d.socket = runtime / "mediaforged.sock"
    d.catalog = Catalog(service.dirs["STATE_DIRECTORY"] / "catalog.db")
    d.log_path.touch()
    env = service.environment(d.log_path)
    timeout_stop = float(service.unit["TimeoutStopSec"][0])

    d.start(argv=service.argv(env), env=env, preexec_fn=service.sandbox())
    d.wait_notified("WATCHDOG=1")
    status = d.wait_idle(60)

    # The main process is the one ExecStart started (MAINPID), with its directories from systemd.
    assert status["pid"] == d.proc.pid if d.proc else False
    st = d.socket.stat()
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == NOBODY
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o750
    items = d.catalog.items()
    assert {os.fsdecode(k) for k in items} == {str(f) for f in files}
    some = files[0]
    assert items[os.fsencode(some)]["file_hash"] == sha256_of(some)  # hashed in spawned processes
    failed = d.catalog.items("failed")
    assert failed[os.fsencode(locked)]["error_code"] == "permission_denied"

    lines = journal_lines(d.log_path)
    assert (6, "ready") in [(p, e["event"]) for p, e in lines]
    (address,) = [e["address"] for _, e in lines if e["event"] == "http_listening"]
    assert httpx.get(f"{address}/healthz", timeout=30).json()["ok"] is True
    warning = [e for p, e in lines if p == 4 and e["event"] == "index_failed"]
    assert [(e["path"], e["code"]) for e in warning] == [(str(locked), "permission_denied")]

    # ExecReload, as systemd runs it, with the log level raised to debug in the config.
    service.write_config(
        roots=[str(library)],
        settle_seconds=0.2,
        watch_debounce_ms=50,
        log_level="debug",
        http_listen="127.0.0.1:0",
    )
    (reload_line,) = service.unit["ExecReload"]
    assert d.proc is not None
    subprocess.run(reload_line.replace("$MAINPID", str(d.proc.pid)).split(), check=True)
    d.wait_notified("RELOADING=1")
    wait_for(
        lambda: any(e["event"] == "reloaded" for _, e in journal_lines(d.log_path)),
        what="the reload",
    )
    new = library / "new.txt"
    new.write_text("written after the reload\n")
    indexed = wait_for(
        lambda: [
            p
            for p, e in journal_lines(d.log_path)
            if e["event"] == "indexed" and e["path"] == str(new)
        ],
        what="a debug line for the new file",
    )
    assert indexed == [7]

    assert d.stop(signal.SIGTERM, timeout=timeout_stop) == 0
    assert any("STOPPING=1" in n for n in d.notifications)


@needs_analyze
@needs_root
def test_ffprobe_and_ffmpeg_run_under_the_units_sandbox(short_tmp: Path) -> None:
    readable_tree(short_tmp)
    library = short_tmp / "library"
    videos = [f for f in create_sample_library(library) if f.suffix == ".mp4"]
    if not videos:
        pytest.skip("the sample library has no video (ffmpeg without an encoder)")
    out = short_tmp / "cache"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)
    service = Service(short_tmp / "sys")
    sandbox = service.sandbox()
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, preexec_fn=sandbox, timeout=120
        )

    probe = run("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(videos[0]))
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout)["streams"][0]["codec_type"] == "video"
    thumb = out / "thumb.png"
    frame = run(
        "ffmpeg", "-v", "error", "-i", str(videos[0]), "-frames:v", "1", "-vf", "scale=64:-1",
        str(thumb),
    )  # fmt: skip
    assert frame.returncode == 0, frame.stderr
    assert thumb.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert thumb.stat().st_uid == NOBODY
    # The sandbox is real: what the unit forbids fails inside it.
    probe_code = (
        "import mmap, socket, sys\n"
        "try: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n"
        "except OSError as e: print('netlink', e.errno)\n"
        "try: mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        "except OSError as e: print('wx', e.errno)\n"
        "sys.stdout.flush(); import os; os.setuid(0)\n"
    )
    forbidden = run(sys.executable, "-c", probe_code)
    assert forbidden.stdout.split("\n")[:2] == ["netlink 97", "wx 1"]
    assert forbidden.returncode == -signal.SIGSYS  # setuid is outside the allow list: killed


def test_the_system_config_leads_mediaforgectl_to_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mediaforgectl and doctor are not started by systemd: reading the service's config,
    they default to the directories the unit gives the daemon."""
    from mediaforged import config as config_module

    system = tmp_path / "etc" / "mediaforge.toml"
    system.parent.mkdir()
    system.write_text('roots = ["/srv/media"]\n')
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", system)
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    service = unitfile.parse_unit()
    (runtime,) = service["RuntimeDirectory"]
    (state,) = service["StateDirectory"]

    config = config_module.load_config(None, env)
    assert config.source == system
    assert config.socket_path == Path("/run") / runtime / "mediaforged.sock"
    assert config.state_dir == Path("/var/lib") / state

    # A user's own config (the user unit's) keeps the XDG folders.
    user = home / ".config" / "mediaforge" / "mediaforge.toml"
    user.parent.mkdir(parents=True)
    user.write_text('roots = ["/srv/media"]\n')
    config = config_module.load_config(None, env)
    assert config.socket_path == tmp_path / "xdg" / "mediaforge" / "mediaforged.sock"
    assert config.state_dir == home / ".local" / "state" / "mediaforge"
