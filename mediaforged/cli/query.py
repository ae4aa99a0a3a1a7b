"""mediaforgectl's questions about the library: info, why, duplicates, failed, retry, events
(search is in search.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
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
from mediaforged.cli.tables import print_rows, summary

__all__ = ["LimitOption", "OffsetOption", "query_app", "size_text"]

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


# Floats shown rounded (the catalog keeps them exact): durations to the millisecond.
_DECIMALS = {"duration_s": 3, "fps": 3, "gps_latitude": 6, "gps_longitude": 6,
             "gps_altitude": 1, "focal_length": 1, "f_number": 1}  # fmt: skip


def _shown(key: str, value: Any) -> str:
    """A metadata value for people: floats rounded, objects as JSON."""
    if isinstance(value, float):
        places = _DECIMALS.get(key)
        return f"{value:.{places}f}".rstrip("0").rstrip(".") if places else f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _metadata_rows(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(k.replace("_", " "), _shown(k, v)) for k, v in metadata.items() if k != "extra"]
    extra = metadata.get("extra")
    if isinstance(extra, dict):  # a line per key, not a Python dict
        rows += [(f"extra {k}", _shown(k, v)) for k, v in sorted(extra.items())]
    elif extra is not None:
        rows.append(("extra", _shown("extra", extra)))
    return rows


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
    rows += _metadata_rows(data["metadata"])
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


StageOption = Annotated[
    str | None, typer.Option(help="Only this stage: index, metadata, thumbnail or verify.")
]
FAILED_COLUMNS = (("id", "right"), ("stage", "left"), ("error", "left"), ("path", "left"))


@query_app.command()
def failed(
    path: Annotated[
        Path | None, typer.Argument(help="Only files in this folder (or this file).")
    ] = None,
    stage: StageOption = None,
    limit: LimitOption = 100,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Files that failed, at any stage: index (could not be read or hashed), metadata (could
    not be parsed), thumbnail, or verify (a full decode found the bytes damaged), with the
    error of each. In a pipe: one tab-separated line
    per file (id, stage, error, path)."""
    args: dict[str, Any] = {"limit": limit, "offset": offset}
    if path is not None:
        args["path"] = os.path.abspath(path)
    if stage is not None:
        args["stage"] = stage
    data = call("failed", args)
    if as_json:
        print_json(data)
        return
    stages = ", ".join(f"{n} {s}" for s, n in data["by_stage"].items() if n)
    by_code = ", ".join(f"{n} {code}" for code, n in sorted(data["by_code"].items()))
    print_rows(
        FAILED_COLUMNS,
        [
            [str(i["id"]), i["stage"], f"{i['error_code']}: {i['error']}", i["path"]]
            for i in data["items"]
        ],
    )
    shown = f" (showing {len(data['items'])})" if len(data["items"]) < data["total"] else ""
    summary(
        f"{data['total']} files failed{shown}"
        + (f" at {stages}" if stages else "")
        + (f": {by_code}" if by_code else "")
        + ("; `mediaforgectl retry` tries them again" if data["total"] else "")
    )


@query_app.command()
def retry(
    path: Annotated[
        Path | None, typer.Argument(help="A failed file, or a folder; default: every failed file.")
    ] = None,
    stage: StageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the failed stage of failed files again (read and hash them, read their metadata,
    or make their thumbnail), after fixing their permissions, say, and wait for the result.
    Exits 1 while some still fail."""
    args: dict[str, Any] = {} if path is None else {"path": os.path.abspath(path)}
    if stage is not None:
        args["stage"] = stage
    with ProgressDisplay(err.is_terminal and not as_json) as on_progress:
        data = call("retry", args, on_progress=on_progress, timeout=None)
    if as_json:
        print_json(data)
    else:
        stages = ", ".join(
            f"{n['retried']} {s}" for s, n in data.get("by_stage", {}).items() if n["retried"]
        )
        out.print(
            f"retried {data['retried']}"
            + (f" ({stages})" if stages else "")
            + f": {data['fixed']} fixed, {data['still_failed']} still failing"
            + (" (`mediaforgectl failed` says why)" if data["still_failed"] else "")
        )
    for error in data["errors"]:
        err.print(Text.assemble("error: ", safe(error)))
    if data["errors"] or data["still_failed"]:
        raise typer.Exit(EXIT_ERROR)


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
