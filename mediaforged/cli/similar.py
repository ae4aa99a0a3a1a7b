"""mediaforgectl duplicates (tiers, the copy to keep), duplicates merge, and similar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from mediaforged.cli.client import JsonOption, call, out, print_json, safe
from mediaforged.cli.query import LimitOption, OffsetOption, query_app, size_text

__all__ = ["duplicates_app"]

duplicates_app = typer.Typer(no_args_is_help=False, invoke_without_command=True)

TierOption = Annotated[
    str | None, typer.Option(help="Only this tier: exact, same-content or near.")
]


@duplicates_app.callback()
def duplicates(  # noqa: PLR0917 - typer passes options by keyword
    ctx: typer.Context,
    tier: TierOption = None,
    limit: LimitOption = 20,
    offset: OffsetOption = 0,
    min_size: Annotated[int, typer.Option(help="Ignore files smaller than this (bytes).")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Groups of copies in tiers: exact (the same bytes; hard links are one copy),
    same-content (the same decoded pixels or sound), near (another size, compression or
    encoding), each with the copy to keep and why."""
    if ctx.invoked_subcommand is not None:
        return
    args: dict[str, Any] = {"limit": limit, "offset": offset, "min_size": min_size}
    if tier is not None:
        args["tier"] = tier
    data = call("duplicates", args)
    if as_json:
        print_json(data)
        return
    counts = ", ".join(f"{n} {name}" for name, n in data["tiers"].items())
    out.print(f"{data['groups']} groups ({counts}), {size_text(data['wasted_bytes'])} wasted")
    for group in data["duplicates"]:
        out.print(
            Text.assemble(
                (f"{group['id']}", "bold"),
                f"  {group['copies']} copies, {size_text(group['wasted_bytes'])} wasted; "
                f"keep {group['keep']}: {group['keep_reason']}",
            )
        )
        for item in group["items"]:
            mark = "*" if item["id"] == group["keep"] else " "
            out.print(Text.assemble(f" {mark}{item['id']:>7}  ", safe(item["path"])))


@duplicates_app.command()
def merge(
    group: Annotated[str, typer.Argument(help="The group's id, as `duplicates` shows it.")],
    keep: Annotated[int, typer.Option(help="The id of the item to keep.")],
    as_json: JsonOption = False,
) -> None:
    """Move the other copies' tags and collections to the kept item (no file is deleted)."""
    data = call("duplicates.merge", {"group": group, "keep": keep})
    if as_json:
        print_json(data)
        return
    out.print(
        f"kept item {data['kept']}: {data['tags']} tags and {data['collections']} collections "
        f"moved from {len(data['others'])} other copies (their files are untouched)"
    )


@query_app.command()
def similar(
    target: Annotated[str, typer.Argument(help="A path or an item id.")],
    max_distance: Annotated[
        float | None,
        typer.Option(help="Bits of 64 for images and video, percent of bits for audio."),
    ] = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """The items closest to one item, closest first."""
    args: dict[str, Any] = {"limit": limit}
    if target.isdigit():
        args["id"] = int(target)
    else:
        args["path"] = os.path.abspath(Path(target))
    if max_distance is not None:
        args["max_distance"] = max_distance
    data = call("similar", args)
    if as_json:
        print_json(data)
        return
    for hit in data["similar"]:
        out.print(Text.assemble(f"{hit['distance']:>6g} {hit['tier']:<12} ", safe(hit["path"])))
