"""Rows of a listing (search, failed, a collection) that never lose text.

In a pipe or a file (not a terminal) each row is one line of tab-separated fields, nothing
cut or wrapped, so ``grep``, ``cut -f`` and ``wc -l`` work; the summary goes to stderr. On a
terminal the rows are a table that fits its width: a path too long loses its middle (an
ellipsis marks the cut; the file name stays), other long text its end, never silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mediaforged.cli.client import clean, err, middle_cut, out

__all__ = ["Column", "print_rows", "summary"]

_GAP = 2  # spaces between columns
_MIN = 8  # narrowest a cut column gets

Column = tuple[str, str]  # header, justify ("left" or "right")


def summary(text: str) -> None:
    """A listing's summary line: below the table on a terminal, on stderr in a pipe (stdout
    holds only the rows)."""
    (out if out.is_terminal else err).print(text)


def _widths(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], path: int, room: int
) -> list[int]:
    """Each column's width so that the table fits ``room``: the path gives way first (to a
    third of the room), then the widest other text, then the path again."""
    widths = [max([len(h), *(len(r[k]) for r in rows)]) for k, (h, _) in enumerate(columns)]
    over = sum(widths) + _GAP * (len(widths) - 1) - room
    if over <= 0:
        return widths
    path %= len(widths)
    give = min(over, max(widths[path] - max(room // 3, _MIN), 0))
    widths[path] -= give
    over -= give
    while over > 0:
        k = max((k for k in range(len(widths)) if k != path), key=lambda k: widths[k])
        give = min(over, max(widths[k] - _MIN, 0))
        if not give:
            break
        widths[k] -= give
        over -= give
    widths[path] = max(widths[path] - max(over, 0), _MIN)
    return widths


def print_rows(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    path: int = -1,
    console: Console = out,
) -> None:
    """The rows under ``columns``; column ``path`` holds paths (cut in the middle)."""
    rows = [[clean(v) for v in row] for row in rows]
    if not console.is_terminal:
        for row in rows:
            console.file.write("\t".join(row) + "\n")
        console.file.flush()
        return
    if not rows:
        return
    widths = _widths(columns, rows, path, console.width)
    path %= len(columns)
    table = Table(box=None, pad_edge=False, padding=(0, _GAP // 2), header_style="bold")
    for (header, justify), width in zip(columns, widths, strict=True):
        table.add_column(header, justify=justify, width=width, no_wrap=True, overflow="ellipsis")  # type: ignore[arg-type]
    for row in rows:
        cells = [middle_cut(v, widths[k]) if k == path else v for k, v in enumerate(row)]
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
