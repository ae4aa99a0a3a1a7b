"""``mediaforgectl doctor``: check the set-up and say how to fix what is wrong.

Each check gives pass, warn or fail, what was found, and the fix. It needs no running
daemon (the socket check says whether one answers). What it reads of the system can be
pointed elsewhere, which is how the tests stand in a network mount or a low limit:
``$MEDIAFORGE_MOUNTINFO`` (the mount table, /proc/self/mountinfo, read by
``mediaforged.fs.mounts`` as the daemon reads it) and ``$MEDIAFORGE_INOTIFY_LIMIT_FILE``
(/proc/sys/fs/inotify/max_user_watches).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from mediaforged.config import Config, ConfigError, find_config_file, load_config
from mediaforged.fs.fsio import exclusion_matcher
from mediaforged.fs.mounts import (
    Mount,
    in_container,
    is_remote,
    mount_of,
    read_mounts,
    watch_mode_for,
)

__all__ = ["Check", "Sources", "as_json", "print_report", "run_checks", "summary"]

PASS, WARN, FAIL = "pass", "warn", "fail"
MIN_FREE = 100 * 2**20  # below this the next batch of commits may fail
LOW_FREE = 2**30
TOOL_TIMEOUT_S = 10.0
COUNT_LIMIT = 2_000_000  # stop counting folders here: the answer is already clear


@dataclass(frozen=True)
class Check:
    check: str  # a stable id: config, ffprobe, ffmpeg, root, inotify, catalog, socket
    subject: str  # what was checked (a path, a program)
    status: str  # pass, warn or fail
    detail: str  # what was found
    fix: str = ""  # what to do about a warn or a fail


@dataclass(frozen=True)
class Sources:
    """Where the system's state is read from (files the tests can stand in)."""

    mountinfo: Path
    inotify_limit: Path
    path: str  # $PATH, to find ffprobe and ffmpeg as the daemon would

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Sources:
        return cls(
            Path(env.get("MEDIAFORGE_MOUNTINFO") or "/proc/self/mountinfo"),
            Path(
                env.get("MEDIAFORGE_INOTIFY_LIMIT_FILE") or "/proc/sys/fs/inotify/max_user_watches"
            ),
            env.get("PATH", os.defpath),
        )


def run_checks(
    config_path: Path | None,
    socket_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    env = os.environ if env is None else env
    sources = Sources.from_env(env)
    checks: list[Check] = []
    config = _check_config(config_path, env, checks)
    for tool in ("ffprobe", "ffmpeg"):
        checks.append(_check_tool(tool, sources.path))
    if config is None:
        return checks
    mounts = read_mounts(str(sources.mountinfo))
    for root in config.roots:
        checks.append(_check_root(root, config, mounts))
    inotify_roots = [
        r
        for r in config.roots
        if watch_mode_for(r, config.watch_mode_of(r), mounts)[0] == "inotify"
    ]
    if config.watch and inotify_roots:
        checks.append(_check_inotify(config, inotify_roots, sources.inotify_limit))
    checks.append(_check_catalog(config, mounts))
    checks.append(_check_socket(socket_path or config.socket_path))
    return checks


def summary(checks: list[Check]) -> dict[str, int]:
    return {s: sum(c.status == s for c in checks) for s in (PASS, WARN, FAIL)}


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"checks": [asdict(c) for c in checks], "summary": summary(checks)}


# --- config -----------------------------------------------------------------------------------


def _check_config(path: Path | None, env: Mapping[str, str], checks: list[Check]) -> Config | None:
    try:
        source = find_config_file(path, env)
        config = load_config(path, env)
    except ConfigError as exc:
        checks.append(
            Check("config", str(path or "config"), FAIL, str(exc), "correct it, then restart")
        )
        return None
    where = str(source) if source else "no config file (defaults and environment)"
    if not config.roots:
        checks.append(
            Check(
                "config",
                where,
                FAIL,
                "no library roots configured",
                'set roots = ["/path/to/media"] in /etc/mediaforge/mediaforge.toml '
                "(or MEDIAFORGE_ROOTS=/path/to/media)",
            )
        )
    else:
        checks.append(Check("config", where, PASS, "parses; every key is known"))
    return config


# --- ffprobe / ffmpeg -------------------------------------------------------------------------


