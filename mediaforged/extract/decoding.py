"""Which files are being decoded right now, so that what a C library writes to stderr (libtiff,
libjpeg) and the warnings Pillow raises can be logged with the file they concern.

The stages wrap each file's extraction, thumbnail or verification in ``decoding(path)``; the
log side (``daemon/logs.py``) asks ``current()`` when a line arrives. A warning raised in the
decoding thread knows its file exactly (``mine()``); a line on file descriptor 2 cannot say
which thread wrote it, so it names every file in flight (usually one)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from mediaforged.fs.fsio import display_path

__all__ = ["current", "decoding", "mine", "thread_decoding"]

_lock = threading.Lock()
_in_flight: Counter[bytes] = Counter()
_local = threading.local()


@contextlib.contextmanager
def decoding(path: bytes) -> Iterator[None]:
    """``path`` is being decoded (by any thread or child process) inside this block."""
    with _lock:
        _in_flight[path] += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight[path] -= 1
            if _in_flight[path] <= 0:
                del _in_flight[path]


@contextlib.contextmanager
def thread_decoding(path: bytes) -> Iterator[None]:
    """``path`` is decoded by this very thread inside this block (its warnings name it)."""
    previous = getattr(_local, "path", None)
    _local.path = path
    try:
        with decoding(path):
            yield
    finally:
        _local.path = previous


def mine() -> str | None:
    """The file this thread decodes, if it said so."""
    path = getattr(_local, "path", None)
    return display_path(path) if path is not None else None


def current() -> list[str]:
    """Every file being decoded now, as display paths."""
    with _lock:
        return sorted(display_path(p) for p in _in_flight)
