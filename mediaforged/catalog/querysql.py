"""The search language's tree (``query``) as SQLAlchemy Core conditions over media_items and
media_metadata (tags, collections and roots through ``IN`` subqueries, read once).

Words go to the FTS5 index ``search_fts`` (migration 0005) when ``fts`` is true (SQLite);
elsewhere they are case-insensitive substring matches (LIKE), the same columns. Every value is
a bound parameter: nothing from the query is ever formatted into SQL text.
"""

from __future__ import annotations

import os
import posixpath
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    and_,
    column,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
)

from mediaforged.catalog.query import And, Compare, Field, Node, Not, Or, Text
from mediaforged.catalog.schema import (
    collection_items,
    collections,
    item_tags,
    media_items,
    media_metadata,
    roots,
    tags,
)
from mediaforged.fs.fsio import under

__all__ = [
    "FTS_COLUMNS",
    "compile_tree",
    "describe",
    "match_words",
    "mentions",
    "search_fts",
    "split_words",
    "status_condition",
]

Condition = ColumnElement[bool]
m = media_items.c
md = media_metadata.c

# The index's columns, in the migration's order (rowid = media_items.id).
FTS_COLUMNS = ("name", "folder", "title", "artist", "album", "album_artist", "genre",
               "composer", "camera", "lens", "tags", "collections")  # fmt: skip
search_fts = table("search_fts", column("rowid"), column("search_fts"))

# The folder an item is in: its path without its name.
_FOLDER = func.substr(m.path, 1, func.length(m.path) - func.length(m.name))
# field -> the columns its text is in, and the index columns holding the same words.
_TEXT: dict[str, tuple[tuple[ColumnElement[Any], ...], tuple[str, ...]]] = {
    "artist": ((md.artist, md.album_artist), ("artist", "album_artist")),
    "album": ((md.album,), ("album",)),
    "albumartist": ((md.album_artist,), ("album_artist",)),
    "title": ((md.title,), ("title",)),
    "genre": ((md.genre,), ("genre",)),
    "composer": ((md.composer,), ("composer",)),
    "camera": ((md.camera_make, md.camera_model), ("camera",)),
    "lens": ((md.lens,), ("lens",)),
    "name": ((m.name,), ("name",)),
    "folder": ((_FOLDER,), ("folder",)),
    "codec": ((md.video_codec, md.audio_codec), ()),
    "container": ((md.container,), ()),
    "mime": ((m.mime_type,), ()),
    "path": ((m.path,), ()),
    "error": ((m.error, m.error_code), ()),
}
# The columns a bare word is looked for in without the index.
_ANYWHERE = (m.path, md.title, md.artist, md.album, md.album_artist, md.genre, md.composer,
             md.camera_make, md.camera_model, md.lens)  # fmt: skip
_NUMBERS: dict[str, ColumnElement[Any]] = {
    "year": md.year, "width": md.width, "height": md.height, "track": md.track_number,
    "disc": md.disc_number, "bitrate": md.bit_rate, "samplerate": md.sample_rate,
    "channels": md.channels, "iso": md.iso, "fps": md.fps, "size": m.size,
    "duration": md.duration_s,
}  # fmt: skip
_DATES: dict[str, ColumnElement[Any]] = {"taken": md.taken_at, "added": m.created_at}
_CHOICES: dict[str, ColumnElement[Any]] = {"type": m.media_type}


def compile_tree(node: Node, fts: bool, probe: bool = False) -> Condition:
    """The condition an item must meet to match ``node``. ``probe``: the word index is asked
    about each item in turn (a walk along another index, that meets a match every few rows),
    instead of listing all its matches first (150,000 at a million items cost 60-300 ms)."""
    if isinstance(node, Not):
        # NULL (no artist, no year) is "not matching": -artist:x keeps the items without one.
        inner = compile_tree(node.child, fts, probe)
        return not_(func.coalesce(inner, false(), type_=Boolean))
    if isinstance(node, Or):
        return or_(*(compile_tree(c, fts, probe) for c in node.children))
    if isinstance(node, And):
        words = [c for c in node.children if isinstance(c, Text) and _indexable(c.text)]
        rest = [compile_tree(c, fts, probe) for c in node.children if c not in words or not fts]
        if fts and words:  # one look-up in the index for all the words side by side
            # A probe last: SQLite tests an AND from the left, the cheap columns first.
            found = _match(" ".join(_fts_phrase(w) for w in words), probe)
            rest.insert(len(rest) if probe else 0, found)
        return and_(*rest)
    if isinstance(node, Text):
        if fts and _indexable(node.text):
            return _match(_fts_phrase(node), probe)
        return _like_any(_ANYWHERE, node.text) | _in_tags(tags.c.name.ilike(_pattern(node.text)))
    return _field(node, fts, probe)


