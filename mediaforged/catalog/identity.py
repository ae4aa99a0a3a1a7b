"""The identity rules, as a pure function: what a batch of observations does to the catalog.

The writer looks up what the catalog holds for a batch (``Holdings``) and ``plan`` decides,
with no I/O: a known path updates its item; a known (dev, inode) whose old path is gone is a
move (a second new link to the same inode becomes an item of its own); bytes that vanished
elsewhere (same hash and size, newest missing first) come back as the same item; anything
else is new. The writer executes the ``Plan`` and keeps the counters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from mediaforged.catalog.schema import hash_key
from mediaforged.fs.fsio import StatLike, display_path
from mediaforged.state import Job

__all__ = [
    "Holdings",
    "MissingRow",
    "MovedRow",
    "Observation",
    "ObservationKind",
    "PathRow",
    "Plan",
    "latest_by_path",
    "move_ids",
    "plan",
    "restore_keys",
    "row_values",
]

ObservationKind = Literal["file", "move", "failed", "gone"]
_STREAM_TYPES = frozenset({"audio", "video"})  # what a file's streams decide between


@dataclass(slots=True)
class Observation:
    """A fact about a path, from the indexer, the settler or a reconcile."""

    kind: ObservationKind
    root_id: int
    path: bytes
    job: Job | None = None
    st: StatLike | None = None
    file_hash: str | None = None
    mime_type: str | None = None
    media_type: str = "other"
    move_from_id: int | None = None  # "move": the item found by (dev, inode)
    error_code: str | None = None
    error: str | None = None
    new_path: bool = False  # the reconcile saw no present item at this path


class PathRow(NamedTuple):
    """The item the catalog holds at an observed path."""

    id: int
    path_key: bytes
    file_hash: str | None
    error_code: str | None
    status: str
    media_type: str = "other"


class MovedRow(NamedTuple):
    """The item a "move" observation names (found by dev+inode)."""

    id: int
    file_hash: str | None
    hash_key: int | None
    mime_type: str | None
    media_type: str
    path: str


class MissingRow(NamedTuple):
    """A missing item whose hash an observation brings back."""

    id: int
    file_hash: str
    size: int
    path: str


@dataclass(frozen=True, slots=True)
class Holdings:
    """What the catalog holds for one batch: rows by path, rows by move id, and the missing
    rows with a hash the batch brings (newest missing first)."""

    by_path: Mapping[bytes, PathRow] = field(default_factory=dict)
    moved: Mapping[int, MovedRow] = field(default_factory=dict)
    missing: Sequence[MissingRow] = ()


@dataclass(slots=True)
class Plan:
    """The writes of one batch and what to count and say once they are committed."""

    updates: list[dict[str, Any]] = field(default_factory=list)  # each with "b_id"
    inserts: list[dict[str, Any]] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)  # items whose metadata is extracted again
    changes: list[dict[str, Any]] = field(default_factory=list)  # change-log rows (updates)
    indexed: int = 0
    moved: int = 0
    restored: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (path, code, message)
    logs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (event, fields)
    irregular: bool = False  # a failed item may now exist


def latest_by_path(observations: Iterable[Observation]) -> dict[bytes, Observation]:
    """The last word on each path, in the order of those last words."""
    latest: dict[bytes, Observation] = {}
    for obs in observations:
        latest.pop(obs.path, None)
        latest[obs.path] = obs
    return latest


def move_ids(latest: Mapping[bytes, Observation], by_path: Mapping[bytes, Any]) -> list[int]:
    """The items to look up by id: moves onto paths the catalog does not hold."""
    return [o.move_from_id for o in latest.values() if o.path not in by_path and o.move_from_id]


def restore_keys(latest: Mapping[bytes, Observation], by_path: Mapping[bytes, Any]) -> list[int]:
    """The hash keys to look up among missing items: new paths with new bytes."""
    keys = {
        hash_key(o.file_hash)
        for o in latest.values()
        if o.path not in by_path and o.file_hash and o.kind == "file"
    }
    return sorted(keys)


def row_values(
    obs: Observation, now: datetime, kind: ObservationKind | None = None
) -> dict[str, Any]:
    """The media_items columns an observation sets (``kind`` overrides the observation's).
    A failed or moved item keeps its hash: those keys are left out."""
    kind = kind or obs.kind
    st = obs.st
    assert st is not None, "file, move and failed observations carry the lstat"
    values: dict[str, Any] = {
        "root_id": obs.root_id,
        "path_key": obs.path,
        "path": display_path(obs.path),
        "name": display_path(os.path.basename(obs.path)),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "dev": st.st_dev,
        "inode": st.st_ino,
        "status": "failed" if kind == "failed" else "present",
        "error_code": obs.error_code,
        "error": obs.error,
        "updated_at": now,
        "missing_since": None,
    }
    if kind == "failed":
        values["mime_type"] = obs.mime_type
        values["media_type"] = obs.media_type
    elif kind == "file":
        values["file_hash"] = obs.file_hash
        values["hash_key"] = hash_key(obs.file_hash) if obs.file_hash else None
        values["mime_type"] = obs.mime_type
        values["media_type"] = obs.media_type
    return values


def _update_kind(kind: ObservationKind, obs: Observation, existing: PathRow) -> str | None:
    """The change log's word for an update of the item already at this path (None: the
    same bytes seen again, not a change anyone follows)."""
    if kind == "failed":
        return None if existing.status == "failed" else "failed"
    if existing.status == "missing":
        return "restored"
    if existing.status == "failed" or existing.file_hash != obs.file_hash:
        return "changed"
    return None


class _Planner:
    """One batch's decisions; ``claimed`` holds the items some path of the batch took."""

    def __init__(self, held: Holdings, now: datetime) -> None:
        self.held = held
        self.now = now
        self.out = Plan()
        self.claimed: set[int] = {r.id for r in held.by_path.values()}
        self.missing: dict[tuple[str, int], list[MissingRow]] = {}
        for row in held.missing:
            self.missing.setdefault((row.file_hash, row.size), []).append(row)

    def change(self, kind: str, item_id: int, path: str, old_path: str | None = None) -> None:
        self.out.changes.append(
            {"at": self.now, "kind": kind, "item_id": item_id, "path": path, "old_path": old_path}
        )

    def insert(self, values: dict[str, Any]) -> None:
        # Every insert names every column: executemany needs one key set.
        self.out.inserts.append(
            {"file_hash": None, "hash_key": None, **values, "created_at": self.now}
        )

    def at_known_path(self, obs: Observation, existing: PathRow) -> None:
        # A move onto a path the catalog holds (say, a missing item there): the path's own
        # item wins; the moved item's old path is marked missing when it is seen gone.
        kind: ObservationKind = "file" if obs.kind == "move" else obs.kind
        values = row_values(obs, self.now, kind)
        if (
            kind == "file"
            and existing.file_hash == obs.file_hash
            and {existing.media_type, obs.media_type} <= _STREAM_TYPES
        ):
            # The same bytes: the type the metadata stage read from the streams holds
            # (the hasher's sniff cannot tell an MPEG-TS of sound alone from a video).
            values["media_type"] = existing.media_type
        self.out.updates.append({"b_id": existing.id, **values})
        if kind == "file" and (
            existing.file_hash != obs.file_hash or existing.error_code is not None
        ):
            self.out.stale.append(existing.id)  # new content, or a failed file that changed
        word = _update_kind(kind, obs, existing)
        if word:
            self.change(word, existing.id, values["path"])

    def move(self, obs: Observation, values: dict[str, Any]) -> None:
        row = self.held.moved.get(obs.move_from_id) if obs.move_from_id is not None else None
        if row is None:
            # The item was purged between the lookup and now: without a hash this path is
            # recorded as failed, and the next reconcile (which retries failed items) indexes it.
            values.update(
                mime_type=None,
                media_type="other",
                status="failed",
                error_code="retry",
                error="the moved item vanished; indexed again at the next reconcile",
            )
            self.out.irregular = True
            self.insert(values)
            return
        # Same inode, same bytes: the item's hash and type hold for this path too.
        values.update(
            file_hash=row.file_hash,
            hash_key=row.hash_key,
            mime_type=row.mime_type,
            media_type=row.media_type,
        )
        if row.id in self.claimed:
            # Two new paths share the old inode (hard links): the first takes the item, this
            # one becomes an item of its own.
            self.insert(values)
            return
        self.claimed.add(row.id)
        self.out.updates.append({"b_id": row.id, **values})
        self.change("moved", row.id, values["path"], row.path)
        self.out.moved += 1
        self.out.logs.append(("moved", {"item": row.id, "to": values["path"]}))

    def restore(self, obs: Observation, values: dict[str, Any]) -> bool:
        """The same bytes (hash and size) as a missing item: that item comes back here."""
        if not (self.missing and obs.file_hash and obs.st is not None):
            return False
        candidates = self.missing.get((obs.file_hash, obs.st.st_size), [])
        row = next((c for c in candidates if c.id not in self.claimed), None)
        if row is None:
            return False
        self.claimed.add(row.id)
        self.out.updates.append({"b_id": row.id, **values})
        self.change("restored", row.id, values["path"], row.path)
        self.out.restored += 1
        self.out.logs.append(("restored", {"item": row.id, "path": values["path"]}))
        return True

    def count(self, obs: Observation) -> None:
        if obs.kind == "failed":
            self.out.irregular = True
            self.out.failed.append(
                (display_path(obs.path), obs.error_code or "error", obs.error or "")
            )
        else:
            self.out.indexed += 1


def plan(latest: Mapping[bytes, Observation], held: Holdings, now: datetime) -> Plan:
    """Decide the writes for ``latest`` (file, move and failed observations, one per path,
    see ``latest_by_path``) against what the catalog holds. Pure: no I/O, and neither the
    observations nor the holdings are changed."""
    planner = _Planner(held, now)
    for path, obs in latest.items():
        existing = held.by_path.get(path)
        if existing is not None:
            planner.at_known_path(obs, existing)
        elif obs.kind == "move":
            planner.move(obs, row_values(obs, now))
        else:
            values = row_values(obs, now)
            if not planner.restore(obs, values):
                planner.insert(values)
        planner.count(obs)
    return planner.out