def _check_tool(name: str, search_path: str) -> Check:
    found = shutil.which(name, path=search_path)
    fix = "install it: `apt-get install ffmpeg` (Debian, Ubuntu), then restart mediaforged"
    if found is None:
        return Check(name, name, FAIL, f"not found on PATH ({search_path})", fix)
    try:
        run = subprocess.run(
            [found, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, found, FAIL, f"cannot run it: {exc}", fix)
    first = run.stdout.splitlines()[0] if run.stdout else ""
    if run.returncode != 0 or not first.startswith(f"{name} version"):
        return Check(name, found, FAIL, f"`{name} -version` failed: {run.stderr.strip()}", fix)
    return Check(name, found, PASS, first.split(" Copyright")[0])


# --- roots ------------------------------------------------------------------------------------


def _whoami() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _check_root(root: Path, config: Config, mounts: list[Mount]) -> Check:
    where = f"in {config.source}" if config.source else "in the config"
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return Check(
            "root",
            str(root),
            FAIL,
            "does not exist (an unmounted share or disk?)",
            f"mount it, or correct roots {where}",
        )
    except OSError as exc:
        return Check("root", str(root), FAIL, f"cannot reach it: {exc.strerror}", _access_fix(root))
    if not stat.S_ISDIR(st.st_mode):
        return Check("root", str(root), FAIL, "is not a folder", f"correct roots {where}")
    try:
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as exc:
        return Check(
            "root",
            str(root),
            FAIL,
            f"{_whoami()} cannot read it: {exc.strerror}",
            _access_fix(root),
        )
    mount = mount_of(root, mounts)
    fs = f"{mount.fs_type} at {mount.mount_point}" if mount else "file system unknown"
    mode, why = watch_mode_for(root, config.watch_mode_of(root), mounts)
    if not config.watch:
        mode, why = "none", "watch = false: reconciles only"
    detail = f"readable by {_whoami()}; {fs}; watch: {mode} ({why})"
    if mount and is_remote(mount.fs_type) and mode == "inotify":
        return Check(
            "root",
            str(root),
            WARN,
            detail + f"; inotify does not see changes other machines make on {mount.fs_type}",
            'set watch_mode = "auto" or "poll" for it ([root_options."..."]), or run '
            "`mediaforgectl rescan` after copying from elsewhere",
        )
    if os.geteuid() == 0:
        detail += " (checked as root, who reads everything: run doctor as the service's user)"
    return Check("root", str(root), PASS, detail)


def _access_fix(root: Path) -> str:
    try:
        group = grp.getgrgid(os.stat(root.parent).st_gid).gr_name
    except (OSError, KeyError):
        group = "its group"
    return (
        f"let the daemon's user read it: `chmod -R o+rX {root}`, or add that user to "
        f"{group}'s group (`usermod -aG {group} mediaforge`) and make it group-readable"
    )


# --- inotify ----------------------------------------------------------------------------------


def _count_dirs(top: Path, excluded: Callable[[bytes], object]) -> Iterator[int]:
    stack = [os.fsencode(top)]
    while stack:
        folder = stack.pop()
        yield 1
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False) and not excluded(entry.name):
                        stack.append(entry.path)
        except OSError:
            continue


def _check_inotify(config: Config, roots: list[Path], source: Path) -> Check:
    dirs = 0
    for root in roots:
        for n in _count_dirs(root, exclusion_matcher(config.exclude_of(root))):
            dirs += n
            if dirs >= COUNT_LIMIT:
                break
    subject = f"{dirs} folders to watch"
    try:
        limit = int(source.read_text().strip())
    except (OSError, ValueError) as exc:
        return Check("inotify", subject, WARN, f"cannot read the limit from {source}: {exc}")
    want = max(524288, 1 << (2 * dirs).bit_length())
    fix = (
        f"raise it: `sysctl fs.inotify.max_user_watches={want}`, and keep it with "
        f"`echo fs.inotify.max_user_watches={want} > /etc/sysctl.d/90-mediaforge.conf`"
    )
    if in_container():
        fix += " (in a container: on the host; the limit is the host's)"
    detail = f"{dirs} folders under the roots, limit {limit} watches per user"
    if dirs > limit:
        return Check(
            "inotify",
            subject,
            FAIL,
            detail + ": the daemon falls back to polling, which notices changes later",
            fix,
        )
    if dirs > limit * 0.8:
        return Check("inotify", subject, WARN, detail + ": little room to grow", fix)
    return Check("inotify", subject, PASS, detail)


# --- catalog ----------------------------------------------------------------------------------


