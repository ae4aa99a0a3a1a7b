"""Config loading: file, environment, flags, and errors that name the key."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from mediaforged.config import SETTINGS, ConfigError, find_config_file, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "mediaforge.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mediaforge.toml"
    path.write_text(text)
    return path


def test_every_setting_is_documented_in_the_example() -> None:
    example = tomllib.loads(EXAMPLE.read_text())
    assert set(example) == {s.name for s in SETTINGS}
    for setting in SETTINGS:
        assert setting.help, f"{setting.name} has no help text"
        if setting.name != "roots":  # the example shows real-looking roots instead of []
            assert example[setting.name] == setting.default, setting.name


def test_the_example_loads(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, env={"HOME": str(tmp_path)})
    assert config.roots[0] == Path("/srv/media/Photos")
    assert config.socket_mode == 0o660
    assert config.settle_seconds == 3.0


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(None, env={"HOME": str(tmp_path)})
    assert config.roots == ()
    assert config.state_dir == tmp_path / ".local/state/mediaforge"
    assert config.socket_path == config.state_dir / "mediaforged.sock"
    assert config.source is None


def test_systemd_directories_are_used(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "STATE_DIRECTORY": "/var/lib/mf", "RUNTIME_DIRECTORY": "/run/mf"}
    config = load_config(None, env=env)
    assert config.state_dir == Path("/var/lib/mf")
    assert config.socket_path == Path("/run/mf/mediaforged.sock")


def test_lookup_order(tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "mediaforge" / "mediaforge.toml"
    user.parent.mkdir(parents=True)
    user.write_text('log_level = "debug"\n')
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert find_config_file(None, env) == user
    other = _write(tmp_path, 'log_level = "error"\n')
    assert find_config_file(None, {**env, "MEDIAFORGE_CONFIG": str(other)}) == other
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("")
    assert find_config_file(explicit, {**env, "MEDIAFORGE_CONFIG": str(other)}) == explicit
    assert load_config(None, env=env).log_level == "debug"


def test_environment_overrides_file_and_flags_override_both(tmp_path: Path) -> None:
    path = _write(tmp_path, 'roots = ["/a"]\nworkers = 3\nwatch = true\n')
    env = {
        "HOME": str(tmp_path),
        "MEDIAFORGE_WORKERS": "5",
        "MEDIAFORGE_ROOTS": "/b:/c",
        "MEDIAFORGE_WATCH": "no",
    }
    config = load_config(path, env=env)
    assert config.workers == 5
    assert config.roots == (Path("/b"), Path("/c"))
    assert config.watch is False
    config = load_config(path, env=env, overrides={"roots": ["/d"], "log_level": None})
    assert config.roots == (Path("/d"),)
    assert config.log_level == "info"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("wrokers = 2\n", {}, "unknown setting 'wrokers'"),
        ('workers = "two"\n', {}, "workers: expected int"),
        ("workers = 0\n", {}, "workers: must be at least 1"),
        ("watch = 1\n", {}, "watch: expected bool"),
        ('roots = "/srv"\n', {}, "roots: expected a list of strings"),
        ('roots = ["/srv", "/srv/photos"]\n', {}, "is inside /srv"),
        ('socket_mode = "rw"\n', {}, "socket_mode: expected an octal mode"),
        ('log_level = "loud"\n', {}, "log_level: expected one of"),
        ("settle_seconds = -1\n", {}, "settle_seconds: must not be negative"),
        ("roots = [\n", {}, "invalid TOML"),
        ("", {"MEDIAFORGE_WORKERS": "many"}, "MEDIAFORGE_WORKERS: expected int"),
        ("", {"MEDIAFORGE_WATCH": "maybe"}, "MEDIAFORGE_WATCH: expected true or false"),
        (f'socket_path = "/{"x" * 120}"\n', {}, "longer than 107 bytes"),
    ],
)
def test_invalid_config_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path, env={"HOME": str(tmp_path), **env})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="MEDIAFORGE_CONFIG"):
        load_config(None, env={"HOME": str(tmp_path), "MEDIAFORGE_CONFIG": "/nope.toml"})


def test_root_options(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    path = _write(
        tmp_path,
        f'roots = ["{lib}"]\n[root_options."{lib}"]\nwatch_mode = "poll"\nexclude = ["*.nfo"]\n',
    )
    config = load_config(path, env={"HOME": str(tmp_path)})
    assert config.watch_mode_of(lib) == "poll"
    assert config.exclude_of(lib)[-1] == "*.nfo"
    assert config.watch_mode_of(tmp_path / "other") == "auto"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('[root_options."/elsewhere"]\nwatch_mode = "poll"\n', "not one of the roots"),
        ('[root_options."{lib}"]\nwatch_mode = "sometimes"\n', "watch_mode: expected one of"),
        ('[root_options."{lib}"]\nexclude = "*.nfo"\n', "exclude: expected a list"),
        ('[root_options."{lib}"]\nspeed = 3\n', "unknown key(s) speed"),
    ],
)
def test_bad_root_options_name_the_problem(tmp_path: Path, options: str, message: str) -> None:
    lib = tmp_path / "lib"
    text = f'roots = ["{lib}"]\n' + options.replace("{lib}", str(lib))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_write(tmp_path, text), env={"HOME": str(tmp_path)})


def test_root_options_from_the_environment(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    env = {
        "HOME": str(tmp_path),
        "MEDIAFORGE_ROOTS": str(lib),
        "MEDIAFORGE_ROOT_OPTIONS": json.dumps({str(lib): {"watch_mode": "inotify"}}),
    }
    assert load_config(None, env=env).watch_mode_of(lib) == "inotify"
    env["MEDIAFORGE_ROOT_OPTIONS"] = "{not json"
    with pytest.raises(ConfigError, match="MEDIAFORGE_ROOT_OPTIONS: expected a JSON object"):
        load_config(None, env=env)


def test_thumbnails_go_to_systemds_cache_folder(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "STATE_DIRECTORY": "/var/lib/mf", "CACHE_DIRECTORY": "/c/mf"}
    assert load_config(None, env=env).thumbnail_dir == Path("/c/mf/thumbnails")
    assert load_config(None, env={"HOME": str(tmp_path)}).thumbnail_dir == (
        tmp_path / ".local/state/mediaforge/thumbnails"
    )
    chosen = _write(tmp_path, 'thumbnail_dir = "/srv/thumbs"\n')
    assert load_config(chosen, env=env).thumbnail_dir == Path("/srv/thumbs")  # the setting wins


def test_one_socket_variable_for_the_daemon_and_mediaforgectl(tmp_path: Path) -> None:
    """$MEDIAFORGE_SOCKET (mediaforgectl's --socket variable) moves the daemon's socket too,
    over the file's; without it both sides compute the same default."""
    path = _write(tmp_path, 'socket_path = "/from/the/file.sock"\n')
    env = {"HOME": str(tmp_path), "MEDIAFORGE_SOCKET": "/elsewhere/d.sock"}
    assert load_config(path, env=env).socket_path == Path("/elsewhere/d.sock")
    runtime = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": "/run/user/7"}
    assert load_config(None, env=runtime).socket_path == Path(
        "/run/user/7/mediaforge/mediaforged.sock"
    )


def test_the_settings_in_force_round_trip(tmp_path: Path) -> None:
    """What the daemon's `config` command sends is enough to rebuild its Config (doctor)."""
    from mediaforged.config import from_settings, settings_of

    path = _write(
        tmp_path,
        'roots = ["/srv/a", "/srv/b"]\nsocket_mode = "0640"\nworkers = 3\n'
        '[root_options."/srv/b"]\nwatch_mode = "poll"\nexclude = ["*.bak"]\n',
    )
    config = load_config(path, env={"HOME": str(tmp_path), "CACHE_DIRECTORY": "/c"})
    values = json.loads(json.dumps(settings_of(config)))
    assert from_settings(values, config.source) == config
