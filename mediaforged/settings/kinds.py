"""What a setting is: its type, bounds, choices and conversion (``Setting``), the error a bad
value raises (``ConfigError``), and the converters of the settings that need one."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ConfigError", "Setting", "host_port", "listen_address", "octal_mode"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(Exception):
    """An invalid configuration: the message names the key and the problem."""


@dataclass(frozen=True)
class Setting:
    """One setting. Its type is the default's (list: of strings; float also takes an int).

    ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive lower bound, and
    ``choices`` the allowed strings. ``convert`` turns a checked value into the ``Config``
    attribute (a ValueError's text is the problem); lists become tuples.
    """

    name: str
    default: Any
    help: str
    minimum: float | None = None
    above: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    convert: Callable[[Any], Any] | None = None
    tables: bool = False  # a list of tables ([[name]] in TOML), each checked by ``convert``

    def __post_init__(self) -> None:
        if self.minimum is not None and self.above is not None:
            raise ValueError(f"{self.name}: give minimum or above, not both")
        if self.choices and self.type is not str:
            raise ValueError(f"{self.name}: choices are for strings")

    @property
    def type(self) -> builtins.type[Any]:
        return type(self.default)

    @property
    def env_key(self) -> str:
        return "MEDIAFORGE_" + self.name.upper()

    def typed_default(self) -> Any:
        """The default as the ``Config`` attribute holds it."""
        return self.check(self.default, f"the default of {self.name}")

    def check(self, value: Any, where: str) -> Any:
        """``value`` (from TOML or a flag) checked and converted; ``where`` starts the error."""
        expected = self.type
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is list and self.tables:
            if not isinstance(value, list | tuple) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(
                    f"{where}: expected a list of tables ([[{self.name}]]), got {value!r}"
                )
            return self._converted(list(value), where)
        if expected is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
            return tuple(value)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {expected.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{where}: expected one of {', '.join(self.choices)}, got {value!r}")
        if not self.in_range(value):
            raise ConfigError(f"{where}: must {self.range_text()}, got {value}")
        return self._converted(value, where)

    def _converted(self, value: Any, where: str) -> Any:
        if self.convert is not None:
            try:
                return self.convert(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return value

    def from_env(self, text: str) -> Any:
        """The value of ``MEDIAFORGE_<NAME>``: lists split on ':', a dict as JSON."""
        where = self.env_key
        value: Any = text
        if self.type is list and self.tables:
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"{where}: expected a JSON list of objects: {exc}") from None
        elif self.type is list:
            value = [p for p in text.split(":") if p]
        elif self.type is dict:
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"{where}: expected a JSON object: {exc}") from None
        elif self.type is bool:
            lowered = text.strip().lower()
            if lowered not in _TRUE + _FALSE:
                raise ConfigError(f"{where}: expected true or false, got {text!r}")
            value = lowered in _TRUE
        elif self.type in (int, float):
            try:
                value = self.type(text)
            except ValueError:
                raise ConfigError(f"{where}: expected {self.type.__name__}, got {text!r}") from None
        return self.check(value, where)

    def in_range(self, value: Any) -> bool:
        if self.type not in (int, float):
            return True
        return (
            (self.minimum is None or value >= self.minimum)
            and (self.above is None or value > self.above)
            and (self.maximum is None or value <= self.maximum)
        )

    def range_text(self) -> str:
        """What ``in_range`` asks, after "must": "be at least 1", "not be negative", ..."""
        top = f"at most {self.maximum:g}" if self.maximum is not None else ""
        if self.above is not None:
            return f"be above {self.above:g}" + (f" and {top}" if top else "")
        if self.minimum is not None and self.maximum is not None:
            return f"be {self.minimum:g} to {self.maximum:g}"
        if self.minimum == 0:
            return "not be negative"
        if self.minimum is not None:
            return f"be at least {self.minimum:g}"
        return f"be {top}" if top else "be anything"


def octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError(f"expected an octal mode like 0660, got {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise ValueError(f"{text!r} is not a permission mode")
    return mode


def host_port(text: str) -> str:
    """``host:port`` (IPv6 in brackets; ``:port``: every address), or '' for off."""
    host, sep, port = text.rpartition(":")
    v6_bare = ":" in host and not (host.startswith("[") and host.endswith("]"))
    if text and (not sep or not port.isdigit() or int(port) > 65535 or v6_bare):
        raise ValueError(f"expected host:port (127.0.0.1:9108, [::1]:9108) or '', got {text!r}")
    return text


def listen_address(text: str) -> str:
    """``http_listen``: empty, an absolute path (a Unix socket), or ``host:port``."""
    return text if text.startswith("/") else host_port(text)
