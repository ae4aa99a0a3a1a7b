"""``mediaforgectl doctor``: check the set-up and say how to fix what is wrong.

Each check gives pass, warn or fail, what was found, and the fix. This module runs them,
checks the config and ffprobe/ffmpeg itself, and prints the report; the checks of the roots,
the inotify limit, the catalog and the socket are in ``doctor_checks``. It needs no running
daemon (the socket check says whether one answers); when one answers on the socket, the
doctor checks that daemon's roots, catalog and folders (the ``config`` command tells them:
its command line may have set them), not what this process would guess from its own
environment. What it reads of the system can be
pointed elsewhere, which is how the tests stand in a network mount or a low limit:
``$MEDIAFORGE_MOUNTINFO`` (the mount table, /proc/self/mountinfo, read by
``mediaforged.fs.mounts`` as the daemon reads it) and ``$MEDIAFORGE_INOTIFY_LIMIT_FILE``
(/proc/sys/fs/inotify/max_user_watches).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from mediaforged.cli.client import Client, CommandFailed, DaemonUnavailable
from mediaforged.cli.doctor_checks import (
    FAIL,
    PASS,
    WARN,
    Check,
    check_catalog,
    check_inotify,
    check_old_thumbnails,
    check_root,
    check_search_index,
    check_socket,
)
from mediaforged.config import Config, ConfigError, find_config_file, from_settings, load_config
from mediaforged.fs.mounts import read_mounts, watch_mode_for

__all__ = ["Check", "Sources", "as_json", "print_report", "run_checks", "summary"]

TOOL_TIMEOUT_S = 10.0
ASK_TIMEOUT_S = 10.0


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
    config = _daemons_config(config_path, socket_path, env, checks)
    if config is None:
        config = _check_config(config_path, env, checks)
    for tool in ("ffprobe", "ffmpeg"):
        checks.append(_check_tool(tool, sources.path))
    if config is None:
        return checks
    mounts = read_mounts(str(sources.mountinfo))
    for root in config.roots:
        checks.append(check_root(root, config, mounts))
    inotify_roots = [
        r
        for r in config.roots
        if watch_mode_for(r, config.watch_mode_of(r), mounts)[0] == "inotify"
    ]
    if config.watch and inotify_roots:
        checks.append(check_inotify(config, inotify_roots, sources.inotify_limit))
    checks.append(check_catalog(config, mounts))
    if (index := check_search_index(config)) is not None:
        checks.append(index)
    if (left := check_old_thumbnails(config)) is not None:
        checks.append(left)
    checks.append(check_socket(socket_path or config.socket_path))
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


def _daemons_config(
    path: Path | None, socket_path: Path | None, env: Mapping[str, str], checks: list[Check]
) -> Config | None:
    """The running daemon's config, asked over the socket (--socket, else where the config
    puts it); None when nobody answers there, or when the socket cannot be found (the
    config check then says why)."""
    if socket_path is None:
        try:
            socket_path = load_config(path, env).socket_path
        except ConfigError:
            return None
    try:
        client = Client(socket_path, ASK_TIMEOUT_S)
    except (DaemonUnavailable, OSError):
        return None
    try:
        reply: dict[str, Any] = client.call("config")
        source = Path(reply["config_file"]) if reply["config_file"] else None
        config = from_settings(reply["settings"], source)
    except (CommandFailed, DaemonUnavailable, OSError, ConfigError, KeyError, TypeError):
        return None  # an older daemon, or one that does not let us ask: guess as before
    finally:
        client.close()
    where = str(source) if source else "no config file"
    roots = ", ".join(map(str, config.roots)) or "none"
    detail = f"the running daemon's (pid {reply.get('pid')}): roots {roots}"
    if not config.roots:
        checks.append(
            Check("config", where, FAIL, detail, "set roots = [...] in its config, then reload")
        )
    else:
        checks.append(Check("config", where, PASS, detail))
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