def _catalog_dir(config: Config) -> Path | None:
    url = config.database_url
    if not url:
        return config.state_dir
    if url.startswith("sqlite") and ":///" in url:
        return Path(url.split(":///", 1)[1].split("?")[0]).parent
    return None  # a server database: not a file here


def _check_catalog(config: Config, mounts: list[Mount]) -> Check:
    folder = _catalog_dir(config)
    if folder is None:
        return Check("catalog", "database_url", PASS, "a database server: nothing to check here")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    mount = mount_of(folder, mounts)
    if mount and is_remote(mount.fs_type):
        return Check(
            "catalog",
            str(folder),
            FAIL,
            f"on {mount.fs_type} ({mount.mount_point}): SQLite's locking is unreliable on "
            "network file systems and the catalog can be corrupted",
            "put state_dir (or database_url) on a local disk; the library may stay remote",
        )
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        return Check("catalog", str(folder), WARN, f"cannot measure free space: {exc.strerror}")
    catalog = folder / "catalog.db"
    size = catalog.stat().st_size if catalog.exists() else 0
    fs = f"{mount.fs_type}, " if mount else ""
    detail = f"{fs}{free / 2**30:.1f} GiB free; catalog {size / 2**20:.1f} MiB"
    fix = f"free space on {existing} or move state_dir to a larger disk"
    if free < MIN_FREE:
        return Check("catalog", str(folder), FAIL, detail, fix)
    if free < LOW_FREE:
        return Check("catalog", str(folder), WARN, detail, fix)
    return Check("catalog", str(folder), PASS, detail)


# --- socket -----------------------------------------------------------------------------------


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group} {stat.S_IMODE(st.st_mode):04o}"


def _check_socket(path: Path) -> Check:
    try:
        dir_st = os.stat(path.parent)
    except OSError:
        return Check(
            "socket",
            str(path),
            WARN,
            f"{path.parent} does not exist: mediaforged is not running",
            "start it: `systemctl start mediaforged`",
        )
    folder = f"folder {_owner(dir_st)}"
    if dir_st.st_mode & stat.S_IWOTH and not dir_st.st_mode & stat.S_ISVTX:
        return Check(
            "socket",
            str(path),
            FAIL,
            f"{folder}: anyone can replace the socket",
            f"`chmod o-w {path.parent}` (systemd's RuntimeDirectoryMode=0750 does this)",
        )
    try:
        sock_st = os.stat(path)
    except FileNotFoundError:
        return Check(
            "socket",
            str(path),
            WARN,
            f"{folder}; no socket: mediaforged is not running",
            "start it: `systemctl start mediaforged` (`journalctl -u mediaforged` says why it "
            "stopped)",
        )
    except OSError as exc:
        return Check(
            "socket", str(path), FAIL, f"{folder}; {exc.strerror}", _join_group_fix(dir_st)
        )
    detail = f"{folder}; socket {_owner(sock_st)}"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(5.0)
    try:
        probe.connect(str(path))
        hello = probe.recv(4096).decode("utf-8", "replace").strip()
    except PermissionError:
        return Check(
            "socket", str(path), FAIL, detail + "; permission denied", _join_group_fix(sock_st)
        )
    except OSError as exc:
        return Check(
            "socket",
            str(path),
            WARN,
            detail + f"; nobody answers ({exc.strerror or exc}): a stale socket",
            "start mediaforged: `systemctl start mediaforged`",
        )
    finally:
        probe.close()
    return Check("socket", str(path), PASS, detail + f"; mediaforged answers: {hello[:120]}")


def _join_group_fix(st: os.stat_result) -> str:
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"join its group: `sudo usermod -aG {group} $USER`, then log in again"


# --- report -----------------------------------------------------------------------------------

_COLORS = {PASS: "green", WARN: "yellow", FAIL: "red"}


def print_report(checks: list[Check], console: Console) -> None:
    for c in checks:
        console.print(
            Text.assemble(
                (f"{c.status.upper():4}", f"bold {_COLORS[c.status]}"),
                f"  {c.check:8} ",
                _printable(c.subject),
                ": ",
                _printable(c.detail),
            )
        )
        if c.fix:
            console.print(Text.assemble("      fix: ", _printable(c.fix)))
    counts = summary(checks)
    console.print(f"doctor: {counts[PASS]} pass, {counts[WARN]} warn, {counts[FAIL]} fail")


def _printable(text: str) -> Text:
    # Paths may hold control characters: show them escaped, never interpreted.
    return Text("".join(c if c.isprintable() else repr(c)[1:-1] for c in text))
