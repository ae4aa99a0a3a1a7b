"""What every extractor shares: the error type, text cleaning, number and date parsing."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from mediaforged.fs.safepath import FileProblem, open_stream, open_under

__all__ = [
    "ExtractError",
    "clean_text",
    "exif_datetime",
    "iso_date",
    "join_values",
    "number_pair",
    "open_media",
    "open_media_fd",
    "to_float",
    "to_int",
]


class ExtractError(Exception):
    """A file the extractor could not read; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# A link on the way keeps its own code; a file that cannot be opened is "unreadable", as
# it was when the extractors opened it by path.
_REFUSALS = frozenset({"symlink", "not_under_root", "not_directory", "not_regular"})


def _refused(problem: FileProblem) -> ExtractError:
    code = problem.code if problem.code in _REFUSALS else "unreadable"
    return ExtractError(code, problem.message)


def open_media(root: bytes, path: bytes) -> BinaryIO:
    """The file as a binary stream, reached from its root without following a link at any
    component (``fs.safepath``); a refusal is an ExtractError."""
    try:
        return open_stream(root, path)
    except FileProblem as problem:
        raise _refused(problem) from None


def open_media_fd(root: bytes, path: bytes) -> int:
    """``open_media`` as a descriptor (for a child process): the caller closes it."""
    try:
        return open_under(root, path)
    except FileProblem as problem:
        raise _refused(problem) from None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: Any) -> str | None:
    """Tag text as clean Unicode: bytes decoded, UTF-8 read as Latin-1 repaired, NUL bytes,
    control characters and padding stripped; empty becomes None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = _decode(value)
    text = str(value)
    # Cut at the first NUL: fixed-size fields (ID3v1, RIFF INFO) are NUL-padded, and what
    # follows a NUL is leftover garbage, not text.
    text = text.split("\x00", 1)[0]
    text = _repair_latin1(text)
    text = _CONTROL.sub("", text).strip()
    return text or None


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _repair_latin1(text: str) -> str:
    """Taggers often store UTF-8 bytes in a frame marked Latin-1 ("BjÃ¶rk"): undo that."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def join_values(texts: list[str]) -> str | None:
    """Several values of one tag (artists, genres) as one display value; None if none."""
    return "; ".join(texts) if texts else None


def to_float(value: Any) -> float | None:
    """A number from a float, int, Fraction/IFDRational or numeric text; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(number):
        return None  # NaN and infinities (a 0/0 rational) are not measurements
    return number


def to_int(value: Any) -> int | None:
    number = to_float(value)
    return None if number is None else int(number)


def number_pair(value: Any) -> tuple[int | None, int | None]:
    """ "3/12", "3", (3, 12) or 3 as (number, total)."""
    if value is None:
        return None, None
    if isinstance(value, tuple | list):
        first = to_int(value[0]) if value else None
        second = to_int(value[1]) if len(value) > 1 else None
        return first or None, second or None
    text = clean_text(value) or ""
    head, _, tail = text.partition("/")
    return to_int(head.strip()) or None, to_int(tail.strip()) or None


_DATE = re.compile(r"^\s*(\d{4})(?:[-:/.](\d{1,2})(?:[-:/.](\d{1,2}))?)?")


def iso_date(value: Any) -> tuple[str | None, int | None]:
    """A tagged date ("2004", "2004-05", "2004-05-06T10:00:00", "2004:05:06") as ISO 8601
    text (as precise as it was tagged) and its year."""
    text = clean_text(value)
    if not text:
        return None, None
    match = _DATE.match(text)
    if match is None:
        return None, None
    year, month, day = match.groups()
    parts = [year]
    if month and 1 <= int(month) <= 12:
        parts.append(f"{int(month):02d}")
        if day and 1 <= int(day) <= 31:
            parts.append(f"{int(day):02d}")
    return "-".join(parts), int(year)


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def exif_datetime(
    value: Any, offset: Any = None, subsec: Any = None
) -> tuple[datetime | None, str | None]:
    """EXIF "YYYY:MM:DD HH:MM:SS" (+ OffsetTime "+02:00", SubSecTime) as a datetime (aware
    when the offset is known) and the offset text."""
    text = clean_text(value)
    if not text:
        return None, None
    try:
        when = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, None
    digits = clean_text(subsec)
    if digits and digits.isdigit():
        when = when.replace(microsecond=int(digits[:6].ljust(6, "0")))
    offset_text = clean_text(offset)
    match = _OFFSET.match(offset_text or "")
    if match is None:
        return when, None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    tz = timezone(-delta if sign == "-" else delta)
    return when.replace(tzinfo=tz), f"{sign}{hours}:{minutes}"
