"""The control protocol, shared by the daemon and mediaforgectl: one JSON object per line.

docs/protocol.md describes every command; in short:

server, on connect:  {"hello": "mediaforged", "version": "0.1.0", "protocol": 1, "access": "full"}
client:              {"id": 1, "cmd": "rescan", "args": {"path": "/srv/media/Photos"}}
server, while busy:  {"id": 1, "progress": {...}}
server, finally:     {"id": 1, "ok": true, "result": {...}}
                  or {"id": 1, "ok": false, "error": {"code": "not_in_library", "message": "..."}}

The replies are described once, below, as ``TypedDict``s: the commands return them and
mediaforgectl reads them through them, so the two cannot drift. The states they carry are
``StrEnum``s: a member is a ``str``, so the JSON holds its plain value.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired[...] from the real
# annotation at run time (a string hides it, and every key would count as required).
import json
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "MAX_LINE",
    "PROTOCOL_VERSION",
    "CancelReply",
    "CatalogStatus",
    "ConfirmReply",
    "ErrorCode",
    "ErrorsStatus",
    "HelloReply",
    "InotifyUsage",
    "ItemStatus",
    "JobKind",
    "JobProgress",
    "JobStatus",
    "JobsProgress",
    "LastReconcile",
    "MetadataStatus",
    "PauseReply",
    "PendingStatus",
    "Phase",
    "PingReply",
    "ProtocolError",
    "RecentError",
    "ReloadReply",
    "RescanReply",
    "ResumeReply",
    "RootStatus",
    "StatusReply",
    "ThumbnailStatus",
    "Totals",
    "WatchMode",
    "WatchState",
    "decode_reply",
    "decode_request",
    "encode",
    "error_reply",
    "hello_line",
    "ok_reply",
    "progress_line",
    "watch_state",
]

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20  # 1 MiB: a request is small; a longer line is hostile or broken


class ErrorCode:
    """Stable error codes: scripts match on these, so they never change meaning."""

    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    UNKNOWN_COMMAND = "unknown_command"
    NOT_IN_LIBRARY = "not_in_library"  # a path outside every root
    NOT_FOUND = "not_found"  # no such item, tag or collection
    CONFLICT = "conflict"  # e.g. a collection of that name exists already
    FORBIDDEN = "forbidden"  # the peer may only query (control_users / control_groups)
    BUSY = "busy"  # too many connections at once (control_max_clients)
    IDLE_TIMEOUT = "idle_timeout"  # the connection was silent too long; it is closed
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"  # hello asked for a protocol we do not speak
    TOO_SLOW = "too_slow"  # an event subscriber fell too far behind; it is cut off
    CURSOR_EXPIRED = "cursor_expired"  # the events after that cursor were pruned
    CANCELLED = "cancelled"  # the operation was cancelled (cancel, or the daemon stopping)
    # The catalog cannot be written now (its disk is full; also read-only or failing, the
    # message says which): the change was refused at once and is never made later.
    CATALOG_FULL = "catalog_full"
    UNREACHABLE = "unreachable"  # the root's file system did not answer in time (a hung mount)
    INTERNAL = "internal"


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id  # the request's id when it could be read


def encode(message: dict[str, Any]) -> bytes:
    # ensure_ascii keeps every line plain ASCII whatever the file names hold.
    return json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def ok_reply(request_id: Any, result: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": result}


def error_reply(request_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}


def progress_line(request_id: Any, progress: dict[str, Any]) -> dict[str, Any]:
    return {"id": request_id, "progress": progress}


def hello_line(version: str, access: str) -> dict[str, Any]:
    # access: "full", or "read-only" when this peer may not run commands that change things
    return {
        "hello": "mediaforged",
        "version": version,
        "protocol": PROTOCOL_VERSION,
        "access": access,
    }


def decode_reply(line: bytes) -> dict[str, Any]:
    """A line from the daemon (hello, progress, event or reply); ValueError if it is not one."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"not a JSON object: {line[:80]!r}")  # noqa: TRY004 - json's own error type
    return message


def decode_request(line: bytes) -> tuple[Any, str, dict[str, Any]]:
    """(id, cmd, args) of a request line, or ProtocolError saying what is wrong with it."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not a JSON object: {exc}") from None
    except RecursionError:  # "[" * 400_000 fits in MAX_LINE; no request nests that deep
        raise ProtocolError(ErrorCode.BAD_JSON, "JSON nested too deeply") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a request is a JSON object")
    request_id = message.get("id")
    if request_id is not None and not isinstance(request_id, (int, str)):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "id must be a number or a string")
    cmd = message.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, "cmd must be a string naming a command", request_id
        )
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "args must be a JSON object", request_id)
    return request_id, cmd, args


# The states the replies carry. The daemon's state (state.py) holds these very values.


class Phase(StrEnum):
    """What the daemon as a whole is doing (status ``state``, or ``paused``)."""

    STARTING = "starting"
    SCANNING = "scanning"  # the startup reconcile of every root
    WATCHING = "watching"
    IDLE = "idle"  # up, not watching (watch = false): only reconciles find changes
    STOPPING = "stopping"


class WatchMode(StrEnum):
    """How a root is to be watched (chosen per root: a remote mount is polled)."""

    INOTIFY = "inotify"
    POLL = "poll"


class WatchState(StrEnum):
    """How a root is watched right now; status shows FAILED as ``failed: why``."""

    OFF = "off"
    INOTIFY = "inotify"
    POLL = "poll"
    FAILED = "failed"


def watch_state(shown: str) -> WatchState | None:
    """The state in status' ``watch`` (``failed: why`` carries a reason); None if unknown."""
    try:
        return WatchState(shown.split(":", 1)[0])
    except ValueError:
        return None


