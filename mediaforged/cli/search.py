"""mediaforgectl search: a query in the search language (sent as ``q``), the daemon's older
filters as options (all of them must match), the results as they stream.

The daemon sends the matches in lines of a few hundred kB (``stream``), so a result of any
size (``--limit`` up to 10,000) stays under the protocol's line limit; ``--json`` prints each
match as its line arrives.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from mediaforged.cli.client import call
from mediaforged.cli.query import LimitOption, OffsetOption, query_app, size_text
from mediaforged.cli.tables import print_rows, summary

__all__ = ["reindex_search", "search"]

COLUMNS = (("id", "right"), ("type", "left"), ("size", "right"), ("details", "left"),
           ("path", "left"))  # fmt: skip
# The command line's names for the daemon's arguments, where they differ.
_RENAMED = {"media_type": "type", "tag": "tags"}


def _opt(help_text: str) -> Any:
    return typer.Option(help=help_text)


def _date(what: str) -> Any:
    return _opt(f"{what} (YYYY-MM-DD[THH:MM], local time where taken).")


@query_app.command()
def search(  # noqa: PLR0917 - Typer: one parameter per command-line option
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help='The query: words, "phrases", prefix*, field:value (artist:, year:1965..1970, '
            "size:>2GB, duration:>1h, taken:2021-06, added:<7d, title:/regex/, ...), -not, OR, "
            "( ), sort:-taken. Put -- before a query that starts with -.",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        str | None, _opt("Substring of the path, title, artist or album (the older filter).")
    ] = None,
    media_type: Annotated[
        str | None, typer.Option("--type", help="image, audio, video or other.")
    ] = None,
    artist: Annotated[str | None, _opt("Artist (or album artist) contains this.")] = None,
    album: Annotated[str | None, _opt("Album contains this.")] = None,
    title: Annotated[str | None, _opt("Title contains this.")] = None,
    genre: Annotated[str | None, _opt("Genre contains this.")] = None,
    year: Annotated[int | None, _opt("Released in this year (the audio's tag).")] = None,
    camera: Annotated[str | None, _opt("Camera make or model contains this.")] = None,
    taken_from: Annotated[str | None, _date("Taken on or after")] = None,
    taken_to: Annotated[str | None, _date("Taken on or before")] = None,
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
    min_size: Annotated[int | None, _opt("At least this many bytes.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Has this tag (repeatable: all of them).")
    ] = None,
    collection: Annotated[str | None, _opt("In this collection.")] = None,
    under: Annotated[Path | None, _opt("Inside this folder.")] = None,
    status: Annotated[
        str, _opt("present, missing, failed (at any stage: see `failed`), offline or any.")
    ] = "present",
    sort: Annotated[
        str,
        _opt("path, name, size, added, modified, taken, duration, artist, album; -X: descending."),
    ] = "path",
    limit: LimitOption = 50,
    offset: OffsetOption = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    explain: Annotated[
        bool, _opt("Show how the query was read, its SQL and SQLite's plan (no results).")
    ] = False,
    exact_count: Annotated[
        bool, _opt('Count every match (otherwise the count stops at 10,000: "10,000+").')
    ] = False,
) -> None:
    """Find files with a query (words, phrases, fields, ranges, -, OR, sort:; see the
    README) and/or the options (type, artist, album, genre, year, dates, resolution,
    duration, size, camera, tags, collection, status); sorted and paged. In a pipe: one
    tab-separated line per file (id, type, size, details, path), nothing cut."""
    given = dict(locals())
    given.pop("as_json")
    given.pop("explain")
    given["q"] = " ".join(given.pop("query") or []) or None
    given["tag"] = tag or []
    given["under"] = os.path.abspath(under) if under else None
    args = {_RENAMED.get(k, k): v for k, v in given.items() if v is not None}
    if explain:
        _print_explain(call("search", {**args, "explain": True, "limit": limit}))
        return
    found: list[Mapping[str, Any]] = []

    def arrived(line: Mapping[str, Any]) -> None:
        if as_json:
            for item in line.get("items", []):
                sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        else:
            found.extend(line.get("items", []))

    data = call("search", {**args, "stream": True}, on_progress=arrived)
    if not as_json:
        _print_found(found, data)


def _print_found(items: list[Mapping[str, Any]], data: Mapping[str, Any]) -> None:
    """The matches as rows, and which of the matches they are."""
    print_rows(
        COLUMNS,
        [
            [str(i["id"]), i["media_type"], size_text(i["size"]), _details(i), i["path"]]
            for i in items
        ],
    )
    first = data["offset"] + 1 if items else 0
    summary(f"{first}-{data['offset'] + len(items)} of {_total(data)}")


def _total(data: Mapping[str, Any]) -> str:
    """The count; "10,000+" where the daemon stopped counting (--exact-count counts all)."""
    return f"{data['total']:,}" + ("" if data.get("total_exact", True) else "+")


def _print_explain(data: Mapping[str, Any]) -> None:
    shown = data["explain"]
    print(f"read as: {shown['read']}")
    if shown["sort"]:
        print(f"sort:    {shown['sort']}")
    print(f"matches: {_total(data)}")
    print("sql:")
    print("  " + shown["sql"].replace("\n", "\n  "))
    print(f"params:  {shown['params']}")
    print("plan:")
    for line in shown["plan"]:
        print("  " + line)


def _details(item: Mapping[str, Any]) -> str:
    parts = []
    if item["width"]:
        parts.append(f"{item['width']}x{item['height']}")
    if item["duration_s"]:
        parts.append(f"{item['duration_s']:.0f}s")
    parts += [v for v in (item["artist"], item["title"]) if v]
    if item["taken_at"]:
        parts.append(item["taken_at"][:10])
    return " ".join(parts)


@query_app.command("reindex-search")
def reindex_search() -> None:
    """Rebuild the word index of the search from the catalog (admin; searches keep working
    meanwhile, on the old index, until it commits)."""
    shown = sys.stderr.isatty()

    def arrived(line: Mapping[str, Any]) -> None:
        if shown and "indexed" in line:
            sys.stderr.write(f"\rindexed {line['indexed']:,} of {line['total']:,} items")
            sys.stderr.flush()

    data = call("search.reindex", {}, on_progress=arrived, timeout=None)
    if shown:
        sys.stderr.write("\n")
    print(f"search index rebuilt: {data['rows']:,} items in {data['elapsed_s']:.1f} s")
