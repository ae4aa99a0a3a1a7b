"""The word index of the search language: an FTS5 table over each item's text, kept in step
by triggers (in the same transaction as the change, so nothing drifts after a kill -9).

``unicode61 remove_diacritics 2``: case and accents are ignored (``cafe`` finds ``Café``,
composed or not). The table keeps its own copy of the text (not contentless: SQLite 3.40
cannot delete a row of a contentless table by its rowid alone, and a delete that had to
repeat the old text would corrupt the index the day it differed). The folder is the one
inside the root, so the root's own path is not a word of every item. SQLite only: on another
engine the search falls back to LIKE and this migration does nothing.

Revision ID: 0005_search
Revises: 0004_tokens
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0005_search"
down_revision = "0004_tokens"
branch_labels = None
depends_on = None

COLUMNS = ("name", "folder", "title", "artist", "album", "album_artist", "genre", "composer",
           "camera", "lens", "tags", "collections")  # fmt: skip

# Each item's row of the index, for the items WHERE selects (``i`` is media_items).
DOCUMENT = """
INSERT INTO search_fts(rowid, {columns})
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
 WHERE {where};
""".replace("{columns}", ", ".join(COLUMNS))

_META = ("title", "artist", "album", "album_artist", "genre", "composer", "camera_make",
         "camera_model", "lens")  # fmt: skip


def _refresh(ids: str) -> str:
    """Statements that rewrite the index rows of the items ``ids`` (a SQL expression)."""
    return f"DELETE FROM search_fts WHERE rowid IN ({ids});\n" + DOCUMENT.format(
        where=f"i.id IN ({ids})"
    )


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)


# name -> (event, body). Each is AFTER the change, FOR EACH ROW.
TRIGGERS: dict[str, tuple[str, str]] = {
    "items_insert": ("INSERT ON media_items", DOCUMENT.format(where="i.id = new.id")),
    "items_update": (
        "UPDATE OF path, name, root_id ON media_items WHEN "
        + _changed(("path", "name", "root_id")),
        _refresh("new.id"),
    ),
    "items_delete": ("DELETE ON media_items", "DELETE FROM search_fts WHERE rowid = old.id;"),
    "metadata_insert": ("INSERT ON media_metadata", _refresh("new.item_id")),
    "metadata_update": (
        f"UPDATE OF {', '.join(_META)} ON media_metadata WHEN {_changed(_META)}",
        _refresh("new.item_id"),
    ),
    "metadata_delete": ("DELETE ON media_metadata", _refresh("old.item_id")),
    "tagged": ("INSERT ON item_tags", _refresh("new.item_id")),
    "untagged": ("DELETE ON item_tags", _refresh("old.item_id")),
    "tag_renamed": (
        "UPDATE OF name ON tags WHEN old.name IS NOT new.name",
        _refresh("SELECT item_id FROM item_tags WHERE tag_id = new.id"),
    ),
    "collected": ("INSERT ON collection_items", _refresh("new.item_id")),
    "uncollected": ("DELETE ON collection_items", _refresh("old.item_id")),
    "collection_renamed": (
        "UPDATE OF name ON collections WHEN old.name IS NOT new.name",
        _refresh("SELECT item_id FROM collection_items WHERE collection_id = new.id"),
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE VIRTUAL TABLE search_fts USING fts5({', '.join(COLUMNS)}, "
        "tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(DOCUMENT.format(where="1"))  # an existing catalog's items, in one statement
    for name, (event, body) in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER search_fts_{name} AFTER {event} BEGIN\n{body}\nEND")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS search_fts_{name}")
    op.execute("DROP TABLE IF EXISTS search_fts")