class JobKind(StrEnum):
    """Why a reconcile job runs."""

    STARTUP = "startup"
    PERIODIC = "periodic"
    QUICK = "quick"  # only the folders whose mtime moved
    POLL = "poll"  # a polled root's regular quick reconcile
    RECHECK = "recheck"  # is an offline root back?
    RESCAN = "rescan"
    CONFIRM = "confirm"
    RETRY = "retry"
    MARKER = "marker"  # a folder gained or lost its .mediaforgeignore
    WATCH_DIR = "watch-dir"  # a new folder, seen by the watch
    WATCH_ROOT = "watch-root"  # the root itself was removed or replaced
    WATCH_ERROR = "watch-error"  # what changed while the watch was down


class ItemStatus(StrEnum):
    """A catalogued file's status (status ``by_status`` keys, search ``status``)."""

    PRESENT = "present"
    MISSING = "missing"
    FAILED = "failed"


# Replies, by command. Key order is the order on the wire.


class JobProgress(TypedDict):
    """One reconcile or rescan job (progress lines, rescan, cancel, confirm, retry)."""

    job: int
    kind: JobKind
    root: str
    path: str
    walked: int
    queued: int
    done: int
    failed: int
    gone: int
    dropped: int
    walk_finished: bool
    complete: bool
    cancelled: bool
    elapsed_s: float
    rate_per_s: float | None


class JobStatus(JobProgress):
    """A job in status: with the seconds left, once its walk has counted the work."""

    eta_s: float | None


class JobsProgress(TypedDict):
    """The progress line of rescan, confirm and retry."""

    jobs: list[JobProgress]


class LastReconcile(TypedDict):
    at: float | None  # epoch seconds
    duration_s: float | None
    files: int | None


class RootStatus(TypedDict):
    path: str
    online: bool
    offline_reason: str | None
    watch: str  # a WatchState; "failed: why" when it failed
    watch_mode: WatchMode
    watch_mode_reason: str
    watch_fallback: str | None  # why inotify gave way to polling, and the fix
    watch_folders: int
    unwatched_folders: int
    watch_restarts: int
    overflows: int  # kernel event queue overflows (reported or suspected), each caught up
    paused: bool
    held: str | None  # why the mass-missing guard held the last reconcile back
    held_missing: int
    last_quick_check_at: float | None
    last_event_at: float | None
    last_reconcile: LastReconcile
    items: int
    by_media_type: dict[str, int]  # present items only
    by_status: dict[str, int]  # ItemStatus -> count


class CatalogStatus(TypedDict):
    url: str
    counted_at: float | None  # when the item counts were taken (epoch seconds)
    bytes: int | None  # the SQLite files' size
    problem: str | None  # why the catalog cannot be written right now


class InotifyUsage(TypedDict):
    watches: int | None
    limit: int | None


class PendingStatus(TypedDict):
    settling: int
    index_queue: int
    indexing: int
    write_queue: int
    reconciles_queued: int
    metadata: int
    thumbnails: int


class MetadataStatus(TypedDict):
    idle: bool  # exact: wait for this, not for pending.metadata == 0
    extracted: int
    failed: int
    failed_items: int


class ThumbnailStatus(TypedDict):
    enabled: bool
    idle: bool
    made: int
    shared: int
    failed: int
    removed: int


class Totals(TypedDict):
    """Counters since the daemon started."""

    indexed: int
    hashed_bytes: int
    unchanged: int
    moved: int
    marked_missing: int
    purged: int
    failed: int
    commits: int


class RecentError(TypedDict):
    at: float
    path: str
    code: str
    message: str


class ErrorsStatus(TypedDict):
    failed_items: int
    recent: list[RecentError]


class StatusReply(TypedDict):
    state: Phase | Literal["paused"]
    version: str
    pid: int
    uptime_s: float
    config_file: str | None
    catalog: CatalogStatus
    roots: list[RootStatus]
    inotify: InotifyUsage
    pending: PendingStatus
    metadata: MetadataStatus
    thumbnails: ThumbnailStatus
    jobs: list[JobStatus]
    totals: Totals
    errors: ErrorsStatus


class RescanReply(TypedDict):
    jobs: list[JobProgress]
    errors: list[str]


class CancelReply(TypedDict):
    cancelled: list[JobProgress]


class PauseReply(TypedDict):
    paused: NotRequired[list[str]]  # one root paused: every paused root
    state: NotRequired[Literal["paused"]]  # all paused


class ResumeReply(TypedDict):
    state: Phase
    paused: list[str]  # roots still paused


class ConfirmReply(TypedDict):
    root: str
    confirmed: bool
    reason: NotRequired[str]  # not confirmed: why
    missing: NotRequired[int]  # confirmed: files marked missing
    held: NotRequired[int]  # confirmed: files the guard had held back


class ReloadReply(TypedDict):
    ok: Literal[True]
    roots_added: list[str]
    roots_removed: list[str]
    watch_restarted: list[str]
    needs_restart: list[str]  # settings that only a restart applies


class PingReply(TypedDict):
    pong: Literal[True]
    version: str
    protocol: int


class HelloReply(TypedDict):
    server: Literal["mediaforged"]
    version: str
    protocol: int
    commands: list[str]