def split_words(node: Node) -> tuple[str | None, Node | None]:
    """The word-index expression every match meets (the words and indexed fields at the
    top of the tree, side by side), and the rest of the tree; (None, node) when it has none.
    A count or a sparse page then reads the index's matches in order and joins each item,
    rather than first collecting every match into a list for ``IN``."""
    parts = node.children if isinstance(node, And) else (node,)
    found = {c: _index_match(c) for c in parts}
    words = [e for e in found.values() if e is not None]
    if not words:
        return None, node
    rest = [c for c in parts if found[c] is None]
    # AND spelled out: FTS5's implicit AND joins bare phrases only, not a column filter's "(...)".
    others = None if not rest else rest[0] if len(rest) == 1 else And(tuple(rest))
    return " AND ".join(words), others


def match_words(expression: str) -> Condition:
    """``search_fts MATCH expression``: for a statement that joins search_fts itself."""
    return search_fts.c.search_fts.op("MATCH")(expression)


def _index_match(node: Node) -> str | None:
    """The word-index expression of a bare word or an indexed field, or None."""
    if isinstance(node, Text):
        return _fts_phrase(node) if _indexable(node.text) else None
    if isinstance(node, Field) and node.name in _TEXT:
        return _field_words(node)
    return None


def status_condition(value: str) -> Condition | None:
    """``status:`` (and the ``status`` argument): failed is "at any stage"; any is no filter."""
    if value == "any":
        return None
    if value == "failed":  # not indexed, metadata unread, or no thumbnail
        return or_(
            m.status == "failed",
            and_(
                m.status == "present", or_(m.error_code.is_not(None), md.thumb_status == "failed")
            ),
        )
    return m.status == value


def mentions(node: Node | None, name: str) -> bool:
    """Whether the tree has a ``name:`` field anywhere."""
    if isinstance(node, Field):
        return node.name == name
    if isinstance(node, Not):
        return mentions(node.child, name)
    if isinstance(node, And | Or):
        return any(mentions(c, name) for c in node.children)
    return False


def describe(node: Node | None) -> str:
    """How the query was read, as one line (``--explain``)."""
    if node is None:
        return "everything"
    if isinstance(node, Text):
        return {"word": f"word {node.text!r}", "prefix": f"prefix {node.text!r}*",
                "phrase": f"phrase {node.text!r}"}[node.how]  # fmt: skip
    if isinstance(node, Not):
        return f"NOT {describe(node.child)}"
    if isinstance(node, And | Or):
        joined = f" {type(node).__name__.upper()} ".join(describe(c) for c in node.children)
        return f"({joined})"
    if node.how in ("compare", "range"):
        return " AND ".join(f"{node.name} {b.op} {_shown(b)}" for b in node.bounds)
    return {"words": f"{node.name} has words {node.text!r}",
            "phrase": f"{node.name} has phrase {node.text!r}",
            "exact": f"{node.name} = {node.text!r}",
            "regex": f"{node.name} ~ /{node.text}/"}[node.how]  # fmt: skip


def _shown(bound: Compare) -> str:
    if isinstance(bound.value, tuple):
        start, end = bound.value
        return start.isoformat() if start == end else f"[{start.isoformat()}, {end.isoformat()})"
    return f"{bound.value:g}"


def _indexable(text: str) -> bool:
    """Whether the word index holds any of it (unicode61 keeps letters and digits only:
    ``%`` or an emoji alone is looked for as a substring instead)."""
    return any(ch.isalnum() for ch in text)


def _fts_phrase(node: Text) -> str:
    # FTS5 reads a NUL as the end of the query ("unterminated string"): a space instead.
    text = unicodedata.normalize("NFC", node.text).replace("\x00", " ")
    quoted = '"' + text.replace('"', '""') + '"'
    return quoted + "*" if node.how == "prefix" else quoted


def _columns(expression: str, columns: Sequence[str]) -> str:
    return "{" + " ".join(columns) + "} : (" + expression + ")"


def _match(expression: str, probe: bool = False) -> Condition:
    # Not a prefix: FTS5 gathers every term of a prefix into one list for each look-up
    # (a probe per item of a walk took 40 s at a million items), so a prefix is listed once.
    if probe and '"*' not in expression:
        return exists().where(match_words(expression), search_fts.c.rowid == m.id)
    found = select(search_fts.c.rowid).where(match_words(expression))
    return m.id.in_(found)


