"""Configuration: the typed ``Config``, loaded from TOML + environment by the settings table.

Each setting is declared once, in ``settings.SETTINGS`` (name, default, help, check); this
module reads the layers and builds the attributes that need more than a check (paths, roots).
Lookup order for the file: ``--config``, ``$MEDIAFORGE_CONFIG``, the user's
``$XDG_CONFIG_HOME/mediaforge/mediaforge.toml``, then ``/etc/mediaforge/mediaforge.toml``.
Every setting can be overridden by ``MEDIAFORGE_<NAME>`` (upper case); lists are split on ``:``.

The daemon and mediaforgectl find each other by the same rule (``default_socket_path``): a
socket named by ``$MEDIAFORGE_SOCKET`` (or the setting), else systemd's runtime folder, else
``$XDG_RUNTIME_DIR/mediaforge/``, else the default state folder. Thumbnails go to systemd's
cache folder (``$CACHE_DIRECTORY``) when there is one, else into the state folder.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaforged.settings import (
    DEFAULT_EXCLUDES,
    SETTINGS,
    WATCH_MODES,
    ConfigError,
    Setting,
    setting,
)
from mediaforged.settings.targets import TargetSpec, target_as_toml

__all__ = [
    "DEFAULT_EXCLUDES",
    "DERIVED",
    "RUNTIME_FIELDS",
    "SETTINGS",
    "SYSTEM_CONFIG",
    "WATCH_MODES",
    "Config",
    "ConfigError",
    "RootOptions",
    "Setting",
    "default_socket_path",
    "find_config_file",
    "from_settings",
    "load_config",
    "settings_of",
]

# Config attributes that are not settings: set by the loader or the daemon's flags.
RUNTIME_FIELDS = frozenset({"source", "once"})
# Settings whose empty default stands for a path found at load time (from the environment).
DERIVED = frozenset({"state_dir", "socket_path", "thumbnail_dir"})


@dataclass(frozen=True)
class RootOptions:
    watch_mode: str | None = None  # None: the global watch_mode
    exclude: tuple[str, ...] = ()  # added to the global list


def _default(name: str) -> Any:
    return setting(name).typed_default()


# The attributes the code uses, one per setting, with the table's defaults (a test checks that
# they agree with what load_config gives). The DERIVED ones default to their no-environment values.
@dataclass(frozen=True)
class Config:
    roots: tuple[Path, ...] = _default("roots")
    state_dir: Path = field(default_factory=lambda: _default_state_dir({}))
    database_url: str = _default("database_url")
    socket_path: Path = field(default_factory=lambda: _default_state_dir({}) / "mediaforged.sock")
    socket_mode: int = _default("socket_mode")
    socket_group: str = _default("socket_group")
    control_users: tuple[str, ...] = _default("control_users")
    control_groups: tuple[str, ...] = _default("control_groups")
    control_idle_timeout: float = _default("control_idle_timeout")
    control_max_clients: int = _default("control_max_clients")
    control_reserved_clients: int = _default("control_reserved_clients")
    control_max_per_user: int = _default("control_max_per_user")
    control_max_per_reader: int = _default("control_max_per_reader")
    control_reader_idle_timeout: float = _default("control_reader_idle_timeout")
    events_keep_days: float = _default("events_keep_days")
    events_max_wait: float = _default("events_max_wait")
    http_listen: str = _default("http_listen")
    exclude: tuple[str, ...] = _default("exclude")
    settle_seconds: float = _default("settle_seconds")
    workers: int = _default("workers")
    batch_size: int = _default("batch_size")
    batch_interval: float = _default("batch_interval")
    queue_size: int = _default("queue_size")
    reconcile_interval: float = _default("reconcile_interval")
    watch: bool = _default("watch")
    watch_mode: str = _default("watch_mode")
    poll_interval: float = _default("poll_interval")
    quick_reconcile_interval: float = _default("quick_reconcile_interval")
    missing_grace_days: float = _default("missing_grace_days")
    missing_guard_share: float = _default("missing_guard_share")
    missing_guard_min: int = _default("missing_guard_min")
    fs_timeout: float = _default("fs_timeout")
    read_limit_mb: float = _default("read_limit_mb")
    root_options: Mapping[Path, RootOptions] = field(default_factory=dict)
    watch_debounce_ms: int = _default("watch_debounce_ms")
    log_level: str = _default("log_level")
    log_format: str = _default("log_format")
    extract_timeout: float = _default("extract_timeout")
    extract_workers: int = _default("extract_workers")
    image_max_pixels: int = _default("image_max_pixels")
    thumbnail_dir: Path | None = None  # None: <state_dir>/thumbnails (load_config sets it)
    thumbnail_size: int = _default("thumbnail_size")
    thumbnail_workers: int = _default("thumbnail_workers")
    thumbnail_timeout: float = _default("thumbnail_timeout")
    verify: str = _default("verify")
    verify_workers: int = _default("verify_workers")
    verify_timeout: float = _default("verify_timeout")
    metrics_listen: str = _default("metrics_listen")
    targets: tuple[TargetSpec, ...] = _default("targets")
    plugin_timeout: float = _default("plugin_timeout")
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
    """Build the config: defaults < file < environment < ``overrides`` (command-line flags).

    Each value is checked where it comes from, so that the error names that place.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source = find_config_file(path, env)
    if source is not None:
        for key, value in _read_toml(source).items():
            raw[key] = setting(key, f"{source}: ").check(value, f"{source}: {key}")
    for each in SETTINGS:
        if each.env_key in env:
            raw[each.name] = each.from_env(env[each.env_key])
    if env.get(SOCKET_ENV):  # mediaforgectl's variable: the daemon listens where it points
        raw["socket_path"] = setting("socket_path").from_env(env[SOCKET_ENV])
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = setting(key).check(value, key)
    return _build(raw, env, source)


