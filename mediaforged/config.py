"""Configuration: one table of settings (name, type, default, help), loaded from TOML + environment.

Lookup order for the file: ``--config``, ``$MEDIAFORGE_CONFIG``, the user's
``$XDG_CONFIG_HOME/mediaforge/mediaforge.toml``, then ``/etc/mediaforge/mediaforge.toml``.
Every setting can be overridden by ``MEDIAFORGE_<NAME>`` (upper case); lists are split on ``:``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SETTINGS",
    "Config",
    "ConfigError",
    "RootOptions",
    "Setting",
    "find_config_file",
    "load_config",
]

DEFAULT_EXCLUDES = (
    ".*",  # dot files and folders: .Trash-1000, .DS_Store, .thumbnails, editors' swap files
    "@eaDir",  # Synology's per-folder thumbnail cache
    "#recycle",  # Synology/QNAP recycle bins
    "$RECYCLE.BIN",
    "System Volume Information",
    "lost+found",
    "#snapshot",  # Synology/QNAP snapshot folders
    "Thumbs.db",  # Windows thumbnail caches and folder settings
    "desktop.ini",
    "*.part",  # partial downloads and copies: indexed once renamed to their final name
    "*.tmp",
    "*.crdownload",
    "*.!qB",
    "*.download",
)


WATCH_MODES = ("auto", "inotify", "poll")


@dataclass(frozen=True)
class RootOptions:
    watch_mode: str | None = None  # None: the global watch_mode
    exclude: tuple[str, ...] = ()  # added to the global list


class ConfigError(Exception):
    """An invalid configuration: the message names the key and the problem."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("roots", list, [], "Library folders to catalog and watch (absolute paths)."),
    Setting(
        "state_dir",
        str,
        "",
        "Where the catalog lives. Empty: $STATE_DIRECTORY (systemd; /var/lib/mediaforge "
        "with /etc/mediaforge/mediaforge.toml), else $XDG_STATE_HOME/mediaforge, else "
        "~/.local/state/mediaforge.",
    ),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy async URL of the catalog. Empty: sqlite+aiosqlite:///<state_dir>/catalog.db.",
    ),
    Setting(
        "socket_path",
        str,
        "",
        "Control socket. Empty: $RUNTIME_DIRECTORY/mediaforged.sock (systemd; "
        "/run/mediaforge/ with /etc/mediaforge/mediaforge.toml), else "
        "$XDG_RUNTIME_DIR/mediaforge/mediaforged.sock, else <state_dir>/mediaforged.sock.",
    ),
    Setting("socket_mode", str, "0660", "Permission bits of the control socket (octal)."),
    Setting("socket_group", str, "", "Group that owns the control socket. Empty: unchanged."),
    Setting(
        "control_users",
        list,
        [],
        "Users (names or numeric uids) who may run commands that change things (rescan, "
        "pause, tag, ...); everyone else who can reach the socket may only query. Root and "
        "the daemon's own user always may.",
    ),
    Setting(
        "control_groups",
        list,
        [],
        "Groups (names or numeric gids) whose members may run commands that change things.",
    ),
    Setting(
        "control_idle_timeout",
        float,
        300.0,
        "Seconds a control connection may stay silent between requests before it is closed.",
    ),
    Setting(
        "events_keep_days",
        float,
        90.0,
        "Days the change log (`mediaforgectl events`) keeps each event; 0: forever.",
    ),
    Setting(
        "events_max_wait",
        float,
        10.0,
        "Seconds an `events --follow` subscriber may leave events unread before it is cut "
        "off (it resumes with --since).",
    ),
    Setting(
        "control_max_clients", int, 512, "Control connections at once at most; more are refused."
    ),
    Setting(
        "exclude",
        list,
        list(DEFAULT_EXCLUDES),
        "Glob patterns matched against each file and folder name; matches are not catalogued.",
    ),
    Setting(
        "settle_seconds",
        float,
        3.0,
        "A changed file is indexed once its size and mtime were stable this long.",
    ),
    Setting("workers", int, 2, "Concurrent hashing processes (each reads one file at a time)."),
    Setting(
        "read_limit_mb",
        float,
        0.0,
        "Cap on the bytes read for hashing, in MB/s across all workers; 0: no cap.",
    ),
    Setting("batch_size", int, 1000, "Catalog writes committed per transaction at most."),
    Setting(
        "batch_interval", float, 0.5, "Seconds the writer waits to fill a batch before committing."
    ),
    Setting(
        "queue_size",
        int,
        20000,
        "Paths waiting to be indexed at most; sources wait when it is full (back-pressure).",
    ),
    Setting(
        "reconcile_interval",
        float,
        21600.0,
        "Seconds between full reconciles of every root (catches what events missed); 0: never.",
    ),
    Setting(
        "quick_reconcile_interval",
        float,
        600.0,
        "Seconds between cheap checks of watched roots (folder mtimes; lists only changed "
        "folders): catches events the kernel dropped. 0: never.",
    ),
    Setting("watch", bool, True, "Watch the roots for changes (false: reconcile only)."),
    Setting(
        "watch_mode",
        str,
        "auto",
        "inotify, poll, or auto (poll network and FUSE file systems, where inotify sees no "
        "remote changes; inotify elsewhere).",
    ),
    Setting(
        "poll_interval",
        float,
        30.0,
        "Seconds between checks of polled roots (folder mtimes, then the changed folders).",
    ),
    Setting(
        "missing_grace_days",
        float,
        30.0,
        "Days a missing item (with its tags) is kept so that it can come back; then purged.",
    ),
    Setting(
        "missing_guard_share",
        float,
        0.5,
        "A reconcile that would mark more than this share of a root missing at once waits for "
        "`mediaforgectl confirm ROOT`; 1.0: never wait.",
    ),
    Setting(
        "missing_guard_min",
        int,
        100,
        "The guard above applies only when at least this many files would go missing.",
    ),
    Setting(
        "root_options",
        dict,
        {},
        "Per-root settings, keyed by root path: watch_mode and exclude (added to the global "
        "exclude list).",
    ),
    Setting(
        "watch_debounce_ms", int, 200, "Milliseconds watchfiles groups events before reporting."
    ),
    Setting(
        "extract_timeout",
        float,
        30.0,
        "Seconds one file's metadata extraction may take; beyond it the file is recorded as "
        "failed (timeout) and ffprobe is killed.",
    ),
    Setting("extract_workers", int, 2, "Files whose metadata is extracted at once."),
    Setting(
        "image_max_pixels",
        int,
        178956970,
        "Largest image (width x height) that is opened; bigger ones are recorded as "
        "decompression bombs.",
    ),
    Setting("thumbnail_dir", str, "", "Where thumbnails are kept. Empty: <state_dir>/thumbnails."),
    Setting("thumbnail_size", int, 320, "Long edge of a thumbnail, in pixels; 0: no thumbnails."),
    Setting("thumbnail_workers", int, 1, "Thumbnails made at once."),
    Setting(
        "thumbnail_timeout",
        float,
        60.0,
        "Seconds one thumbnail may take (ffmpeg is killed beyond it).",
    ),
    Setting("log_level", str, "info", "debug, info, warning or error."),
    Setting(
        "log_format",
        str,
        "auto",
        "console, json, or auto (console on a terminal, JSON lines otherwise).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}
_LOG_LEVELS = ("debug", "info", "warning", "error")
_LOG_FORMATS = ("auto", "console", "json")


@dataclass(frozen=True)
class Config:
    roots: tuple[Path, ...] = ()
    state_dir: Path = field(default_factory=lambda: _default_state_dir({}))
    database_url: str = ""
    socket_path: Path = Path("mediaforged.sock")
    socket_mode: int = 0o660
    socket_group: str = ""
    control_users: tuple[str, ...] = ()
    control_groups: tuple[str, ...] = ()
    control_idle_timeout: float = 300.0
    control_max_clients: int = 512
    events_keep_days: float = 90.0
    events_max_wait: float = 10.0
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    settle_seconds: float = 3.0
    workers: int = 2
    batch_size: int = 1000
    batch_interval: float = 0.5
    queue_size: int = 20000
    reconcile_interval: float = 21600.0
    watch: bool = True
    watch_mode: str = "auto"
    poll_interval: float = 30.0
    quick_reconcile_interval: float = 600.0
    missing_grace_days: float = 30.0
    missing_guard_share: float = 0.5
    missing_guard_min: int = 100
    read_limit_mb: float = 0.0
    root_options: Mapping[Path, RootOptions] = field(default_factory=dict)
    watch_debounce_ms: int = 200
    log_level: str = "info"
    log_format: str = "auto"
    extract_timeout: float = 30.0
    extract_workers: int = 2
    image_max_pixels: int = 178956970
    thumbnail_dir: Path | None = None  # None: <state_dir>/thumbnails
    thumbnail_size: int = 320
    thumbnail_workers: int = 1
    thumbnail_timeout: float = 60.0
    source: Path | None = None  # the file it was read from, for logs and status
    once: bool = False  # a run-time mode (--once), not a setting

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def watch_mode_of(self, root: Path) -> str:
        options = self.root_options.get(root)
        return (options.watch_mode if options else None) or self.watch_mode

    def exclude_of(self, root: Path) -> tuple[str, ...]:
        options = self.root_options.get(root)
        return self.exclude + (options.exclude if options else ())


def find_config_file(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """The first config file that applies, or None to run on defaults."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    if env.get("MEDIAFORGE_CONFIG"):
        path = Path(env["MEDIAFORGE_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"MEDIAFORGE_CONFIG: config file {path} does not exist")
        return path
    xdg = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    for candidate in (Path(xdg) / "mediaforge" / "mediaforge.toml", SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the config: defaults < file < environment < ``overrides`` (command-line flags)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source = find_config_file(path, env)
    if source is not None:
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {source}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
        for key, value in data.items():
            raw[key] = _check(key, value, f"{source}: ")
    for setting in SETTINGS:
        env_key = "MEDIAFORGE_" + setting.name.upper()
        if env_key in env:
            raw[setting.name] = _from_env(setting, env[env_key], env_key)
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = _check(key, value, "")
    return _build(raw, env, source)


def _from_env(setting: Setting, text: str, env_key: str) -> Any:
    if setting.type is list:
        return [p for p in text.split(":") if p]
    if setting.type is dict:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{env_key}: expected a JSON object: {exc}") from None
        return _check(setting.name, value, f"{env_key}: ")
    if setting.type is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{env_key}: expected true or false, got {text!r}")
    if setting.type in (int, float):
        try:
            return setting.type(text)
        except ValueError:
            raise ConfigError(
                f"{env_key}: expected {setting.type.__name__}, got {text!r}"
            ) from None
    return text


def _check(key: str, value: Any, where: str) -> Any:
    setting = _BY_NAME.get(key)
    if setting is None:
        known = ", ".join(sorted(_BY_NAME))
        raise ConfigError(f"{where}unknown setting {key!r} (known: {known})")
    expected = setting.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}{key}: expected a list of strings, got {value!r}")
    elif not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}{key}: expected {expected.__name__}, got {value!r}")
    return value


def _root_options(raw: Mapping[str, Any], roots: list[Path]) -> dict[Path, RootOptions]:
    out: dict[Path, RootOptions] = {}
    for key, value in raw.items():
        where = f"root_options[{key!r}]"
        path = Path(key).expanduser()
        if path not in roots:
            raise ConfigError(f"{where}: not one of the roots ({', '.join(map(str, roots))})")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        unknown = set(value) - {"watch_mode", "exclude"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: exclude, watch_mode)"
            )
        mode = value.get("watch_mode")
        if mode is not None and mode not in WATCH_MODES:
            raise ConfigError(
                f"{where}.watch_mode: expected one of {', '.join(WATCH_MODES)}, got {mode!r}"
            )
        exclude = value.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
            raise ConfigError(f"{where}.exclude: expected a list of strings, got {exclude!r}")
        out[path] = RootOptions(mode, tuple(exclude))
    return out


# The system service's config and directories (systemd/mediaforged.service). A config read
# from SYSTEM_CONFIG means that service: mediaforgectl and doctor, which systemd does not
# start, then default to its catalog and socket as if systemd had set the variables.
SYSTEM_CONFIG = Path("/etc/mediaforge/mediaforge.toml")
SYSTEM_DIRECTORIES = {
    "STATE_DIRECTORY": "/var/lib/mediaforge",
    "RUNTIME_DIRECTORY": "/run/mediaforge",
}


def _default_state_dir(env: Mapping[str, str]) -> Path:
    if env.get("STATE_DIRECTORY"):  # set by systemd's StateDirectory=
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "mediaforge"
    return Path(env.get("HOME", "~")).expanduser() / ".local" / "state" / "mediaforge"


def default_socket_path(env: Mapping[str, str], state_dir: Path) -> Path:
    if env.get("RUNTIME_DIRECTORY"):  # set by systemd's RuntimeDirectory=
        return Path(env["RUNTIME_DIRECTORY"].split(":")[0]) / "mediaforged.sock"
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "mediaforge" / "mediaforged.sock"
    return state_dir / "mediaforged.sock"


def _build(raw: Mapping[str, Any], env: Mapping[str, str], source: Path | None) -> Config:
    def get(name: str) -> Any:
        return raw.get(name, _BY_NAME[name].default)

    roots: list[Path] = []
    for text in get("roots"):
        root = Path(text).expanduser()
        if not root.is_absolute():
            root = root.resolve()
        roots.append(root)
    if len(set(roots)) != len(roots):
        raise ConfigError("roots: the same folder is listed twice")
    for a in roots:
        for b in roots:
            if a != b and b.is_relative_to(a):
                raise ConfigError(f"roots: {b} is inside {a}; list only the outer folder")

    if source == SYSTEM_CONFIG:
        env = {**SYSTEM_DIRECTORIES, **env}
    state_dir = Path(get("state_dir")).expanduser() if get("state_dir") else None
    state_dir = (state_dir or _default_state_dir(env)).absolute()
    socket_text = get("socket_path")
    socket_path = (
        Path(socket_text).expanduser() if socket_text else default_socket_path(env, state_dir)
    ).absolute()
    if len(os.fsencode(socket_path)) > 107:  # sun_path limit on Linux
        raise ConfigError(f"socket_path: {socket_path} is longer than 107 bytes")

    try:
        socket_mode = int(get("socket_mode"), 8)
    except ValueError:
        raise ConfigError(
            f"socket_mode: expected an octal mode like 0660, got {get('socket_mode')!r}"
        ) from None
    if not 0 <= socket_mode <= 0o777:
        raise ConfigError(f"socket_mode: {get('socket_mode')!r} is not a permission mode")

    root_options = _root_options(get("root_options"), roots)
    if get("watch_mode") not in WATCH_MODES:
        raise ConfigError(
            f"watch_mode: expected one of {', '.join(WATCH_MODES)}, got {get('watch_mode')!r}"
        )
    for name in ("poll_interval", "quick_reconcile_interval", "missing_grace_days"):
        if get(name) < 0:
            raise ConfigError(f"{name}: must not be negative, got {get(name)}")
    if not 0 < get("missing_guard_share") <= 1:
        raise ConfigError(
            f"missing_guard_share: must be above 0 and at most 1, got {get('missing_guard_share')}"
        )
    if get("read_limit_mb") < 0:
        raise ConfigError(f"read_limit_mb: must not be negative, got {get('read_limit_mb')}")
    if get("poll_interval") == 0:
        raise ConfigError("poll_interval: must be above 0")

    for name in ("extract_workers", "thumbnail_workers", "image_max_pixels"):
        if get(name) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {get(name)}")
    for name in ("extract_timeout", "thumbnail_timeout"):
        if get(name) <= 0:
            raise ConfigError(f"{name}: must be above 0, got {get(name)}")
    if not 0 <= get("thumbnail_size") <= 4096:
        raise ConfigError(f"thumbnail_size: must be 0 to 4096, got {get('thumbnail_size')}")
    for name in ("workers", "batch_size", "queue_size", "missing_guard_min", "control_max_clients"):
        if get(name) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {get(name)}")
    for name in ("settle_seconds", "batch_interval", "reconcile_interval"):
        if get(name) < 0:
            raise ConfigError(f"{name}: must not be negative, got {get(name)}")
    if get("events_keep_days") < 0:
        raise ConfigError(f"events_keep_days: must not be negative, got {get('events_keep_days')}")
    if get("events_max_wait") <= 0:
        raise ConfigError(f"events_max_wait: must be above 0, got {get('events_max_wait')}")
    if get("control_idle_timeout") <= 0:
        raise ConfigError(
            f"control_idle_timeout: must be above 0, got {get('control_idle_timeout')}"
        )
    if get("watch_debounce_ms") < 1:
        raise ConfigError(f"watch_debounce_ms: must be at least 1, got {get('watch_debounce_ms')}")
    if get("log_level") not in _LOG_LEVELS:
        raise ConfigError(
            f"log_level: expected one of {', '.join(_LOG_LEVELS)}, got {get('log_level')!r}"
        )
    if get("log_format") not in _LOG_FORMATS:
        raise ConfigError(
            f"log_format: expected one of {', '.join(_LOG_FORMATS)}, got {get('log_format')!r}"
        )

    return Config(
        roots=tuple(roots),
        state_dir=state_dir,
        database_url=get("database_url"),
        socket_path=socket_path,
        socket_mode=socket_mode,
        socket_group=get("socket_group"),
        control_users=tuple(get("control_users")),
        control_groups=tuple(get("control_groups")),
        control_idle_timeout=get("control_idle_timeout"),
        control_max_clients=get("control_max_clients"),
        events_keep_days=get("events_keep_days"),
        events_max_wait=get("events_max_wait"),
        exclude=tuple(get("exclude")),
        settle_seconds=get("settle_seconds"),
        workers=get("workers"),
        batch_size=get("batch_size"),
        batch_interval=get("batch_interval"),
        queue_size=get("queue_size"),
        reconcile_interval=get("reconcile_interval"),
        watch=get("watch"),
        watch_mode=get("watch_mode"),
        poll_interval=get("poll_interval"),
        quick_reconcile_interval=get("quick_reconcile_interval"),
        missing_grace_days=get("missing_grace_days"),
        missing_guard_share=get("missing_guard_share"),
        missing_guard_min=get("missing_guard_min"),
        read_limit_mb=get("read_limit_mb"),
        root_options=root_options,
        watch_debounce_ms=get("watch_debounce_ms"),
        log_level=get("log_level"),
        log_format=get("log_format"),
        extract_timeout=get("extract_timeout"),
        extract_workers=get("extract_workers"),
        image_max_pixels=get("image_max_pixels"),
        thumbnail_dir=(
            Path(get("thumbnail_dir")).expanduser().absolute()
            if get("thumbnail_dir")
            else state_dir / "thumbnails"
        ),
        thumbnail_size=get("thumbnail_size"),
        thumbnail_workers=get("thumbnail_workers"),
        thumbnail_timeout=get("thumbnail_timeout"),
        source=source,
    )
