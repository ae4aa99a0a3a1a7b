"""`mediaforgectl doctor` against a good set-up (with and without a daemon) and broken ones:
ffprobe missing from PATH, an unreadable root, a low inotify limit and a catalog on NFS (the
last two through stand-in files for /proc/sys/fs/inotify/max_user_watches and the mount table).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediaforged.cli.doctor import run_checks
from tests.conftest import Daemon, as_nobody


class Setup:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.library = base / "library"
        for sub in ("Photos/2024", "Music", ".Trash-1000/x"):  # the dot folder is excluded
            (self.library / sub).mkdir(parents=True)
        (self.library / "Music" / "a.txt").write_text("a\n")
        self.state = base / "state"
        self.socket = base / "run" / "d.sock"
        self.config = base / "mediaforge.toml"
        self.mountinfo = base / "mountinfo"
        self.limit = base / "max_user_watches"
        self.mounts(state_fs="ext4", library_fs="ext4")
        self.limit.write_text("524288\n")
        self.write_config()

    def write_config(self, **extra: Any) -> None:
        settings = {
            "roots": [str(self.library)],
            "state_dir": str(self.state),
            "socket_path": str(self.socket),
            "http_listen": "",
            **extra,
        }
        self.config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))

    def mounts(self, state_fs: str, library_fs: str) -> None:
        self.mountinfo.write_text(
            "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
            f"40 22 0:50 / {self.state} rw shared:30 - {state_fs} nas:/export/state rw\n"
            f"41 22 0:51 / {self.library} rw shared:31 - {library_fs} //nas/media rw\n"
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "MEDIAFORGE_MOUNTINFO": str(self.mountinfo),
            "MEDIAFORGE_INOTIFY_LIMIT_FILE": str(self.limit),
            "NO_COLOR": "1",
            "COLUMNS": "300",
            **extra,
        }
        env.pop("MEDIAFORGE_CONFIG", None)
        env.pop("container", None)
        return env

    def doctor(
        self, *args: str, config: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mediaforged.cli.main", "--config", str(config or self.config),
             "doctor", *args],
            capture_output=True, text=True, env=self.env(**env), timeout=120,
        )  # fmt: skip

    def checks(self, **env: str) -> tuple[int, dict[str, dict[str, str]]]:
        run = self.doctor("--json", **env)
        data = json.loads(run.stdout)
        by_id = {c["check"]: c for c in data["checks"]}
        assert len(by_id) == len(data["checks"])  # one root: every id once
        return run.returncode, by_id


@pytest.fixture
def setup(short_tmp: Path) -> Setup:
    return Setup(short_tmp)


def test_good_setup_without_a_daemon(setup: Setup) -> None:
    code, checks = setup.checks()
    assert code == 0
    statuses = {k: c["status"] for k, c in checks.items()}
    assert statuses == {
        "config": "pass",
        "ffprobe": "pass",
        "ffmpeg": "pass",
        "root": "pass",
        "inotify": "pass",
        "catalog": "pass",
        "socket": "warn",
    }
    assert checks["ffprobe"]["detail"].startswith("ffprobe version ")
    assert "ext4 at" in checks["root"]["detail"] and "watch: inotify" in checks["root"]["detail"]
    assert checks["inotify"]["detail"].startswith("4 folders under the roots, limit 524288")
    assert "not running" in checks["socket"]["detail"]
    assert "systemctl start mediaforged" in checks["socket"]["fix"]

    text = setup.doctor()
    assert text.returncode == 0
    assert "WARN  socket" in text.stdout and "fix: start it" in text.stdout
    assert text.stdout.rstrip().endswith("doctor: 6 pass, 1 warn, 0 fail")


def test_good_setup_with_a_running_daemon(
    setup: Setup, daemon_factory: Callable[..., Daemon]
) -> None:
    d = daemon_factory([setup.library]).start()
    run = setup.doctor("--json", config=d.config_path)
    assert run.returncode == 0, run.stdout
    checks = {c["check"]: c for c in json.loads(run.stdout)["checks"]}
    assert {c["status"] for c in checks.values()} == {"pass"}, checks
    assert "mediaforged answers" in checks["socket"]["detail"]
    assert "0660" in checks["socket"]["detail"]  # the socket's mode, as the daemon set it
    assert d.stop() == 0
    after = json.loads(setup.doctor("--json", config=d.config_path).stdout)["checks"]
    assert [c["status"] for c in after if c["check"] == "socket"] == ["warn"]


def test_broken_setup_fails_with_fixes(setup: Setup, short_tmp: Path) -> None:
    bin_dir = short_tmp / "bin"  # ffmpeg is there, ffprobe is not
    bin_dir.mkdir()
    ffmpeg = subprocess.run(["which", "ffmpeg"], capture_output=True, text=True).stdout.strip()
    (bin_dir / "ffmpeg").symlink_to(ffmpeg)
    setup.limit.write_text("3\n")  # fewer watches than the 4 folders
    setup.mounts(state_fs="nfs4", library_fs="ext4")
    code, checks = setup.checks(PATH=str(bin_dir), container="docker")
    assert code == 1
    assert checks["ffprobe"]["status"] == "fail"
    assert "not found on PATH" in checks["ffprobe"]["detail"]
    assert "apt-get install ffmpeg" in checks["ffprobe"]["fix"]
    assert checks["ffmpeg"]["status"] == "pass"
    assert checks["inotify"]["status"] == "fail"
    assert "4 folders under the roots, limit 3" in checks["inotify"]["detail"]
    assert "sysctl fs.inotify.max_user_watches=524288" in checks["inotify"]["fix"]
    assert "on the host" in checks["inotify"]["fix"]  # $container says we are in one
    assert checks["catalog"]["status"] == "fail"
    assert "nfs4" in checks["catalog"]["detail"] and "local disk" in checks["catalog"]["fix"]


def test_library_on_a_share_is_polled(setup: Setup) -> None:
    setup.mounts(state_fs="ext4", library_fs="cifs")
    code, checks = setup.checks()
    assert code == 0
    assert checks["root"]["status"] == "pass"
    assert "cifs at" in checks["root"]["detail"] and "watch: poll" in checks["root"]["detail"]
    assert "inotify" not in checks  # a polled root needs no inotify watches
    # Forcing inotify there is allowed, with a warning about what inotify cannot see.
    setup.write_config(watch_mode="inotify")
    code, checks = setup.checks()
    assert (code, checks["root"]["status"]) == (0, "warn")
    assert "watch_mode" in checks["root"]["fix"]
    assert checks["inotify"]["status"] == "pass"


def test_near_the_limit_warns(setup: Setup) -> None:
    setup.limit.write_text("4\n")  # 4 folders: all of it, above the 80 % mark
    code, checks = setup.checks()
    assert (code, checks["inotify"]["status"]) == (0, "warn")
    setup.limit.write_text("not a number\n")
    assert setup.checks()[1]["inotify"]["status"] == "warn"


def test_unknown_config_key_fails_and_names_it(setup: Setup) -> None:
    setup.write_config(scan_everything=True)
    code, checks = setup.checks()
    assert code == 1
    assert checks["config"]["status"] == "fail"
    assert "scan_everything" in checks["config"]["detail"]
    assert checks["ffprobe"]["status"] == "pass"  # the checks that need no config still run
    assert "root" not in checks


def test_missing_root_fails(setup: Setup) -> None:
    setup.write_config(roots=[str(setup.base / "unmounted")])
    code, checks = setup.checks()
    assert code == 1
    assert checks["root"]["status"] == "fail" and "does not exist" in checks["root"]["detail"]


def test_unreadable_root_as_an_unprivileged_user(setup: Setup) -> None:
    os.chmod(setup.base, 0o755)
    os.chmod(setup.library, 0o700)  # root's own folder: nobody may not list it
    env = setup.env()
    checks = as_nobody(lambda: run_checks(setup.config, env=env))
    (root,) = [c for c in checks if c.check == "root"]
    assert root.status == "fail"
    assert "nobody cannot read it: Permission denied" in root.detail
    assert f"chmod -R o+rX {setup.library}" in root.fix
    # The same set-up passes for its owner.
    (as_root,) = [c for c in run_checks(setup.config, env=env) if c.check == "root"]
    assert as_root.status == "pass"


def test_doctor_checks_the_daemon_on_the_socket_not_its_own_guess(
    setup: Setup, daemon_factory: Callable[..., Daemon]
) -> None:
    """`doctor --socket S` with a config of its own that names another catalog: it asks the
    daemon on S for its roots and catalog (the `config` command) and checks those."""
    elsewhere = setup.base / "elsewhere"
    elsewhere.mkdir()
    d = daemon_factory([elsewhere]).start()
    run = subprocess.run(
        [sys.executable, "-m", "mediaforged.cli.main", "--config", str(setup.config),
         "--socket", str(d.socket), "doctor", "--json"],
        capture_output=True, text=True, env=setup.env(), timeout=120,
    )  # fmt: skip
    checks = {c["check"]: c for c in json.loads(run.stdout)["checks"]}
    assert checks["config"]["subject"] == str(d.config_path)
    assert "running daemon" in checks["config"]["detail"]
    assert checks["root"]["subject"] == str(elsewhere)  # not setup.library, the file's root
    assert checks["catalog"]["subject"] == str(d.state_dir)  # not setup.state
    assert checks["socket"]["subject"] == str(d.socket)


def test_thumbnails_left_in_the_old_folder_warn(setup: Setup) -> None:
    cache = setup.base / "cache"
    env = setup.env(CACHE_DIRECTORY=str(cache))  # systemd's CacheDirectory=: thumbnails go there
    assert "thumbnails" not in {c.check for c in run_checks(setup.config, env=env)}
    old = setup.state / "thumbnails"
    (old / "ab" / "cd").mkdir(parents=True)
    (old / "ab" / "cd" / "x.webp").write_bytes(b"RIFF")
    (left,) = [c for c in run_checks(setup.config, env=env) if c.check == "thumbnails"]
    assert left.status == "warn" and str(cache / "thumbnails") in left.detail
    assert f"cp -an {old}/. {cache / 'thumbnails'}/" in left.fix
    # Without a cache folder the state folder's thumbnails are the ones in use.
    assert "thumbnails" not in {c.check for c in run_checks(setup.config, env=setup.env())}
