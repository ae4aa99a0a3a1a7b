"""``mediaforgectl roots``: every root the catalog knows (configured or removed from the
config, with their items and bytes), and ``roots forget ROOT`` to drop a removed one;
``mediaforgectl folders [PATH]``: a folder's sub-folders with their counts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from mediaforged.cli.client import EXIT_USAGE, JsonOption, call, err, out, print_json, safe
from mediaforged.cli.query import query_app, size_text
from mediaforged.cli.tables import print_rows, summary
from mediaforged.protocol import CatalogRoot, ForgetReply, ItemStatus, RootsReply
from mediaforged.protocol.queries import FoldersReply

__all__ = ["folders", "roots_app"]

roots_app = typer.Typer(
    help="The library roots the catalog knows: configured (online or offline) and removed "
    "from the config (their items are offline); `roots forget ROOT` drops a removed one.",
    invoke_without_command=True,
)

_STATE_STYLE = {"online": "green", "offline": "bold red", "removed": "yellow"}


@roots_app.callback()
def roots(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the roots the catalog knows, with their state, items and bytes."""
    if ctx.invoked_subcommand is not None:
        return
    data: RootsReply = call("roots")
    if as_json:
        print_json(data)
        return
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold underline")
    table.add_column("root", overflow="fold", min_width=12)
    table.add_column("state", no_wrap=True)
    table.add_column("items", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("missing", justify="right")
    table.add_column("failed", justify="right")
    for root in data["roots"]:
        statuses = root["by_status"]
        table.add_row(
            safe(root["path"]),
            Text(root["state"], _STATE_STYLE.get(root["state"], "")),
            str(root["items"]),
            size_text(root["bytes"]),
            str(statuses.get(ItemStatus.MISSING, 0)),
            str(statuses.get(ItemStatus.FAILED, 0)),
        )
    out.print(table)
    for root in data["roots"]:
        if root["state"] == "offline" and root["offline_reason"]:
            out.print(
                Text.assemble(safe(root["path"]), ("  offline: ", "red"), root["offline_reason"])
            )
    if any(not r["configured"] for r in data["roots"]):
        out.print("removed roots keep their items offline: `mediaforgectl roots forget ROOT`")


@roots_app.command("forget")
def forget(
    root: Annotated[Path, typer.Argument(help="A root removed from the config.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove every item of a root that is no longer configured (with their tags and
    collection entries) from the catalog. Asks first, unless --yes."""
    path = os.path.abspath(root)
    if not yes:
        known: RootsReply = call("roots")
        entry = next((r for r in known["roots"] if r["path"] == path), None)
        if entry is not None and not entry["configured"]:
            _confirm(entry)
    data: ForgetReply = call("roots.forget", {"root": path})
    if as_json:
        print_json(data)
    else:
        out.print(Text.assemble("forgot ", safe(data["root"]), f": {data['forgotten']} items"))


def _confirm(entry: CatalogRoot) -> None:
    question = Text.assemble(
        "forget ",
        safe(entry["path"]),
        f": remove its {entry['items']} items ({size_text(entry['bytes'])}) and their tags "
        "from the catalog? [y/N] ",
    )
    if not sys.stdin.isatty():
        err.print("mediaforgectl: roots forget asks first: pass --yes to run it without a terminal")
        raise typer.Exit(EXIT_USAGE)
    err.print(question, end="")
    if input().strip().lower() not in ("y", "yes"):
        err.print("nothing forgotten")
        raise typer.Exit(1)


@query_app.command()
def folders(
    path: Annotated[
        Path | None, typer.Argument(help="A root or a folder in one (default: the roots).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many sub-folders.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """A folder's sub-folders, each with the present items and bytes below it, and the
    items directly in it; with no PATH, the roots. In a pipe: one tab-separated line per
    sub-folder (items, bytes, path)."""
    args: dict[str, object] = {"limit": limit}
    if path is not None:
        args["path"] = os.path.abspath(path)
    data: FoldersReply = call("folders", args)
    if as_json:
        print_json(data)
        return
    rows = [[str(f["items"]), str(f["bytes"]) if not out.is_terminal else size_text(f["bytes"]),
             f["path"]] for f in data["folders"]]  # fmt: skip
    print_rows((("items", "right"), ("size", "right"), ("folder", "left")), rows)
    if data["path"] is not None:
        more = f" (the first {limit})" if data["more"] else ""
        summary(
            f"{len(data['folders'])} folders{more}; {data['items']} items "
            f"({size_text(data['bytes'])}) directly in {data['path']}"
        )
