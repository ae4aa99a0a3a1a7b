"""HTTP API tokens: made, listed, revoked and checked, with only their SHA-256 in the catalog.

A token is 32 random bytes (``mf_`` + base64url): high entropy, so a plain SHA-256 is all the
catalog needs to recognise it, and a stolen catalog gives no token away. Checking a token is
on every HTTP request, so the ones seen are kept in memory by hash; a revoke drops its entry
at once (the daemon is the only one that changes tokens). The time a token was last used is
written at most once a minute (through the writer, not on the request's path).

Writes go through the single writer (``writer.transaction``); reads use their own connection.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediaforged.catalog.schema import TOKEN_SCOPES, api_tokens
from mediaforged.catalog.writer import CatalogWriter

__all__ = ["TOKEN_PREFIX", "TOKEN_SCOPES", "TokenExists", "TokenInfo", "TokenStore", "hash_token"]

TOKEN_PREFIX = "mf_"
_LAST_USED_EVERY_S = 60.0  # last_used_at is written at most this often per token
_CACHE_MAX = 1024

t = api_tokens.c


class TokenExists(Exception):
    """A token of that name exists already."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the catalog keeps naive UTC


@dataclass(slots=True)
class TokenInfo:
    """What a request's token may do."""

    id: int
    name: str
    scope: str
    last_used: float | None = None  # epoch seconds, as seen in memory
    written: float = 0.0  # monotonic time last_used_at was last written

    @property
    def admin(self) -> bool:
        return self.scope == "admin"


@dataclass
class TokenStore:
    """The tokens seen lately, by hash (a revoke forgets its entry at once)."""

    _known: dict[str, TokenInfo] = field(default_factory=dict)

    async def create(self, writer: CatalogWriter, name: str, scope: str) -> str:
        """A new token (returned once, never stored); TokenExists if the name is taken."""
        if scope not in TOKEN_SCOPES:
            raise ValueError(f"scope must be one of {', '.join(TOKEN_SCOPES)}, got {scope!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {"name": name, "scope": scope, "token_hash": hash_token(token)}

        async def write(conn: AsyncConnection) -> None:
            if await conn.scalar(select(t.id).where(t.name == name)) is not None:
                raise TokenExists(name)
            await conn.execute(insert(api_tokens).values(**row, created_at=_now()))

        try:
            await writer.transaction(write, durable=True, recount=False)
        except IntegrityError:  # the same name, made at the same moment by another request
            raise TokenExists(name) from None
        return token

    async def revoke(self, writer: CatalogWriter, name: str) -> bool:
        """Delete the token called ``name``; False if there is none. Effective at once."""

        async def write(conn: AsyncConnection) -> int:
            return max((await conn.execute(delete(api_tokens).where(t.name == name))).rowcount, 0)

        removed = await writer.transaction(write, durable=True, recount=False)
        for key, info in list(self._known.items()):
            if info.name == name:
                del self._known[key]
        return removed > 0

    async def list(self, engine: AsyncEngine) -> list[dict[str, Any]]:
        """Every token: id, name, scope, created_at, last_used_at (naive UTC datetimes)."""
        async with engine.connect() as conn:
            rows = list(
                await conn.execute(
                    select(t.id, t.name, t.scope, t.created_at, t.last_used_at).order_by(t.name)
                )
            )
        seen = {info.id: info.last_used for info in self._known.values()}
        out = []
        for row in rows:
            last = row.last_used_at
            fresh = seen.get(row.id)
            if fresh is not None:  # newer than the catalog's (written once a minute)
                last = datetime.fromtimestamp(fresh, UTC).replace(tzinfo=None)
            out.append({**row._mapping, "last_used_at": last})
        return out

    async def any(self, engine: AsyncEngine) -> bool:
        async with engine.connect() as conn:
            return await conn.scalar(select(t.id).limit(1)) is not None

    async def check(
        self, engine: AsyncEngine, writer: CatalogWriter, token: str
    ) -> TokenInfo | None:
        """The token's name and scope, or None if no such token exists (any more)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        key = hash_token(token)
        info = self._known.get(key)
        if info is None:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(select(t.id, t.name, t.scope).where(t.token_hash == key))
                ).first()
            if row is None:
                return None
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            info = self._known[key] = TokenInfo(row.id, row.name, row.scope)
        info.last_used = time.time()
        if time.monotonic() - info.written >= _LAST_USED_EVERY_S:
            info.written = time.monotonic()
            used = datetime.fromtimestamp(info.last_used, UTC).replace(tzinfo=None)
            stmt = update(api_tokens).where(t.id == info.id).values(last_used_at=used)

            async def write(conn: AsyncConnection) -> None:
                await conn.execute(stmt)

            await writer.submit(write, recount=False)
        return info
