"""Error replies over HTTP: each ``ErrorCode`` has one HTTP status (``STATUS``), and the body
is the socket's error object, ``{"ok": false, "error": {"code", "message"}}``."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from typing_extensions import TypedDict

from mediaforged.protocol import ErrorCode

__all__ = [
    "RANGE_NOT_SATISFIABLE",
    "RATE_LIMITED",
    "STATUS",
    "UNAUTHORIZED",
    "ErrorBody",
    "HttpError",
    "JsonResponse",
    "error_response",
]

UNAUTHORIZED = "unauthorized"  # HTTP only: no token, or one that is wrong or revoked
RATE_LIMITED = "rate_limited"  # HTTP only: too many failed logins from this address
RANGE_NOT_SATISFIABLE = "range_not_satisfiable"  # HTTP only: a Range past the file's end

STATUS: dict[str, int] = {
    ErrorCode.BAD_JSON: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNKNOWN_COMMAND: 404,
    ErrorCode.NOT_IN_LIBRARY: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.BUSY: 503,
    ErrorCode.IDLE_TIMEOUT: 408,
    ErrorCode.UNSUPPORTED_PROTOCOL: 400,
    ErrorCode.TOO_SLOW: 429,
    ErrorCode.CURSOR_EXPIRED: 410,
    ErrorCode.CANCELLED: 409,
    ErrorCode.CATALOG_FULL: 507,
    ErrorCode.UNREACHABLE: 504,
    ErrorCode.INTERNAL: 500,
    UNAUTHORIZED: 401,
    RATE_LIMITED: 429,
    RANGE_NOT_SATISFIABLE: 416,
}


class ErrorDetail(TypedDict):
    code: str
    message: str


class ErrorBody(TypedDict):
    """Every error reply: the socket's stable code and a sentence."""

    ok: bool
    error: ErrorDetail


class HttpError(Exception):
    """Raised by the HTTP layer itself (auth, ranges); rendered like a command's error."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


class JsonResponse(JSONResponse):
    """JSON as the socket writes it: plain ASCII whatever the file names hold (a name that is
    not UTF-8 reaches the reply as surrogate escapes, which UTF-8 cannot encode)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    body = {"ok": False, "error": {"code": code, "message": message}}
    return JsonResponse(body, status_code=STATUS.get(code, 400), headers=headers)
