"""mediaforgectl's ``token`` commands: the HTTP API's tokens (create, list, revoke)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from mediaforged.cli.client import JsonOption, call, err, out, print_json, safe
from mediaforged.protocol.queries import TokenCreateReply, TokenListReply

__all__ = ["token_app"]

token_app = typer.Typer(
    help="Tokens for the HTTP API (only a hash of each is kept; a token is shown once).",
    no_args_is_help=True,
)


class Scope(StrEnum):
    READ = "read"
    ADMIN = "admin"


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. laptop or grafana.")],
    scope: Annotated[
        Scope, typer.Option("--scope", help="read: read everything; admin: also change things.")
    ] = Scope.READ,
    as_json: JsonOption = False,
) -> None:
    """Make a token and print it, this once (keep it: it cannot be shown again)."""
    data: TokenCreateReply = call("token.create", {"name": name, "scope": scope.value})
    if as_json:
        print_json(data)
        return
    sys.stdout.write(data["token"] + "\n")
    err.print(f"token {data['name']!r} ({data['scope']}): shown once, keep it safe")


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """Every token: name, scope, when it was made and last used (never the token)."""
    data: TokenListReply = call("token.list")
    if as_json:
        print_json(data)
        return
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold underline")
    for column in ("name", "scope", "created", "last used"):
        table.add_column(column)
    for t in data["tokens"]:
        table.add_row(safe(t["name"]), t["scope"], t["created_at"], t["last_used_at"] or "never")
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name (token list).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: it is refused from the next request on."""
    data = call("token.revoke", {"name": name})
    if as_json:
        print_json(data)
    else:
        out.print(f"revoked token {data['name']}")
