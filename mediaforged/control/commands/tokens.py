"""``token.create``, ``token.list``, ``token.revoke``: the HTTP API's tokens.

Only a hash of each token is kept (catalog/tokens.py); ``token.create`` returns the token
once, and nothing can show it again. A revoked token is refused at the next request.
"""

from __future__ import annotations

from typing import Any

import structlog

from mediaforged.catalog.outage import CatalogUnwritable
from mediaforged.catalog.tokens import TOKEN_SCOPES, TokenExists
from mediaforged.control.context import Context, Progress, Spec, arg, iso
from mediaforged.protocol import ErrorCode, ProtocolError
from mediaforged.protocol.queries import TokenCreateReply, TokenListReply, TokenRevokeReply

__all__ = ["COMMANDS"]

log = structlog.get_logger("mediaforged.commands")

_MAX_NAME = 100


def _name(args: dict[str, Any]) -> str:
    value = arg(args, "name", str)
    if value is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "name is required")
    value = value.strip()
    if not value or len(value) > _MAX_NAME or not value.isprintable():
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"name must be 1 to {_MAX_NAME} printable characters"
        )
    return str(value)


async def token_create(ctx: Context, args: dict[str, Any], progress: Progress) -> TokenCreateReply:
    """A new token for the HTTP API, shown this once."""
    name = _name(args)
    scope = arg(args, "scope", str, "read")
    if scope not in TOKEN_SCOPES:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"scope must be one of {', '.join(TOKEN_SCOPES)}, got {scope!r}"
        )
    try:
        token = await ctx.tokens.create(ctx.writer, name, scope)
    except TokenExists:
        raise ProtocolError(
            ErrorCode.CONFLICT, f"a token named {name!r} exists already (revoke it first)"
        ) from None
    except CatalogUnwritable as exc:
        raise ProtocolError(ErrorCode.CATALOG_FULL, str(exc)) from None
    log.info("token_created", name=name, scope=scope)
    return {"name": name, "scope": scope, "token": token}


async def token_list(ctx: Context, args: dict[str, Any], progress: Progress) -> TokenListReply:
    rows = await ctx.tokens.list(ctx.engine)
    return {
        "tokens": [
            {
                "name": r["name"],
                "scope": r["scope"],
                "created_at": iso(r["created_at"]) or "",
                "last_used_at": iso(r["last_used_at"]),
            }
            for r in rows
        ]
    }


async def token_revoke(ctx: Context, args: dict[str, Any], progress: Progress) -> TokenRevokeReply:
    name = _name(args)
    try:
        found = await ctx.tokens.revoke(ctx.writer, name)
    except CatalogUnwritable as exc:
        raise ProtocolError(ErrorCode.CATALOG_FULL, str(exc)) from None
    if not found:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no token named {name!r} (see token list)")
    log.info("token_revoked", name=name)
    return {"name": name, "revoked": True}


COMMANDS: dict[str, Spec] = {
    "token.create": Spec(token_create, ("name", "scope"), changes=True),
    "token.list": Spec(token_list),
    "token.revoke": Spec(token_revoke, ("name",), changes=True),
}
