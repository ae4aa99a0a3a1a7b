"""Who is calling: a token in ``Authorization: Bearer``, or the session cookie set by
``POST /api/v1/login``; read tokens may not change anything; failed logins are rate-limited
per client address.

A cookie is sent by the browser to any request for this host, even one a hostile page makes
it send: so a request with the cookie that changes things must also carry a same-origin
header (``Origin`` or ``Referer`` naming this host, or ``X-Requested-With``, which a page
elsewhere cannot add without a CORS permission we never give). SameSite=Strict is the
first line of that defence, this the second.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mediaforged.catalog.tokens import TokenInfo
from mediaforged.control.context import Context
from mediaforged.http.errors import RATE_LIMITED, UNAUTHORIZED, HttpError
from mediaforged.protocol import ErrorCode

__all__ = ["COOKIE", "Caller", "LoginLimiter", "authenticate", "same_origin"]

COOKIE = "mediaforge_session"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class Caller:
    token: TokenInfo
    cookie: bool  # authenticated by the session cookie (a browser), not a header


class LoginLimiter:
    """At most ``attempts`` failed logins per client address in ``window`` seconds; the
    addresses tracked are bounded too (the oldest forgotten first)."""

    def __init__(self, attempts: int = 5, window: float = 60.0, addresses: int = 10000) -> None:
        self._attempts = attempts
        self._window = window
        self._max = addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        now = time.monotonic()
        while failures and now - failures[0] > self._window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> float | None:
        """Seconds until this address may try again, or None if it may now."""
        failures = self._recent(address)
        if len(failures) < self._attempts:
            return None
        return max(self._window - (time.monotonic() - failures[0]), 1.0)

    def failed(self, address: str) -> None:
        failures = self._failures.setdefault(address, deque())
        self._failures.move_to_end(address)
        failures.append(time.monotonic())
        while len(failures) > self._attempts:
            failures.popleft()
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    def check(self, address: str) -> None:
        wait = self.retry_after(address)
        if wait is not None:
            raise HttpError(
                RATE_LIMITED,
                f"too many failed logins from {address}: try again in {wait:.0f}s",
                {"Retry-After": str(int(wait + 0.999))},
            )


def same_origin(headers: Mapping[str, str]) -> bool:
    """Whether the request says it comes from a page of this very host."""
    if headers.get("x-requested-with"):
        return True
    host = headers.get("host", "")
    source = headers.get("origin") or headers.get("referer")
    if not source or source == "null" or not host:
        return False
    return urlsplit(source).netloc.lower() == host.lower()


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(
            UNAUTHORIZED,
            "Authorization must be `Bearer TOKEN`",
            {"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


async def authenticate(
    ctx: Context,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    method: str,
    admin: bool,
) -> Caller:
    """The caller of a request that needs a token (``admin``: one that may change things)."""
    token = _bearer(headers)
    cookie = token is None
    if token is None:
        token = cookies.get(COOKIE)
    if not token:
        raise HttpError(
            UNAUTHORIZED,
            "a token is needed: `Authorization: Bearer TOKEN` (mediaforgectl token create), "
            "or log in (POST /api/v1/login)",
            {"WWW-Authenticate": "Bearer"},
        )
    info = await ctx.tokens.check(ctx.engine, ctx.writer, token)
    if info is None:
        raise HttpError(
            UNAUTHORIZED,
            "this token is not valid (revoked, or never made here): see mediaforgectl token list",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if admin and not info.admin:
        raise HttpError(
            ErrorCode.FORBIDDEN,
            f"token {info.name!r} may only read ({info.scope} scope): this changes things and "
            "needs an admin token",
        )
    if cookie and method not in _SAFE_METHODS and not same_origin(headers):
        raise HttpError(
            ErrorCode.FORBIDDEN,
            "a request with the session cookie that changes things must come from this site: "
            "send an Origin or Referer of this host, or an X-Requested-With header",
        )
    return Caller(info, cookie)
