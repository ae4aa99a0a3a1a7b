"""The search language: text in, a tree out (pure: no I/O, no SQL; ``querysql`` compiles it).

Grammar (whitespace separates terms; ``AND`` is implied between neighbours)::

    query   := or_expr?
    or_expr := and_expr ( "OR" and_expr )*
    and_expr:= unary+
    unary   := "-" unary | "(" or_expr ")" | term
    term    := WORD | WORD"*" | '"' PHRASE '"' | FIELD ":" value | "sort:" ["-"] SORT
    value   := '"' PHRASE '"' | "/" REGEX "/" | "=" WORD | WORD | CMP WORD | WORD ".." WORD
    CMP     := ">" | ">=" | "<" | "<="          (WORD.. and ..WORD are open ranges)

Bare words, phrases and prefixes match the indexed text, ignoring case and accents. A
field's value depends on its kind (``FIELDS``): text (words in that field, ``=`` exact,
``/regex/``), a choice (``type:audio``), a number, a size (``2GB``, ``500KiB``), a duration
(``90``, ``5m``, ``1h30m``, ``1:30``), a date (``2021``, ``2021-06``, ``2021-06-14``, or an
age: ``7d``, ``2w``, ``1y``; ``added:<7d`` is "less than 7 days ago"). An error names the
position (from 1) and what was expected there.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from mediaforged.protocol import ErrorCode, ProtocolError

__all__ = [
    "FIELDS",
    "PATHS",
    "SORT_NAMES",
    "And",
    "Compare",
    "Field",
    "Node",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "Text",
    "parse",
]

Kind = Literal["text", "choice", "number", "size", "duration", "date"]
# Every field and its kind. The compiler (querysql) maps each to columns.
FIELDS: dict[str, Kind] = {
    **dict.fromkeys(
        ("artist", "album", "albumartist", "title", "genre", "composer", "camera", "lens",
         "codec", "container", "mime", "ext", "name", "folder", "path", "root", "tag",
         "collection", "error"),
        "text",
    ),
    "type": "choice",
    "status": "choice",
    **dict.fromkeys(
        ("year", "width", "height", "track", "disc", "bitrate", "samplerate", "channels",
         "iso", "fps"),
        "number",
    ),
    "size": "size",
    "duration": "duration",
    **dict.fromkeys(("taken", "added", "modified"), "date"),
}  # fmt: skip
CHOICES = {
    "type": ("image", "audio", "video", "other"),
    "status": ("present", "missing", "failed", "offline", "any"),
}
# Fields whose value is a path: "/..." is a folder there, not a regular expression.
PATHS = ("folder", "path", "root")
SORT_NAMES = ("path", "name", "size", "added", "modified", "taken", "duration", "artist",
              "album")  # fmt: skip

_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}  # fmt: skip
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?", re.IGNORECASE)
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_AGE = re.compile(r"(\d+)([hdwy]|mo)")
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
              "mo": timedelta(days=30), "y": timedelta(days=365)}  # fmt: skip
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2}))?)?)?")


class QueryError(ProtocolError):
    """bad_request, with the (1-based) position of what could not be read."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(ErrorCode.BAD_REQUEST, f"query, at {position}: {message}")
        self.position = position


@dataclass(frozen=True)
class Text:
    """Words of the indexed text: ``word``, ``prefix*`` or a ``"phrase"``."""

    text: str
    how: Literal["word", "prefix", "phrase"]


@dataclass(frozen=True)
class Compare:
    """A bound: ``op`` one of = < <= > >=; a date's value is its period [start, end)."""

    op: str
    value: float | tuple[datetime, datetime]


@dataclass(frozen=True)
class Field:
    name: str
    how: Literal["words", "phrase", "exact", "regex", "compare", "range"]
    text: str = ""  # words, exact, regex
    bounds: tuple[Compare, ...] = ()  # compare (one), range (one or two)


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Text | Field | Not | And | Or


@dataclass(frozen=True)
class Query:
    root: Node | None
    sort: str | None  # "taken" or "-taken"


def parse(text: str, now: datetime) -> Query:
    """The query's tree; ``now`` (naive UTC) anchors ages (``added:<7d``)."""
    parser = _Parser(unicodedata.normalize("NFC", text), now)
    return parser.query()


