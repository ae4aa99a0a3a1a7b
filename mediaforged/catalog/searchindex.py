"""The word index ``search_fts`` kept in step by the single writer, in the same transaction
as each change (so nothing drifts after a kill -9), a batch at a time.

The writer's connection has TEMP triggers that only note the ids of the items a statement
touched (their row, metadata, tags, collections, a renamed tag or collection) in a TEMP
table: the cost of a row is one integer. Before each commit ``flush`` rewrites the index rows
of those items with one DELETE and one INSERT ... SELECT for the whole batch (a first import
of 100,000 files: a few statements per batch, not a dozen per file). A savepoint that rolls
back takes its notes with it. ``rebuild`` makes the whole index again (``reindex-search``,
and after the migration that replaced the per-row triggers of 0005).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["COLUMNS", "DOCUMENT", "SELECT_DOCUMENT", "check", "flush", "install", "rebuild"]

COLUMNS = ("name", "folder", "title", "artist", "album", "album_artist", "genre", "composer",
           "camera", "lens", "tags", "collections")  # fmt: skip

# Each item's row of the index, for the items WHERE selects (``i`` is media_items); the folder
# is the one inside the root, so the root's own path is not a word of every item.
SELECT_DOCUMENT = """
SELECT i.id, i.name,
       substr(i.path, length(rtrim(r.path, '/')) + 2,
              length(i.path) - length(rtrim(r.path, '/')) - 1 - length(i.name)),
       md.title, md.artist, md.album, md.album_artist, md.genre, md.composer,
       trim(coalesce(md.camera_make, '') || ' ' || coalesce(md.camera_model, '')), md.lens,
       (SELECT group_concat(t.name, ' ') FROM item_tags it JOIN tags t ON t.id = it.tag_id
         WHERE it.item_id = i.id),
       (SELECT group_concat(c.name, ' ') FROM collection_items ci
          JOIN collections c ON c.id = ci.collection_id WHERE ci.item_id = i.id)
  FROM media_items i JOIN roots r ON r.id = i.root_id
  LEFT JOIN media_metadata md ON md.item_id = i.id
 WHERE {where}
"""
DOCUMENT = f"INSERT INTO search_fts(rowid, {', '.join(COLUMNS)})" + SELECT_DOCUMENT

_DIRTY = "temp.search_dirty"
_NOTE = "INSERT OR IGNORE INTO search_dirty(id) "
_META = ("title", "artist", "album", "album_artist", "genre", "composer", "camera_make",
         "camera_model", "lens")  # fmt: skip


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)


# name -> (event, what to note). AFTER the change, FOR EACH ROW, on the writer's connection.
NOTES: dict[str, tuple[str, str]] = {
    "items_insert": ("INSERT ON main.media_items", "VALUES (new.id)"),
    "items_update": (
        "UPDATE OF path, name, root_id ON main.media_items WHEN "
        + _changed(("path", "name", "root_id")),
        "VALUES (new.id)",
    ),
    "items_delete": ("DELETE ON main.media_items", "VALUES (old.id)"),
    "metadata_insert": ("INSERT ON main.media_metadata", "VALUES (new.item_id)"),
    "metadata_update": (
        f"UPDATE OF {', '.join(_META)} ON main.media_metadata WHEN {_changed(_META)}",
        "VALUES (new.item_id)",
    ),
    "metadata_delete": ("DELETE ON main.media_metadata", "VALUES (old.item_id)"),
    "tagged": ("INSERT ON main.item_tags", "VALUES (new.item_id)"),
    "untagged": ("DELETE ON main.item_tags", "VALUES (old.item_id)"),
    "tag_renamed": (
        "UPDATE OF name ON main.tags WHEN old.name IS NOT new.name",
        "SELECT item_id FROM item_tags WHERE tag_id = new.id",
    ),
    "collected": ("INSERT ON main.collection_items", "VALUES (new.item_id)"),
    "uncollected": ("DELETE ON main.collection_items", "VALUES (old.item_id)"),
    "collection_renamed": (
        "UPDATE OF name ON main.collections WHEN old.name IS NOT new.name",
        "SELECT item_id FROM collection_items WHERE collection_id = new.id",
    ),
}


async def install(conn: AsyncConnection) -> bool:
    """Give the writer's connection its notes (once per connection; SQLite only, and only
    when the catalog has the index). Whether the index is kept on this connection."""
    if conn.dialect.name != "sqlite":
        return False
    if "search_index" in conn.info:
        return bool(conn.info["search_index"])
    found = await conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_fts'"
    )
    has_index = found.first() is not None
    if has_index:
        await conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS search_dirty (id INTEGER PRIMARY KEY)"
        )
        for name, (event, values) in NOTES.items():
            await conn.exec_driver_sql(
                f"CREATE TEMP TRIGGER IF NOT EXISTS search_note_{name} AFTER {event} "
                f"BEGIN {_NOTE}{values}; END"
            )
    await conn.commit()  # the TEMP schema is the connection's own: nothing of the catalog
    conn.info["search_index"] = has_index
    return has_index


async def flush(conn: AsyncConnection) -> int:
    """Inside the writer's transaction, before it commits: rewrite the index rows of the
    items noted since the last flush. The number of items."""
    if not conn.info.get("search_index"):
        return 0
    found = await conn.exec_driver_sql(f"SELECT count(*) FROM {_DIRTY}")
    dirty = int(found.scalar_one())
    if dirty:
        ids = f"SELECT id FROM {_DIRTY}"
        await conn.exec_driver_sql(f"DELETE FROM search_fts WHERE rowid IN ({ids})")
        await conn.exec_driver_sql(DOCUMENT.format(where=f"i.id IN ({ids})"))
        await conn.exec_driver_sql(f"DELETE FROM {_DIRTY}")
    return dirty


async def rebuild(
    conn: AsyncConnection, progress: Callable[[int, int], Awaitable[None]] | None = None
) -> int:
    """Make the whole index again from the catalog, in the caller's transaction, in slices
    of ids (``progress(done, total)`` after each); then merge it into one segment. The
    number of rows."""
    await conn.exec_driver_sql("DELETE FROM search_fts")
    found = await conn.exec_driver_sql("SELECT count(*), max(id) FROM media_items")
    total, top = tuple(found.one())
    step, done = 50000, 0
    for low in range(0, (top or 0) + 1, step):
        where = f"i.id > {low - 1} AND i.id < {low + step}"  # integers of ours: no input
        result = await conn.exec_driver_sql(DOCUMENT.format(where=where))
        done += max(result.rowcount, 0)
        if progress is not None:
            await progress(done, int(total))
    await conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    return done


async def check(conn: AsyncConnection) -> str | None:
    """FTS5's own check of the index against its rows, and one row per item: None when
    both hold, else what is wrong."""
    try:
        await conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')")
    except DBAPIError as exc:  # SQLite: the index is corrupt (SQLITE_CORRUPT_VTAB)
        return f"search index: {exc.orig} (run mediaforgectl reindex-search)"
    found = await conn.exec_driver_sql(
        "SELECT (SELECT count(*) FROM media_items), (SELECT count(*) FROM search_fts)"
    )
    items, rows = tuple(found.one())
    if items != rows:
        return f"search index: {rows} rows for {items} items (run mediaforgectl reindex-search)"
    return None
