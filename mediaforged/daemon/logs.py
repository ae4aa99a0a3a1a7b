"""Logging: structlog to stderr, readable on a terminal, one JSON object per line otherwise.

Under systemd (stderr is the journal stream named by ``$JOURNAL_STREAM``) every line starts
with a ``<N>`` syslog priority, which journald strips and keeps as the entry's PRIORITY, so
``journalctl -p warning -u mediaforged`` shows exactly the warnings and errors.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any

import structlog

__all__ = ["configure_logging", "is_journal_stream"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# syslog(3) priorities, as sd-daemon(3) prefixes use them.
_PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}


def is_journal_stream(stream: IO[Any]) -> bool:
    """True when ``stream`` is connected to journald (systemd sets JOURNAL_STREAM=dev:inode)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's captured stream)
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def _with_priority(render: Any) -> structlog.typing.Processor:
    def prefix(logger: Any, method: str, event: structlog.typing.EventDict) -> str:
        priority = _PRIORITIES.get(str(event.get("level", method)), 6)
        return f"<{priority}>{render(logger, method, event)}"

    return prefix


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """The only global state of the daemon: set once in main(), again on SIGHUP."""
    journal = is_journal_stream(sys.stderr)
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() and not journal else "json"
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    render: structlog.typing.Processor
    if fmt == "json":
        processors.append(structlog.processors.format_exc_info)
        render = structlog.processors.JSONRenderer(ensure_ascii=True)
    else:
        render = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty() and not journal)
    processors.append(_with_priority(render) if journal else render)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