def _pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _like_any(columns: Sequence[ColumnElement[Any]], text: str) -> Condition:
    return or_(*(c.ilike(_pattern(text), escape="\\") for c in columns))


def _in_tags(condition: Condition) -> Condition:
    found = select(item_tags.c.item_id).join(tags, tags.c.id == item_tags.c.tag_id)
    return m.id.in_(found.where(condition))


def _in_collections(condition: Condition) -> Condition:
    found = select(collection_items.c.item_id).join(
        collections, collections.c.id == collection_items.c.collection_id
    )
    return m.id.in_(found.where(condition))


def _text_match(columns: Sequence[ColumnElement[Any]], node: Field) -> Condition:
    if node.how == "exact":
        return or_(*(c == node.text for c in columns))
    if node.how == "regex":
        return or_(*(c.regexp_match(node.text) for c in columns))
    return _like_any(columns, node.text)


def _field(node: Field, fts: bool, probe: bool) -> Condition:
    name = node.name
    if name in _TEXT:
        columns, _indexed = _TEXT[name]
        if name in ("folder", "path") and node.text.startswith("/"):
            return _under(node.text)
        words = _field_words(node) if fts else None
        return _text_match(columns, node) if words is None else _match(words, probe)
    if name == "tag":
        return _in_tags(_text_match((tags.c.name,), node))
    if name == "collection":
        return _in_collections(_text_match((collections.c.name,), node))
    if name == "root":
        if node.text.startswith("/"):
            path = posixpath.normpath(node.text)
            return m.root_id.in_(select(roots.c.id).where(roots.c.path == path))
        return m.root_id.in_(select(roots.c.id).where(_text_match((roots.c.path,), node)))
    if name == "ext":
        ext = node.text.lower().lstrip(".")
        if node.how == "regex":
            return func.lower(m.name).regexp_match(node.text)
        suffix = "%." + ext.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return func.lower(m.name).like(suffix, escape="\\")
    if name == "status":
        found = status_condition(node.text)
        return found if found is not None else literal_column("1") == 1
    if name in _CHOICES:
        return _CHOICES[name] == node.text
    if name == "modified":
        return and_(*(_date_bound(m.mtime_ns, b, ns=True) for b in node.bounds))
    if name in _DATES:
        return and_(*(_date_bound(_DATES[name], b) for b in node.bounds))
    col = _NUMBERS[name]
    return and_(*(_number_bound(col, b) for b in node.bounds))


def _field_words(node: Field) -> str | None:
    """A text field's word-index expression (its words as prefixes, or its phrase, in its
    index columns), or None: not indexed, or not words (=exact, /regex/, a folder)."""
    _columns_of, indexed = _TEXT[node.name]
    if not indexed or node.how not in ("words", "phrase") or not _indexable(node.text):
        return None
    if node.name == "folder" and node.text.startswith("/"):
        return None
    if node.how == "phrase":
        return _columns(_fts_phrase(Text(node.text, "phrase")), indexed)
    words = " ".join(_fts_phrase(Text(w, "prefix")) for w in node.text.split())
    return _columns(words, indexed)


def _under(text: str) -> Condition:
    low, high = under(os.fsencode(posixpath.normpath(text)))
    return and_(m.path_key >= low, m.path_key < high)


def _number_bound(col: ColumnElement[Any], bound: Compare) -> Condition:
    value = bound.value
    assert isinstance(value, float)
    ops = {"=": col == value, "<": col < value, "<=": col <= value, ">": col > value,
           ">=": col >= value}  # fmt: skip
    return ops[bound.op]


def _date_bound(col: ColumnElement[Any], bound: Compare, ns: bool = False) -> Condition:
    """A date's period [start, end) against the operator: ``>2021`` is from 2022 on."""
    assert isinstance(bound.value, tuple)
    start: Any
    end: Any
    start, end = bound.value
    if ns:  # mtime_ns: nanoseconds since the epoch, the dates read as UTC
        start, end = (int(d.replace(tzinfo=UTC).timestamp() * 1e9) for d in (start, end))
    if bound.op == "=":
        return and_(col >= start, col < end)
    ops: dict[str, Condition] = {"<": col < start, "<=": col < end, ">": col >= end,
                                 ">=": col >= start}  # fmt: skip
    return ops[bound.op]


def now_utc() -> datetime:
    """Naive UTC, as the catalog's timestamps are."""
    return datetime.now(UTC).replace(tzinfo=None)