def _read_toml(source: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {source}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc


def _roots(texts: tuple[str, ...]) -> tuple[Path, ...]:
    roots: list[Path] = []
    for text in texts:
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
    return tuple(roots)


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
    "CACHE_DIRECTORY": "/var/cache/mediaforge",
}
# mediaforgectl's --socket variable; the daemon reads it too, so that both find one socket.
SOCKET_ENV = "MEDIAFORGE_SOCKET"


def _default_state_dir(env: Mapping[str, str]) -> Path:
    if env.get("STATE_DIRECTORY"):  # set by systemd's StateDirectory=
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "mediaforge"
    return Path(env.get("HOME", "~")).expanduser() / ".local" / "state" / "mediaforge"


def default_socket_path(env: Mapping[str, str], state_dir: Path) -> Path:
    """Where the daemon listens and mediaforgectl looks when neither is told (socket_path,
    ``$MEDIAFORGE_SOCKET``, --socket): the same answer on both sides from the same
    environment. ``state_dir`` is the state folder in force (the last resort)."""
    if env.get("RUNTIME_DIRECTORY"):  # set by systemd's RuntimeDirectory=
        return Path(env["RUNTIME_DIRECTORY"].split(":")[0]) / "mediaforged.sock"
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "mediaforge" / "mediaforged.sock"
    return state_dir / "mediaforged.sock"


def _default_thumbnail_dir(env: Mapping[str, str], state_dir: Path) -> Path:
    if env.get("CACHE_DIRECTORY"):  # set by systemd's CacheDirectory=: thumbnails are a cache
        return Path(env["CACHE_DIRECTORY"].split(":")[0]) / "thumbnails"
    return state_dir / "thumbnails"


def _build(raw: Mapping[str, Any], env: Mapping[str, str], source: Path | None) -> Config:
    """The Config of checked values: every setting's value or default, and then the paths."""
    values = {s.name: raw[s.name] if s.name in raw else s.typed_default() for s in SETTINGS}
    roots = _roots(values["roots"])
    if source == SYSTEM_CONFIG:
        env = {**SYSTEM_DIRECTORIES, **env}
    state_dir = Path(values["state_dir"]).expanduser() if values["state_dir"] else None
    state_dir = (state_dir or _default_state_dir(env)).absolute()
    socket_text = values["socket_path"]
    socket_path = (
        Path(socket_text).expanduser() if socket_text else default_socket_path(env, state_dir)
    ).absolute()
    if len(os.fsencode(socket_path)) > 107:  # sun_path limit on Linux
        raise ConfigError(f"socket_path: {socket_path} is longer than 107 bytes")
    thumbnail_text = values["thumbnail_dir"]
    values.update(
        roots=roots,
        state_dir=state_dir,
        socket_path=socket_path,
        thumbnail_dir=(
            Path(thumbnail_text).expanduser().absolute()
            if thumbnail_text
            else _default_thumbnail_dir(env, state_dir).absolute()
        ),
        root_options=_root_options(values["root_options"], list(roots)),
    )
    for target in values["targets"]:
        for root in target.roots:
            if Path(root) not in roots:
                where = f"{source}: " if source else ""
                raise ConfigError(f"{where}targets: {target.name}.roots: {root} is not a root")
    return Config(**values, source=source)


def settings_of(config: Config) -> dict[str, Any]:
    """Every setting's value in force, as the config file would write it (JSON-able): what
    the daemon tells mediaforgectl's doctor, which rebuilds it with ``from_settings``."""
    out: dict[str, Any] = {}
    for each in SETTINGS:
        value = getattr(config, each.name)
        if each.name == "socket_mode":
            value = f"{value:04o}"
        elif each.name == "root_options":
            value = {
                str(path): {
                    **({"watch_mode": o.watch_mode} if o.watch_mode else {}),
                    "exclude": list(o.exclude),
                }
                for path, o in value.items()
            }
        elif each.name == "targets":
            value = [target_as_toml(t) for t in value]
        elif isinstance(value, tuple):
            value = [str(v) for v in value]
        elif isinstance(value, Path):
            value = str(value)
        elif value is None:
            value = ""
        out[each.name] = value
    return out


def from_settings(values: Mapping[str, Any], source: Path | None = None) -> Config:
    """The Config of ``settings_of``'s values (each checked; a missing one takes its
    default), without reading a file or the environment."""
    raw = {key: setting(key).check(value, key) for key, value in values.items()}
    return _build(raw, {}, source)
