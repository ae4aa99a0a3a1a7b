"""``[[targets]]``: the media servers (and hooks) told of the catalog's changes, checked here.

Each table becomes a ``TargetSpec``; every error names the target (``#2`` until its name is
known, then its name) and the key. A credential may stay out of the config in
``token_file``, read when a request is made (so the daemon's user may own it alone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HTTP_KINDS", "KINDS", "TargetSpec", "parse_targets", "target_as_toml"]

HTTP_KINDS = (
    "jellyfin", "emby", "plex", "navidrome", "kodi", "immich", "audiobookshelf", "webhook",
)  # fmt: skip
KINDS = (*HTTP_KINDS, "command")
# Kinds that cannot do anything without a credential (kodi may run without a password).
_NEEDS_TOKEN = frozenset(KINDS) - {"kodi", "command"}
MEDIA_TYPES = ("image", "audio", "video", "other")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KEYS = {
    "name", "kind", "url", "token", "token_file", "user", "roots", "types", "debounce",
    "path_map", "command", "timeout",
}  # fmt: skip
HIDDEN = "(hidden)"  # what settings_of shows of a token


@dataclass(frozen=True)
class TargetSpec:
    name: str
    kind: str
    url: str = ""
    token: str = ""
    token_file: str = ""
    user: str = ""  # navidrome (Subsonic) and kodi (HTTP basic auth)
    roots: tuple[str, ...] = ()  # empty: every root
    types: tuple[str, ...] = ()  # empty: every media type
    debounce: float = 5.0
    path_map: tuple[tuple[str, str], ...] = ()  # (ours, theirs), longest of ours first
    command: tuple[str, ...] = ()  # kind command: the program and its arguments
    timeout: float = 30.0  # one request (or the command's run)

    def credential(self) -> str:
        """The token, or the first line of ``token_file`` (read now: it may change)."""
        if self.token or not self.token_file:
            return self.token
        try:
            return Path(self.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"token_file {self.token_file}: {exc}") from None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key}: expected a string, got {value!r}")  # noqa: TRY004
    return value


def _number(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}.{key}: expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _path_map(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError(  # noqa: TRY004 - a Setting's convert reports a ValueError
            f'{where}.path_map: expected a table ("/ours" = "/theirs"), got {value!r}'
        )
    pairs = []
    for ours, theirs in value.items():
        if not isinstance(theirs, str) or not ours.startswith("/") or not theirs:
            raise ValueError(
                f"{where}.path_map: {ours!r} = {theirs!r}: expected an absolute path of ours "
                "mapped to the server's path (a string)"
            )
        pairs.append((ours.rstrip("/") or "/", theirs.rstrip("/") or "/"))
    return tuple(sorted(pairs, key=lambda p: len(p[0]), reverse=True))


def _one(table: Any, index: int, seen: set[str]) -> TargetSpec:
    where = f"#{index + 1}"  # the error reads "FILE: targets: #2.name: ..." or "targets: jf.url"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table, got {table!r}")  # noqa: TRY004
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{where}.name: expected a name of letters, digits, '.', '_' or '-', got {name!r}"
        )
    where = name
    if name in seen:
        raise ValueError(f"{where}: two targets have this name")
    seen.add(name)
    unknown = set(table) - _KEYS
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {known})")
    kind = table.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    url = _text(table, "url", where).rstrip("/")
    if kind in HTTP_KINDS:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{where}.url: expected http://host:port or https://..., got {url!r}")
    command = _strings(table.get("command", []), f"{where}.command")
    if kind == "command" and not command:
        raise ValueError(f'{where}.command: the program to run, e.g. ["/usr/local/bin/hook"]')
    token, token_file = _text(table, "token", where), _text(table, "token_file", where)
    if token and token_file:
        raise ValueError(f"{where}: give token or token_file, not both")
    if kind in _NEEDS_TOKEN and not (token or token_file):
        raise ValueError(f"{where}: {kind} needs a token (or token_file)")
    types = _strings(table.get("types", []), f"{where}.types")
    if bad := [t for t in types if t not in MEDIA_TYPES]:
        raise ValueError(f"{where}.types: {bad[0]!r} is not one of {', '.join(MEDIA_TYPES)}")
    roots = _strings(table.get("roots", []), f"{where}.roots")
    timeout = _number(table, "timeout", where, 30.0)
    if timeout <= 0:
        raise ValueError(f"{where}.timeout: must be above 0, got {timeout}")
    return TargetSpec(
        name=name,
        kind=kind,
        url=url,
        token=token,
        token_file=token_file,
        user=_text(table, "user", where),
        roots=tuple(str(Path(r).expanduser()) for r in roots),
        types=types,
        debounce=_number(table, "debounce", where, 5.0),
        path_map=_path_map(table.get("path_map", {}), where),
        command=command,
        timeout=timeout,
    )


def parse_targets(value: tuple[Any, ...] | list[Any]) -> tuple[TargetSpec, ...]:
    """The ``targets`` setting's convert: every table checked (a ValueError names it)."""
    seen: set[str] = set()
    return tuple(_one(table, i, seen) for i, table in enumerate(value))


def target_as_toml(spec: TargetSpec) -> dict[str, Any]:
    """The table as the config writes it (the token hidden): what ``settings_of`` sends."""
    out: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "url": spec.url}
    if spec.token:
        out["token"] = HIDDEN
    if spec.token_file:
        out["token_file"] = spec.token_file
    for key in ("user", "roots", "types", "command"):
        if value := getattr(spec, key):
            out[key] = list(value) if isinstance(value, tuple) else value
    out.update(debounce=spec.debounce, timeout=spec.timeout, path_map=dict(spec.path_map))
    return out
