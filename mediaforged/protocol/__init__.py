"""The control protocol, shared by the daemon and mediaforgectl: one JSON object per line.

docs/protocol.md describes every command; in short:

server, on connect:  {"hello": "mediaforged", "version": "0.1.0", "protocol": 1, "access": "full"}
client:              {"id": 1, "cmd": "rescan", "args": {"path": "/srv/media/Photos"}}
server, while busy:  {"id": 1, "progress": {...}}
server, finally:     {"id": 1, "ok": true, "result": {...}}
                  or {"id": 1, "ok": false, "error": {"code": "not_in_library", "message": "..."}}

The replies are described once, in ``replies``, as ``TypedDict``s: the commands return them and
mediaforgectl reads them through them, so the two cannot drift. The states they carry are
``StrEnum``s: a member is a ``str``, so the JSON holds its plain value.
"""

from __future__ import annotations

import json
from typing import Any

from mediaforged.protocol.replies import (
    CancelReply,
    CatalogRoot,
    CatalogStatus,
    ConfirmReply,
    ErrorsStatus,
    ForgetReply,
    HelloReply,
    InotifyUsage,
    JobProgress,
    JobsProgress,
    JobStatus,
    LastReconcile,
    MetadataStatus,
    MetricsReply,
    PauseReply,
    PendingStatus,
    PingReply,
    RecentError,
    ReloadReply,
    RescanReply,
    ResumeReply,
    RootsReply,
    RootStatus,
    StatusReply,
    ThumbnailStatus,
    Totals,
    VerifyResult,
    VerifyStatus,
)
from mediaforged.protocol.states import (
    ItemStatus,
    JobKind,
    Phase,
    WatchMode,
    WatchState,
    watch_state,
)

__all__ = [
    "MAX_LINE",
    "PROTOCOL_VERSION",
    "CancelReply",
    "CatalogRoot",
    "CatalogStatus",
    "ConfirmReply",
    "ErrorCode",
    "ErrorsStatus",
    "ForgetReply",
    "HelloReply",
    "InotifyUsage",
    "ItemStatus",
    "JobKind",
    "JobProgress",
    "JobStatus",
    "JobsProgress",
    "LastReconcile",
    "MetadataStatus",
    "MetricsReply",
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
    "RootsReply",
    "StatusReply",
    "ThumbnailStatus",
    "Totals",
    "VerifyResult",
    "VerifyStatus",
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
