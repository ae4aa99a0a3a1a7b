"""The settings table: the dataclass agrees with it, and every declared check is enforced.

The cases are generated from ``SETTINGS``, so a new setting is tested by adding it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from mediaforged.config import DERIVED, RUNTIME_FIELDS, SETTINGS, Config, ConfigError, load_config
from mediaforged.settings import Setting

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "mediaforge.toml"


def _boundaries(setting: Setting) -> list[tuple[Any, bool]]:
    """(value, accepted) pairs at the edges of the setting's declared check."""
    step: float = 1 if setting.type is int else 0.001
    cases: list[tuple[Any, bool]] = []
    for choice in setting.choices:
        cases += [(choice, True), (choice.upper(), False)]
    if setting.minimum is not None:
        cases += [(setting.type(setting.minimum), True), (setting.minimum - step, False)]
    if setting.above is not None:
        cases += [(setting.type(setting.above), False), (setting.above + step, True)]
    if setting.maximum is not None:
        cases += [(setting.type(setting.maximum), True), (setting.maximum + step, False)]
    return cases


CASES = [
    pytest.param(s, value, ok, id=f"{s.name}={value!r}-{'ok' if ok else 'bad'}")
    for s in SETTINGS
    for value, ok in _boundaries(s)
]


def test_the_table_declares_checks() -> None:
    # Every number has a lower bound (a negative count or interval is never meant).
    for setting in SETTINGS:
        if setting.type in (int, float):
            assert setting.minimum is not None or setting.above is not None, setting.name
    assert len(CASES) > 50


def test_the_dataclass_agrees_with_the_table(tmp_path: Path) -> None:
    fields = {f.name: f for f in dataclasses.fields(Config)}
    assert set(fields) - RUNTIME_FIELDS == {s.name for s in SETTINGS}
    assert set(fields) >= DERIVED
    # What load_config makes of the table's defaults is what Config() holds, but for the
    # paths that come from the environment.
    loaded = load_config(None, env={"HOME": str(tmp_path)})
    assert loaded.source is None
    default = Config()
    for name in set(fields) - DERIVED:
        assert getattr(default, name) == getattr(loaded, name), name
    assert default.thumbnail_dir is None
    assert loaded.thumbnail_dir == loaded.state_dir / "thumbnails"


@pytest.mark.parametrize(("setting", "value", "ok"), CASES)
def test_a_check_from_the_file(tmp_path: Path, setting: Setting, value: Any, ok: bool) -> None:
    path = tmp_path / "mediaforge.toml"
    path.write_text(f"{setting.name} = {json.dumps(value)}\n")
    env = {"HOME": str(tmp_path)}
    if ok:
        assert getattr(load_config(path, env=env), setting.name) == value
    else:
        with pytest.raises(ConfigError, match=f"^{re.escape(f'{path}: {setting.name}: ')}"):
            load_config(path, env=env)


@pytest.mark.parametrize(("setting", "value", "ok"), CASES)
def test_a_check_from_the_environment(
    tmp_path: Path, setting: Setting, value: Any, ok: bool
) -> None:
    env = {"HOME": str(tmp_path), setting.env_key: str(value)}
    if ok:
        assert getattr(load_config(None, env=env), setting.name) == value
    else:
        with pytest.raises(ConfigError, match=f"^{setting.env_key}: must|^{setting.env_key}: exp"):
            load_config(None, env=env)


_WRONG_TYPE = {str: 1, int: "1", float: "1.5", bool: 1, list: "a", dict: ["a"]}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_a_value_of_the_wrong_type_is_refused(tmp_path: Path, setting: Setting) -> None:
    path = tmp_path / "mediaforge.toml"
    path.write_text(f"{setting.name} = {json.dumps(_WRONG_TYPE[setting.type])}\n")
    with pytest.raises(ConfigError, match=f"{re.escape(f'{path}: {setting.name}: expected')}"):
        load_config(path, env={"HOME": str(tmp_path)})
    # A flag (overrides) names the setting too.
    with pytest.raises(ConfigError, match=f"^{setting.name}: expected"):
        load_config(None, {"HOME": str(tmp_path)}, {setting.name: _WRONG_TYPE[setting.type]})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers = 0", "workers: must be at least 1, got 0"),
        ("settle_seconds = -1", "settle_seconds: must not be negative, got -1.0"),
        ("poll_interval = 0", "poll_interval: must be above 0, got 0.0"),
        (
            "missing_guard_share = 1.5",
            "missing_guard_share: must be above 0 and at most 1, got 1.5",
        ),
        ("thumbnail_size = 4097", "thumbnail_size: must be 0 to 4096, got 4097"),
        ('log_format = "xml"', "log_format: expected one of auto, console, json, got 'xml'"),
        ('socket_mode = "1777"', "socket_mode: '1777' is not a permission mode"),
    ],
)
def test_range_messages(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mediaforge.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"HOME": str(tmp_path)})
    assert str(caught.value) == f"{path}: {message}"


def test_an_invalid_default_cannot_be_declared() -> None:
    with pytest.raises(ConfigError, match="the default of workers: must be at least 1"):
        Setting("workers", 0, "help", minimum=1).typed_default()
    with pytest.raises(ValueError, match="minimum or above"):
        Setting("x", 1, "help", minimum=0, above=0)


def _example_comments() -> dict[str, str]:
    """Each key of the example and the comment block above it (shared by adjacent keys)."""
    comments: dict[str, str] = {}
    block: list[str] = []
    after_key = False
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("#"):
            if after_key:
                block, after_key = [], False
            block.append(line)
        elif match := re.match(r"([a-z_]+) = ", line):
            comments[match[1]] = "\n".join(block)
            after_key = True
    return comments


def test_choices_are_documented() -> None:
    comments = _example_comments()
    assert set(comments) == {s.name for s in SETTINGS}
    for setting in SETTINGS:
        for choice in setting.choices:
            assert re.search(rf"\b{choice}\b", setting.help), (setting.name, choice)
            assert re.search(rf"\b{choice}\b", comments[setting.name]), (setting.name, choice)
