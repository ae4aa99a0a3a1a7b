"""mediaforgectl's commands for user data: ``tag`` and ``collection``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from mediaforged.cli.client import JsonOption, call, out, print_json, safe
from mediaforged.cli.tables import print_rows, summary

__all__ = ["collection_app", "tag_app"]

tag_app = typer.Typer(
    help="Tags on catalogued files (kept while a file is missing, restored when it returns).",
    no_args_is_help=True,
)
collection_app = typer.Typer(help="Named collections of catalogued files.", no_args_is_help=True)

ItemPaths = Annotated[
    list[Path] | None,
    typer.Argument(help="Files, or folders (every catalogued file in them)."),
]
ItemIds = Annotated[
    list[int] | None, typer.Option("--id", help="An item id (repeatable), as info shows it.")
]


def _items(paths: list[Path] | None, ids: list[int] | None) -> dict[str, Any]:
    if not paths and not ids:
        raise typer.BadParameter("name at least one file, folder or --id")
    return {"paths": [os.path.abspath(p) for p in paths or []], "ids": list(ids or [])}


def _show(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        print_json(data)
    else:
        out.print(Text(text))


@tag_app.command("add")
def tag_add(
    tag: Annotated[str, typer.Argument(help="The tag, e.g. holiday.")],
    paths: ItemPaths = None,
    ids: ItemIds = None,
    as_json: JsonOption = False,
) -> None:
    """Tag files (a folder tags every catalogued file in it)."""
    data = call("tag.add", {"tag": tag, **_items(paths, ids)})
    _show(data, as_json, f"{data['tag']}: tagged {data['added']} ({data['items']} in all)")


@tag_app.command("remove")
def tag_remove(
    tag: Annotated[str, typer.Argument(help="The tag.")],
    paths: ItemPaths = None,
    ids: ItemIds = None,
    everywhere: Annotated[
        bool, typer.Option("--all", help="Remove the tag from every file.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove a tag from files (or with --all, everywhere)."""
    args: dict[str, Any] = {"tag": tag, "all": everywhere}
    if not everywhere:
        args.update(_items(paths, ids))
    data = call("tag.remove", args)
    _show(data, as_json, f"{data['tag']}: removed from {data['removed']} ({data['items']} left)")


@tag_app.command("list")
def tag_list(
    path: Annotated[Path | None, typer.Argument(help="Show the tags of this file.")] = None,
    item_id: Annotated[int | None, typer.Option("--id", help="Show the tags of this item.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every tag with its number of files, or the tags of one file."""
    args: dict[str, Any] = {}
    if path is not None:
        args["path"] = os.path.abspath(path)
    elif item_id is not None:
        args["id"] = item_id
    data = call("tag.list", args)
    if as_json:
        print_json(data)
    elif "tags" in data:
        for entry in data["tags"]:
            out.print(Text.assemble(safe(entry["tag"]), f"  {entry['items']}"))
    else:
        for item in data["items"]:
            out.print(Text.assemble(safe(item["path"]), ": ", safe(", ".join(item["tags"]))))


@collection_app.command("create")
def collection_create(
    name: Annotated[str, typer.Argument(help="The collection's name.")],
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an empty collection."""
    data = call("collection.create", {"name": name, "description": description})
    _show(data, as_json, f"created collection {data['collection']}")


@collection_app.command("delete")
def collection_delete(
    name: Annotated[str, typer.Argument(help="The collection's name.")],
    as_json: JsonOption = False,
) -> None:
    """Delete a collection (its files stay in the catalog)."""
    data = call("collection.delete", {"name": name})
    _show(data, as_json, f"deleted collection {data['collection']} ({data['items']} files)")


@collection_app.command("add")
def collection_add(
    name: Annotated[str, typer.Argument(help="The collection's name.")],
    paths: ItemPaths = None,
    ids: ItemIds = None,
    as_json: JsonOption = False,
) -> None:
    """Add files (or every catalogued file of a folder) to a collection."""
    data = call("collection.add", {"name": name, **_items(paths, ids)})
    _show(data, as_json, f"{data['collection']}: added {data['added']} ({data['items']} in all)")


@collection_app.command("remove")
def collection_remove(
    name: Annotated[str, typer.Argument(help="The collection's name.")],
    paths: ItemPaths = None,
    ids: ItemIds = None,
    as_json: JsonOption = False,
) -> None:
    """Remove files from a collection."""
    data = call("collection.remove", {"name": name, **_items(paths, ids)})
    text = f"{data['collection']}: removed {data['removed']} ({data['items']} left)"
    _show(data, as_json, text)


@collection_app.command("list")
def collection_list(as_json: JsonOption = False) -> None:
    """Every collection with its number of files."""
    data = call("collection.list")
    if as_json:
        print_json(data)
        return
    for c in data["collections"]:
        line = Text.assemble(safe(c["collection"]), f"  {c['items']} files")
        if c["description"]:
            line.append_text(Text.assemble("  ", safe(c["description"])))
        out.print(line)


@collection_app.command("show")
def collection_show(
    name: Annotated[str, typer.Argument(help="The collection's name.")],
    limit: Annotated[int, typer.Option(help="Files to show at most.")] = 100,
    offset: Annotated[int, typer.Option(help="Files to skip (paging).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """The files of a collection."""
    data = call("collection.show", {"name": name, "limit": limit, "offset": offset})
    if as_json:
        print_json(data)
        return
    summary(f"{data['collection']} ({data['total']} files)")
    print_rows(
        (("id", "right"), ("type", "left"), ("status", "left"), ("path", "left")),
        [[str(i["id"]), i["media_type"], i["status"], i["path"]] for i in data["items"]],
    )
