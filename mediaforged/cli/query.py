"""mediaforgectl's questions about the library: info, why, duplicates, failed, retry."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from mediaforged.cli.client import (
    EXIT_ERROR,
    JsonOption,
    ProgressDisplay,
    call,
    err,
    out,
    print_json,
    safe,
)

__all__ = ["query_app", "size_text"]

query_app = typer.Typer()

LimitOption = Annotated[int, typer.Option(help="Show at most this many.")]
OffsetOption = Annotated[int, typer.Option(help="Skip this many first (paging).")]


def size_text(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _item_args(target: str) -> dict[str, Any]:
    """An item id (digits that are not a file here) or a path."""
    if target.isdigit() and not os.path.exists(target):
        return {"id": int(target)}
    return {"path": os.path.abspath(target)}


@query_app.command()
def info(
    target: Annotated[str, typer.Argument(metavar="PATH|ID", help="A catalogued file or its id.")],
    as_json: JsonOption = False,
) -> None:
    """Everything the catalog knows about one file."""
    data = call("info", _item_args(target))
    if as_json:
        print_json(data)
        return
    item = data["item"]
    out.print(Text.assemble((f"item {item['id']}  ", "bold"), safe(item["path"])))
    problem = f" ({item['error_code']}: {item['error']})" if item["error"] else ""
    rows: list[tuple[str, Any]] = [
        ("status", item["status"] + problem),
        ("type", f"{item['media_type']} ({item['mime_type'] or 'unknown'})"),
        ("size", f"{size_text(item['size'])} ({item['size']} bytes)"),
        ("sha256", item["file_hash"] or "-"),
        ("device, inode", f"{item['dev']}, {item['inode']}"),
        ("catalogued", item["created_at"]),
        ("updated", item["updated_at"]),
    ]  # fmt: skip
    if item["missing_since"]:
        rows.append(("missing since", item["missing_since"]))
    rows += [(k.replace("_", " "), v) for k, v in data["metadata"].items()]
    if data.get("thumbnail"):  # absent from an older daemon's reply
        rows.append(("thumbnail", data["thumbnail"]))
    if data["tags"]:
        rows.append(("tags", ", ".join(data["tags"])))
    if data["collections"]:
        rows.append(("collections", ", ".join(data["collections"])))
    for label, value in rows:
        out.print(Text.assemble(f"  {label:<14} ", safe(str(value))))
    for path in data["same_content"]:
        out.print(Text.assemble("  same content:  ", safe(path)))


@query_app.command()
def why(
    path: Annotated[Path, typer.Argument(help="A file, catalogued or not.")],
    as_json: JsonOption = False,
) -> None:
    """Why a file is or is not in the catalog (excluded by which rule, ignored, settling,
    failed with which error, outside every root, not a regular file, ...)."""
    data = call("why", {"path": os.path.abspath(path)})
    if as_json:
        print_json(data)
        return
    out.print(
        Text.assemble(
            safe(data["path"]), ": ", (data["reason"], "bold"), " - ", safe(data["message"])
        )
    )


@query_app.command()
def duplicates(
    limit: LimitOption = 20,
    offset: OffsetOption = 0,
    min_size: Annotated[int, typer.Option(help="Ignore files smaller than this (bytes).")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Groups of files with identical content, most wasted space first (hard links to the
    same file are not duplicates)."""
    data = call("duplicates", {"limit": limit, "offset": offset, "min_size": min_size})
    if as_json:
        print_json(data)
        return
    out.print(f"{data['groups']} groups of duplicates, {size_text(data['wasted_bytes'])} wasted")
    for group in data["duplicates"]:
        out.print(
            f"{group['copies']} copies of {size_text(group['size'])} "
            f"({size_text(group['wasted_bytes'])} wasted)  sha256 {group['file_hash'][:16]}"
        )
        for item in group["items"]:
            out.print(Text.assemble("  ", safe(item["path"])))


@query_app.command()
def failed(limit: LimitOption = 100, offset: OffsetOption = 0, as_json: JsonOption = False) -> None:
    """Files that could not be read, with the reason for each."""
    data = call("failed", {"limit": limit, "offset": offset})
    if as_json:
        print_json(data)
        return
    by_code = ", ".join(f"{n} {code}" for code, n in sorted(data["by_code"].items()))
    out.print(f"{data['total']} files failed" + (f": {by_code}" if by_code else ""))
    if data["items"]:
        table = Table()
        for column in ("id", "path", "error"):
            table.add_column(column)
        for item in data["items"]:
            table.add_row(
                str(item["id"]), safe(item["path"]), safe(f"{item['error_code']}: {item['error']}")
            )
        out.print(table)


