"""Whether the word index of the search is in step with the catalog (read straight from the
catalog file): FTS5's own check, and each item's row equal to what its data makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mediaforged.catalog.searchindex import COLUMNS, SELECT_DOCUMENT


def index_drift(db: Path) -> list[str]:
    """What differs between the index and the catalog (empty: in step)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        conn.execute("BEGIN")  # integrity-check is a command: rolled back, it writes nothing
        conn.execute("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')")
        conn.execute("ROLLBACK")
        held = {
            r[0]: r for r in conn.execute(f"SELECT rowid, {', '.join(COLUMNS)} FROM search_fts")
        }
        made = {r[0]: r for r in conn.execute(SELECT_DOCUMENT.format(where="1"))}
    finally:
        conn.close()
    drift = [f"item {i}: not in the index" for i in sorted(made.keys() - held.keys())]
    drift += [f"row {i}: no such item" for i in sorted(held.keys() - made.keys())]
    drift += [f"item {i}: {held[i]} != {made[i]}" for i in sorted(made.keys() & held.keys())
              if held[i] != made[i]]  # fmt: skip
    return drift