class _Parser:
    def __init__(self, text: str, now: datetime) -> None:
        self.text = text
        self.i = 0
        self.now = now
        self.sort: str | None = None
        self.depth = 0  # inside parentheses or a NOT: sort is not allowed there

    def query(self) -> Query:
        self._space()
        root = None if self._end() else self._or()
        if root is _SORT:
            root = None
        if not self._end():  # only a ")" can stop the top level early
            raise QueryError(self.i + 1, 'expected a term or the end, got ")" with no "("')
        return Query(root, self.sort)

    def _end(self) -> bool:
        return self.i >= len(self.text)

    def _space(self) -> None:
        while not self._end() and self.text[self.i].isspace():
            self.i += 1

    def _peek_word(self) -> str:
        j = self.i
        while j < len(self.text) and not self.text[j].isspace() and self.text[j] not in "()":
            j += 1
        return self.text[self.i : j]

    def _or(self) -> Node:
        """OR binds looser than AND; a sort: in any operand (not in parentheses or after -)
        is the whole query's."""
        parts = [self._and()]
        while not self._end() and self._peek_word() == "OR":
            at = self.i
            self.i += 2
            self._space()
            if self._end() or self.text[self.i] == ")":
                raise QueryError(at + 1, "expected a term after OR")
            operand_at = self.i
            parts.append(self._and())
            if parts[-1] is _SORT:
                raise QueryError(operand_at + 1, "expected a term after OR, not only a sort:")
        if len(parts) > 1 and parts[0] is _SORT:
            raise QueryError(1, "expected a term before OR, not only a sort:")
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and(self) -> Node:
        parts: list[Node] = []
        while not self._end() and self.text[self.i] != ")":
            if parts and self._peek_word() == "OR":
                break
            parts.append(self._unary())
            self._space()
        if not parts:
            raise QueryError(self.i + 1, "expected a term")
        kept = [p for p in parts if p is not _SORT]
        if not kept:
            return _SORT
        return kept[0] if len(kept) == 1 else And(tuple(kept))

    def _unary(self) -> Node:
        at = self.i
        char = self.text[self.i]
        if char == "-" and self.i + 1 < len(self.text) and not self.text[self.i + 1].isspace():
            self.i += 1
            self.depth += 1
            child = self._unary()
            self.depth -= 1
            if child is _SORT:
                raise QueryError(at + 1, "sort: cannot be negated (write sort:-name)")
            return Not(child)
        if char == "(":
            self.i += 1
            self.depth += 1
            self._space()
            if self._end() or self.text[self.i] == ")":
                raise QueryError(self.i + 1, "expected a term inside the parentheses")
            inner = self._or()
            self.depth -= 1
            if self._end():
                raise QueryError(at + 1, 'expected ")" to close this "("')
            self.i += 1
            return inner
        if char == '"':
            return Text(self._phrase(), "phrase")
        return self._term()

    def _phrase(self) -> str:
        at = self.i
        end = self.text.find('"', self.i + 1)
        if end < 0:
            raise QueryError(at + 1, 'expected a closing " for this phrase')
        self.i = end + 1
        words = self.text[at + 1 : end].strip()
        if not words:
            raise QueryError(at + 1, "expected words inside the quotes")
        return words

    def _term(self) -> Node:
        at = self.i
        word = self._peek_word()
        name, colon, _rest = word.partition(":")
        if colon and re.fullmatch(r"[a-z_]+", name):
            self.i += len(name) + 1
            if name == "sort":
                return self._sort(at)
            if name not in FIELDS:
                raise QueryError(
                    at + 1,
                    f"unknown field {name!r}: known fields are {', '.join(sorted(FIELDS))}, sort",
                )
            return self._field(name, at)
        self.i += len(word)
        if word.endswith("*") and len(word) > 1:
            return Text(word[:-1], "prefix")
        if "*" in word:
            raise QueryError(
                at + 1, f"expected * only at the end of a word (a prefix), got {word!r}"
            )
        return Text(word, "word")

    def _sort(self, at: int) -> Node:
        value = self._peek_word()
        self.i += len(value)
        if value.lstrip("-") not in SORT_NAMES:
            raise QueryError(
                at + 6, f"expected a sort after sort: ({', '.join(SORT_NAMES)}; -X: descending)"
            )
        if self.depth:
            raise QueryError(at + 1, "sort: applies to the whole query: not inside ( ) or -")
        if self.sort is not None:
            raise QueryError(at + 1, "sort: given twice")
        self.sort = value
        return _SORT

    def _field(self, name: str, at: int) -> Field:
        start = self.i
        kind = FIELDS[name]
        if self._end() or self.text[self.i].isspace() or self.text[self.i] in "()":
            raise QueryError(start + 1, f"expected a value after {name}:")
        char = self.text[self.i]
        if char == '"':
            phrase = self._phrase()
            return self._text_value(name, kind, "phrase", phrase, start)
        if char == "/" and kind == "text" and name not in PATHS:
            end = self.text.find("/", self.i + 1)
            while end > 0 and self.text[end - 1] == "\\":
                end = self.text.find("/", end + 1)
            if end < 0:
                raise QueryError(start + 1, "expected a closing / for this regular expression")
            pattern = self.text[self.i + 1 : end]
            self.i = end + 1
            try:
                re.compile(pattern)
            except re.error as e:
                raise QueryError(
                    start + 2 + (e.pos or 0), f"bad regular expression: {e.msg}"
                ) from None
            return Field(name, "regex", pattern)
        value = self._peek_word()
        self.i += len(value)
        if kind in ("text", "choice"):
            if value.startswith("="):
                return self._text_value(name, kind, "exact", value[1:], start + 1)
            return self._text_value(name, kind, "words", value, start)
        return self._measure(name, kind, value, start)

    def _text_value(self, name: str, kind: Kind, how: str, value: str, at: int) -> Field:
        if not value:
            raise QueryError(at + 1, f"expected a value after {name}:")
        if kind == "choice":
            allowed = CHOICES[name]
            if value not in allowed:
                raise QueryError(
                    at + 1, f"expected {name}: one of {', '.join(allowed)}, got {value!r}"
                )
            return Field(name, "exact", value)
        if kind != "text":
            raise QueryError(at + 1, f"expected a {_EXPECT[kind]} after {name}:, got a phrase")
        return Field(name, how, value)  # type: ignore[arg-type]

    def _measure(self, name: str, kind: Kind, value: str, at: int) -> Field:
        if ".." in value:
            low, _, high = value.partition("..")
            if not low and not high:
                raise QueryError(at + 1, f"expected a bound on one side of .. after {name}:")
            bounds = []
            if low:
                bounds.append(self._bound(name, kind, ">=", low, at))
            if high:
                bounds.append(self._bound(name, kind, "<=", high, at + len(low) + 2))
            return Field(name, "range", bounds=tuple(bounds))
        op = next((o for o in (">=", "<=", ">", "<", "=") if value.startswith(o)), "=")
        rest = value[len(op) :] if value.startswith(op) else value
        return Field(
            name,
            "compare",
            bounds=(self._bound(name, kind, op, rest, at + len(value) - len(rest)),),
        )

    def _bound(self, name: str, kind: Kind, op: str, text: str, at: int) -> Compare:
        parsed = _measure(kind, text, self.now, op)
        if parsed is None:
            raise QueryError(at + 1, f"expected a {_EXPECT[kind]} after {name}:, got {text!r}")
        return parsed


