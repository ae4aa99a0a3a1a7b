"""The search language's parser: every construct read into its tree, every error at its position."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import datetime

import pytest

from mediaforged.catalog.query import (
    FIELDS,
    And,
    Compare,
    Field,
    Not,
    Or,
    Query,
    QueryError,
    Text,
    parse,
)
from mediaforged.catalog.querysql import describe, split_words
from mediaforged.catalog.searchindex import COLUMNS

NOW = datetime(2026, 3, 10, 12, 0)


def _read(text: str) -> Query:
    return parse(text, NOW)


def _bounds(text: str) -> tuple[Compare, ...]:
    root = _read(text).root
    assert isinstance(root, Field)
    return root.bounds


def d(*parts: int) -> datetime:
    return datetime(*parts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("beatles", Text("beatles", "word")),
        ("beat*", Text("beat", "prefix")),
        ('"come together"', Text("come together", "phrase")),
        ("a b", And((Text("a", "word"), Text("b", "word")))),
        ("a OR b", Or((Text("a", "word"), Text("b", "word")))),
        ("a b OR c", Or((And((Text("a", "word"), Text("b", "word"))), Text("c", "word")))),
        ("a (b OR c)", And((Text("a", "word"), Or((Text("b", "word"), Text("c", "word")))))),
        ("-live", Not(Text("live", "word"))),
        ("-(a OR b)", Not(Or((Text("a", "word"), Text("b", "word"))))),
        ("a - b", And((Text("a", "word"), Text("-", "word"), Text("b", "word")))),
        ("or", Text("or", "word")),  # only the upper-case OR is the operator
        ("artist:beatles", Field("artist", "words", "beatles")),
        ('artist:"the beatles"', Field("artist", "phrase", "the beatles")),
        ("artist:=Beatles", Field("artist", "exact", "Beatles")),
        ("title:/^Let (It|Me)/", Field("title", "regex", "^Let (It|Me)")),
        ("title:/a\\/b/", Field("title", "regex", "a\\/b")),
        ("folder:/music/rock", Field("folder", "words", "/music/rock")),  # a path, not a regex
        ("type:audio", Field("type", "exact", "audio")),
        ("status:any", Field("status", "exact", "any")),
        ("tag:holiday", Field("tag", "words", "holiday")),
        ("-artist:x", Not(Field("artist", "words", "x"))),
        ("", None),
    ],
)
def test_constructs(text: str, tree: object) -> None:
    assert _read(text).root == tree


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("year:1965", (Compare("=", 1965.0),)),
        ("year:1965..1970", (Compare(">=", 1965.0), Compare("<=", 1970.0))),
        ("year:1965..", (Compare(">=", 1965.0),)),
        ("year:..1970", (Compare("<=", 1970.0),)),
        ("width:>=3840", (Compare(">=", 3840.0),)),
        ("height:<720", (Compare("<", 720.0),)),
        ("size:>2GB", (Compare(">", 2e9),)),
        ("size:<=1.5MiB", (Compare("<=", 1.5 * 2**20),)),
        ("size:1KB..2KB", (Compare(">=", 1000.0), Compare("<=", 2000.0))),
        ("size:512", (Compare("=", 512.0),)),
        ("duration:>1h", (Compare(">", 3600.0),)),
        ("duration:1h30m", (Compare("=", 5400.0),)),
        ("duration:<90s", (Compare("<", 90.0),)),
        ("duration:1:30", (Compare("=", 90.0),)),
        ("duration:1:02:03", (Compare("=", 3723.0),)),
        ("duration:3m..5m", (Compare(">=", 180.0), Compare("<=", 300.0))),
        ("taken:2021", (Compare("=", (d(2021, 1, 1), d(2022, 1, 1))),)),
        ("taken:2021-06", (Compare("=", (d(2021, 6, 1), d(2021, 7, 1))),)),
        ("taken:2021-12", (Compare("=", (d(2021, 12, 1), d(2022, 1, 1))),)),
        ("taken:2021-06-14", (Compare("=", (d(2021, 6, 14), d(2021, 6, 15))),)),
        ("taken:>=2021-06-14T10:30",
         (Compare(">=", (d(2021, 6, 14, 10, 30), d(2021, 6, 14, 10, 31))),)),
        ("taken:2020..2021-06", (Compare(">=", (d(2020, 1, 1), d(2021, 1, 1))),
                                 Compare("<=", (d(2021, 6, 1), d(2021, 7, 1))))),
        # An age: "added less than 7 days ago" is "added after now - 7 days".
        ("added:<7d", (Compare(">", (d(2026, 3, 3, 12), d(2026, 3, 3, 12))),)),
        ("added:>2w", (Compare("<", (d(2026, 2, 24, 12), d(2026, 2, 24, 12))),)),
        ("added:1y", (Compare(">=", (d(2025, 3, 10, 12), d(2025, 3, 10, 12))),)),
        ("modified:<12h", (Compare(">", (d(2026, 3, 10), d(2026, 3, 10))),)),
    ],
)  # fmt: skip
def test_measures(text: str, bounds: tuple[Compare, ...]) -> None:
    assert _bounds(text) == bounds


def test_sort_is_taken_out_of_the_tree() -> None:
    assert _read("sort:-taken") == Query(None, "-taken")
    assert _read("beatles sort:size") == Query(Text("beatles", "word"), "size")
    assert _read("a OR b sort:name") == Query(Or((Text("a", "word"), Text("b", "word"))), "name")
    assert _read("a sort:name b") == Query(And((Text("a", "word"), Text("b", "word"))), "name")


def test_a_query_is_read_in_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Café")
    assert _read(nfd).root == Text(unicodedata.normalize("NFC", "Café"), "word")


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ('"come together', 1, 'expected a closing " for this phrase'),
        ('a ""', 3, "expected words inside the quotes"),
        ("(a b", 1, 'expected ")" to close this "("'),
        ("a ()", 4, "expected a term inside the parentheses"),
        ("a)", 2, 'got ")" with no "("'),
        ("a OR", 3, "expected a term after OR"),
        ("a OR )", 3, "expected a term after OR"),
        ("be*t", 1, "expected * only at the end of a word"),
        ("artist:", 8, "expected a value after artist:"),
        ("artist: beatles", 8, "expected a value after artist:"),
        ("year:nineteen", 6, "expected a number"),
        ("year:1965..x", 12, "expected a number"),
        ("year:..", 6, "expected a bound on one side of .."),
        ("width:>=wide", 9, "expected a number"),
        ("size:>2XB", 7, "expected a size"),
        ("duration:long", 10, "expected a duration"),
        ("taken:2021-13", 7, "expected a date"),
        ("taken:yesterday", 7, "expected a date"),
        ('year:"1965"', 6, "got a phrase"),
        ("type:pdf", 6, "expected type: one of image, audio, video, other, got 'pdf'"),
        ("status:gone", 8, "expected status: one of present, missing, failed, offline, any"),
        ("title:/(/", 8, "bad regular expression"),
        ("title:/abc", 7, "expected a closing / for this regular expression"),
        ("sort:colour", 6, "expected a sort after sort:"),
        ("a OR sort:name", 6, "expected a term after OR, not only a sort:"),
        ("sort:name OR a", 1, "expected a term before OR, not only a sort:"),
        ("(sort:name)", 2, "sort: applies to the whole query"),
        ("-sort:name", 2, "sort: applies to the whole query"),
        ("sort:name sort:path", 11, "sort: given twice"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(
    text: str, position: int, expected: str
) -> None:
    with pytest.raises(QueryError) as caught:
        _read(text)
    assert caught.value.position == position
    assert caught.value.code == "bad_request"
    assert caught.value.message.startswith(f"query, at {position}: ")
    assert expected in caught.value.message


def test_an_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(QueryError) as caught:
        _read("beatles colour:red")
    assert caught.value.position == 9
    assert "unknown field 'colour'" in caught.value.message
    for name in (*FIELDS, "sort"):
        assert name in caught.value.message


def test_a_colon_in_a_plain_word_is_text() -> None:
    # Only lower-case letters before the colon make a field: a time or a URL is a word.
    assert _read("10:30").root == Text("10:30", "word")
    assert _read("Disc:2").root == Text("Disc:2", "word")


def test_describe_says_how_it_was_read() -> None:
    line = describe(_read('cafe beat* -"live at" year:1965..1970 (a OR tag:x)').root)
    assert line == (
        "(word 'cafe' AND prefix 'beat'* AND NOT phrase 'live at' AND year >= 1965 AND "
        "year <= 1970 AND (word 'a' OR tag has words 'x'))"
    )


@pytest.mark.parametrize(
    "text",
    ["albumartist:0 beatles", 'beatles artist:"the band"', "title:love artist:x*", "abbey road"],
)
def test_the_word_index_expression_is_valid_fts5(text: str) -> None:
    # FTS5's implicit AND joins bare phrases only: a column filter's "(...)" beside another
    # term is a syntax error unless the AND is written out.
    root = _read(text).root
    assert root is not None
    expression, _rest = split_words(root)
    assert expression is not None
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE search_fts USING fts5({', '.join(COLUMNS)})")
    db.execute("SELECT count(*) FROM search_fts WHERE search_fts MATCH ?", (expression,))
