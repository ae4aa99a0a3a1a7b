"""What every control command gets: the daemon's parts (``Context``), its arguments checked
against a declared list (``Spec``), and a ``progress`` callback for streaming lines."""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from mediaforged.catalog.tokens import TokenStore
from mediaforged.config import Config
from mediaforged.protocol import ErrorCode, ProtocolError
from mediaforged.state import DaemonState, Job, RootState

if TYPE_CHECKING:
    from mediaforged.catalog.events import EventHub
    from mediaforged.catalog.writer import CatalogWriter
    from mediaforged.control.commands.status import StatusCache
    from mediaforged.metrics import Metrics
    from mediaforged.notify.manager import Notify
    from mediaforged.pipeline.indexer import Indexer
    from mediaforged.pipeline.metadata import MetadataStage
    from mediaforged.pipeline.settle import Settler
    from mediaforged.pipeline.similar import SignatureStage
    from mediaforged.pipeline.thumbnails import ThumbnailStage
    from mediaforged.pipeline.verify import VerifyStage
    from mediaforged.sources.reconcile import Reconciler

__all__ = [
    "Command",
    "Context",
    "Progress",
    "Spec",
    "abs_path",
    "arg",
    "follow_jobs",
    "iso",
    "jsonable",
    "path_arg",
    "str_list",
    "taken_iso",
]


class Progress(Protocol):
    """Sends a line for the request before its reply: ``{"id": ..., key: data}``
    (``progress`` for long operations, ``event`` for the change log)."""

    async def __call__(self, data: dict[str, Any], key: str = "progress") -> None: ...


Command = Callable[["Context", dict[str, Any], Progress], Awaitable[Any]]


class Reloadable(Protocol):
    """The daemon's reloader: the config in force, and a call that re-reads and applies it
    (SIGHUP and the ``reload`` command)."""

    config: Config

    async def __call__(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Context:
    """The daemon's parts as the commands see them, made once by ``daemon.run.build``."""

    reloader: Reloadable
    state: DaemonState
    engine: AsyncEngine
    writer: CatalogWriter
    indexer: Indexer
    reconciler: Reconciler
    settler: Settler
    metadata: MetadataStage
    thumbnails: ThumbnailStage | None  # None: thumbnails are off
    events: EventHub
    status_cache: StatusCache
    metrics: Metrics  # the Prometheus series: ``await metrics.render(ctx)``
    tokens: TokenStore = field(default_factory=TokenStore)  # the HTTP API's (token.*)
    notify: Notify | None = None  # the targets and plugins (None: a Context without them)
    similar: SignatureStage | None = None  # the signature stage (duplicate tiers, similar)
    verifier: VerifyStage | None = None  # the damage check (None only in a bare Context)

    @property
    def config(self) -> Config:
        """The config in force: a reload replaces it."""
        return self.reloader.config

    def thumbnail_of(self, file_hash: str | None, thumb_status: str | None) -> str | None:
        """The absolute path of an item's thumbnail (info, search); None when it has none:
        not made yet, nothing to show, failed, or thumbnails are off."""
        if self.thumbnails is None or not file_hash or thumb_status != "ok":
            return None
        return str(self.thumbnails.path_of(file_hash))


@dataclass(frozen=True)
class Spec:
    """A command: its function, the argument names it takes, and whether it changes things
    (only trusted peers may run those; see access.py)."""

    fn: Command
    args: tuple[str, ...] = ()
    changes: bool = False
    streams: bool = False  # sends progress or event lines before its reply


_KINDS: dict[type, str] = {
    str: "a string",
    bool: "true or false",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def arg(args: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """``args[name]`` if it has the right JSON type (else bad_request), or ``default``."""
    value = args.get(name, default)
    if value is None:
        return value
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} must be {_KINDS.get(kind, kind)}")
    if kind is int and not -(1 << 63) <= value < 1 << 63:  # SQL's BIGINT: beyond, `internal`
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} is out of range")
    return value


def str_list(args: dict[str, Any], name: str) -> list[str]:
    value = arg(args, name, list, [])
    if not all(isinstance(v, str) for v in value):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} must be a list of strings")
    return list(value)


def abs_path(text: str, name: str = "path") -> bytes:
    """An absolute path from a request, normalised, as bytes (non-UTF-8 names come as
    surrogate escapes); bad_request for what no file name can hold, so it never reaches a
    system call (a NUL byte there raised ValueError: `internal`, and killed a rescan's job)."""
    if not posixpath.isabs(text):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} must be absolute")
    if "\x00" in text:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name} holds a NUL byte: no file name can")
    try:
        return os.fsencode(posixpath.normpath(text))
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"{name} holds a character no file name can (a lone surrogate)"
        ) from None


def path_arg(ctx: Context, text: str, name: str = "path") -> tuple[bytes, RootState]:
    """An absolute path inside a root, as the catalog's bytes key, and its root."""
    path = abs_path(text, name)
    root = ctx.state.root_for(path)
    if root is None:
        shown = ", ".join(str(r.path) for r in ctx.state.roots)
        raise ProtocolError(
            ErrorCode.NOT_IN_LIBRARY, f"{text} is not inside a library root ({shown})"
        )
    return path, root


def iso(value: datetime | None) -> str | None:
    """A catalog timestamp as ISO 8601 UTC (SQLite hands them back naive)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def taken_iso(value: datetime | None, offset: str | None) -> str | None:
    """When a photo or video was taken, as ISO 8601 in the local time where it was taken:
    with its UTC offset when the file gave one (``2021-06-01T12:00:00+02:00``), else as a
    naive local time (``2021-06-01T12:00:00``), which is not UTC and gets no ``Z``.

    The catalog keeps ``taken_at`` as that wall-clock time and the offset beside it in
    ``taken_offset`` (see schema.py)."""
    if value is None:
        return None
    tz = None
    if offset is not None:
        with contextlib.suppress(ValueError):  # a malformed offset: shown without one
            tz = datetime.fromisoformat(f"2000-01-01T00:00:00{offset}").tzinfo
    if value.tzinfo is not None:  # a database that keeps instants hands back aware times
        value = value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)
    return value.replace(tzinfo=tz).isoformat()


def jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A catalog row for a reply: timestamps as ISO text, raw path bytes left out.

    ``taken_at`` is a local time, not UTC: a row that has it must have ``taken_offset``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, bytes):
            continue  # path_key: `path` is its display form
        if key == "taken_at":
            out[key] = taken_iso(value, row["taken_offset"])
        else:
            out[key] = iso(value) if isinstance(value, datetime) else value
    return out


async def follow_jobs(jobs: list[Job], progress: Progress, interval: float = 0.5) -> None:
    """Send the jobs' progress every ``interval`` seconds until all are complete."""
    waiting = asyncio.ensure_future(asyncio.gather(*(j.wait() for j in jobs)))
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=interval)
            if done:
                return
            await progress({"jobs": [j.progress() for j in jobs]})
    finally:
        waiting.cancel()