_EXPECT = {
    "number": "number (3, >=3840, 1965..1970)",
    "size": "size (2GB, >500MB, 1GiB..2GiB)",
    "duration": "duration (90, >1h, 3m..5m, 1:30)",
    "date": "date (2021, 2021-06, 2021-06-14, >=2021-06-14T10:00) or age (<7d, >2w, 1y)",
    "text": "text",
    "choice": "choice",
}
_SORT: Node = And(())  # a placeholder for a sort term, dropped from the tree


def _measure(kind: Kind, text: str, now: datetime, op: str) -> Compare | None:
    if kind == "number":
        return Compare(op, float(text)) if _NUMBER.fullmatch(text) else None
    if kind == "size":
        m = _SIZE.fullmatch(text)
        return Compare(op, float(m[1]) * _UNITS[(m[2] or "b").lower()]) if m else None
    if kind == "duration":
        return _duration(text, op)
    return _date(text, now, op)


def _duration(text: str, op: str) -> Compare | None:
    clock = _CLOCK.fullmatch(text)
    if clock:
        return Compare(op, int(clock[1] or 0) * 3600 + int(clock[2]) * 60 + float(clock[3]))
    m = _DURATION.fullmatch(text)
    if text and m:
        h, mi, s = (float(x) if x else 0.0 for x in m.groups())
        return Compare(op, h * 3600 + mi * 60 + s)
    return Compare(op, float(text)) if _NUMBER.fullmatch(text) else None


def _date(text: str, now: datetime, op: str) -> Compare | None:
    """A date's period [start, end). An age flips the comparison: ``<7d`` is "newer than
    7 days ago", so its period is (now - 7 days, now] with the operator reversed."""
    age = _AGE.fullmatch(text)
    if age:
        when = now - int(age[1]) * _AGE_UNITS[age[2]]
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": ">="}[op]
        return Compare(flipped, (when, when))
    m = _DATE.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute = (int(x) if x else None for x in m.groups())
    try:
        start = datetime(year or 1, month or 1, day or 1, hour or 0, minute or 0)
    except ValueError:
        return None
    if minute is not None:
        end = start + timedelta(minutes=1)
    elif day is not None:
        end = start + timedelta(days=1)
    elif month is not None:
        end = datetime(year + (month == 12), month % 12 + 1, 1)  # type: ignore[operator]
    else:
        end = datetime(start.year + 1, 1, 1)
    return Compare(op, (start, end))