@query_app.command()
def retry(
    path: Annotated[
        Path | None, typer.Argument(help="A failed file, or a folder; default: every failed file.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read failed files again (after fixing their permissions, say), and wait for the result."""
    args = {} if path is None else {"path": os.path.abspath(path)}
    with ProgressDisplay(err.is_terminal and not as_json) as on_progress:
        data = call("retry", args, on_progress=on_progress, timeout=None)
    if as_json:
        print_json(data)
    else:
        out.print(
            f"retried {data['retried']}: {data['fixed']} fixed, "
            f"{data['still_failed']} still failing"
        )
    if data["errors"]:
        for error in data["errors"]:
            err.print(Text.assemble("error: ", safe(error)))
        raise typer.Exit(EXIT_ERROR)


def _opt(help_text: str) -> Any:
    return typer.Option(help=help_text)


@query_app.command()
def search(  # noqa: PLR0917 - Typer: one parameter per command-line option
    text: Annotated[
        str | None, typer.Argument(help="Words in the path, name, title, artist or album.")
    ] = None,
    media_type: Annotated[
        str | None, typer.Option("--type", help="image, audio, video or other.")
    ] = None,
    artist: Annotated[str | None, _opt("Artist (or album artist) contains this.")] = None,
    album: Annotated[str | None, _opt("Album contains this.")] = None,
    title: Annotated[str | None, _opt("Title contains this.")] = None,
    camera: Annotated[str | None, _opt("Camera make or model contains this.")] = None,
    taken_from: Annotated[
        str | None, _opt("Taken on or after (YYYY-MM-DD[THH:MM], local time where taken).")
    ] = None,
    taken_to: Annotated[
        str | None, _opt("Taken on or before (YYYY-MM-DD[THH:MM], local time where taken).")
    ] = None,
    added_from: Annotated[
        str | None, _opt("Catalogued on or after (YYYY-MM-DD[THH:MM], UTC).")
    ] = None,
    added_to: Annotated[
        str | None, _opt("Catalogued on or before (YYYY-MM-DD[THH:MM], UTC).")
    ] = None,
    min_width: Annotated[int | None, _opt("At least this many pixels wide.")] = None,
    min_height: Annotated[int | None, _opt("At least this many pixels high.")] = None,
    min_duration: Annotated[float | None, _opt("At least this many seconds long.")] = None,
    max_duration: Annotated[float | None, _opt("At most this many seconds long.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Has this tag (repeatable: all of them).")
    ] = None,
    collection: Annotated[str | None, _opt("In this collection.")] = None,
    under: Annotated[Path | None, _opt("Inside this folder.")] = None,
    status: Annotated[
        str, _opt("present, missing, failed, offline (a removed root's) or any.")
    ] = "present",
    sort: Annotated[
        str,
        _opt("path, name, size, added, modified, taken, duration, artist, album; -X: descending."),
    ] = "path",
    limit: LimitOption = 50,
    offset: OffsetOption = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Find files by type, text, artist, album, dates, resolution, duration, camera, tags,
    collection and status; sorted and paged."""
    args: dict[str, Any] = {
        "text": text,
        "type": media_type,
        "artist": artist,
        "album": album,
        "title": title,
        "camera": camera,
        "taken_from": taken_from,
        "taken_to": taken_to,
        "added_from": added_from,
        "added_to": added_to,
        "min_width": min_width,
        "min_height": min_height,
        "min_duration": min_duration,
        "max_duration": max_duration,
        "tags": tag or [],
        "collection": collection,
        "under": os.path.abspath(under) if under else None,
        "status": status,
        "sort": sort,
        "limit": limit,
        "offset": offset,
    }
    data = call("search", {k: v for k, v in args.items() if v is not None})
    if as_json:
        for item in data["items"]:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
    else:
        _print_found(data)


def _print_found(data: dict[str, Any]) -> None:
    """A search reply as a table, and which of the matches it shows."""
    table = Table(box=None, pad_edge=False)
    for column, justify in (("id", "right"), ("type", "left"), ("size", "right"),
                            ("details", "left"), ("path", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in data["items"]:
        table.add_row(
            str(item["id"]),
            item["media_type"],
            size_text(item["size"]),
            safe(_details(item)),
            safe(item["path"]),
        )
    out.print(table)
    shown = len(data["items"])
    first = data["offset"] + 1 if shown else 0
    out.print(f"{first}-{data['offset'] + shown} of {data['total']}")


def _details(item: dict[str, Any]) -> str:
    parts = []
    if item["width"]:
        parts.append(f"{item['width']}x{item['height']}")
    if item["duration_s"]:
        parts.append(f"{item['duration_s']:.0f}s")
    parts += [v for v in (item["artist"], item["title"]) if v]
    if item["taken_at"]:
        parts.append(item["taken_at"][:10])
    return " ".join(parts)


@query_app.command()
def events(
    since: Annotated[
        int | None,
        typer.Option(help="Start after this cursor (each event carries one); 0: from the start."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The catalog's changes (added, changed, moved, missing, restored, purged, failed), each
    with a cursor: a script resumes with --since CURSOR where it stopped. Without --since,
    the last 100 (or, with --follow, only new ones)."""
    args: dict[str, Any] = {"follow": follow}
    if since is not None:
        args["since"] = since
    if limit is not None:
        args["limit"] = limit

    def show(line: dict[str, Any]) -> None:
        event = line["event"]
        if as_json:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        else:
            moved = (
                Text.assemble(" (from ", safe(event["old_path"]), ")")
                if event.get("old_path")
                else ""
            )
            out.print(
                Text.assemble(
                    f"{event['cursor']:>8} {event['at'][:19]} ",
                    (f"{event['kind']:<8}", "bold"),
                    " ",
                    safe(event["path"] or f"item {event['item']}"),
                    moved,
                )
            )
        sys.stdout.flush()  # a pipe into another program sees each event as it happens

    try:
        data = call("events", args, on_event=show, timeout=None)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    if not as_json:
        err.print(f"cursor {data['cursor']} (resume with --since {data['cursor']})")
