"""What the targets are fed: a change read from the change log, a folder's batch of them,
path translation (longest prefix wins), and the three ways a delivery can fail."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = [
    "SENT_KINDS",
    "Batch",
    "Change",
    "NotHere",
    "Permanent",
    "Planned",
    "Transient",
    "translate",
]

# The change log's kinds a target hears of. ``failed`` (unreadable, maybe half-copied) and
# ``purged`` (catalog bookkeeping of an item reported missing already) are not.
SENT_KINDS = frozenset({"added", "changed", "moved", "restored", "missing"})
# What a target is told of a path, by our kinds (``moved_from``: the old path of a move).
GONE_KINDS = frozenset({"missing", "moved_from"})


class Transient(Exception):
    """The server is down or busy: retried with backoff."""


class Permanent(Exception):
    """The server refused in a way a retry cannot fix (401, 404): shown, not retried."""


class NotHere(Exception):
    """No library of the server holds the path (or no path_map covers it): reported, skipped."""


@dataclass(frozen=True, slots=True)
class Change:
    cursor: int
    kind: str  # an event kind, or moved_from
    path: str  # ours
    at: str = ""
    item: int | None = None
    media_type: str | None = None
    old_path: str | None = None

    @property
    def gone(self) -> bool:
        return self.kind in GONE_KINDS

    def as_json(self, server_path: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"cursor": self.cursor, "kind": self.kind, "path": self.path}
        if server_path is not None:
            out["server_path"] = server_path
        for key in ("at", "item", "media_type", "old_path"):
            if (value := getattr(self, key)) not in (None, ""):
                out[key] = value
        return out


@dataclass(slots=True)
class Batch:
    """One folder's changes, in the order of the log; ``whole``: too many to list, send the
    folder alone. ``paths`` maps each of our paths to the server's."""

    folder: str
    server_folder: str
    changes: list[Change] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    whole: bool = False

    def latest(self) -> dict[str, Change]:
        """The last change of each path (a file added then changed is one Created)."""
        out: dict[str, Change] = {}
        for change in self.changes:
            out[change.path] = change
        return out


class Planned(TypedDict):
    """A request that would be sent (``targets test``), its credential hidden."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


def translate(path: str, path_map: tuple[tuple[str, str], ...]) -> str | None:
    """Our path as the server sees it: the longest prefix of ``path_map`` that holds it
    (whole components only) swapped for the server's; None when no prefix holds it. No map:
    the server sees our paths."""
    if not path_map:
        return path
    for ours, theirs in path_map:  # longest first (settings.targets sorts them)
        if ours == "/":
            rest = path
        elif path == ours or path.startswith(ours + "/"):
            rest = path[len(ours) :]
        else:
            continue
        return posixpath.join(theirs, rest.lstrip("/")) if rest.strip("/") else theirs
    return None
