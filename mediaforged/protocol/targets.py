"""The replies of ``targets``, ``targets.test`` and ``plugins`` (the notify room's health)."""

# No `from __future__ import annotations`: TypedDict reads NotRequired[...] at run time.
from typing import Any, NotRequired

from typing_extensions import TypedDict

__all__ = ["PluginHealth", "PluginsReply", "TargetHealth", "TargetTestReply", "TargetsReply"]


class TargetHealth(TypedDict):
    name: str
    kind: str
    # ok, starting, retrying (transient errors, backing off), held (a root offline or held
    # by the mass-missing guard), failed (a permanent error: not retried until a restart or
    # a `targets test NAME PATH --send` that succeeds)
    state: str
    last_success: float | None  # epoch seconds
    last_error: str
    last_error_at: float | None
    last_skipped: str  # the last path reported and not sent (outside path_map, no library)
    confirmation: str  # what the server said of the scan, where it can tell
    requests: dict[str, int]  # by result: ok, retry, failed, skipped
    cursor: int  # the last event of the change log this target is done with
    head: int  # the newest event
    lag: int  # head - cursor
    pending_folders: int


class TargetsReply(TypedDict):
    targets: list[TargetHealth]


class TargetTestReply(TypedDict):
    target: str
    path: str
    translated: str | None  # None: outside every path_map (it would not be sent)
    folder: str | None
    library: str | None  # the server's library holding it ("" where the kind has none)
    requests: list[dict[str, Any]]  # method, url, headers, body (credentials hidden)
    sent: bool
    error: NotRequired[str]
    confirmation: NotRequired[str | None]


class PluginHealth(TypedDict):
    name: str
    hooks: list[str]
    state: str  # ok, starting, restarting (after an error or a timeout), failed to load
    calls: int
    errors: int
    timeouts: int
    restarts: int
    last_error: str
    cursor: int
    lag: int


class PluginsReply(TypedDict):
    plugins: list[PluginHealth]
