"""Logging: structlog to stderr, readable on a terminal, one JSON object per line otherwise.

Under systemd (stderr is the journal stream named by ``$JOURNAL_STREAM``) every line starts
with a ``<N>`` syslog priority, which journald strips and keeps as the entry's PRIORITY, so
``journalctl -p warning -u mediaforged`` shows exactly the warnings and errors.

A log stream must never stop the daemon: under ``mediaforged ... 2>&1 | tee log`` a Ctrl-C
kills tee, and every later write fails with EPIPE (the log call raised, so a SIGTERM's
handler never set the stop, and a command's connection closed); a pipe nobody reads fills
and a blocking write would hold the event loop. So each line is written at once or dropped
(``LogStream``), and the next line that can be written is preceded by a
``log_lines_dropped`` line with the count. The standard library's loggers (asyncio's) and
warnings go the same way: a warning (Pillow's) is a ``python_warning`` event naming the file
being decoded. What C libraries write to file descriptor 2 (libtiff, libjpeg) would be raw
text in the JSON stream: ``capture_native_stderr`` turns descriptor 2 into a pipe whose lines
become ``native_stderr`` events, with the files being decoded at the time
(``extract/decoding.py``); the log lines themselves go to a copy of the original stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import socket
import stat
import sys
import termios
import threading
import warnings
from collections.abc import Callable
from typing import IO, Any

import structlog

from mediaforged.extract.decoding import current, mine

__all__ = ["LogStream", "capture_native_stderr", "configure_logging", "is_journal_stream"]

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


_F_GETPIPE_SZ = 1032  # fcntl.F_GETPIPE_SZ (Linux)


class LogStream:
    """Where the log lines go (stderr), written without ever blocking or raising: a line
    that cannot be written whole at once (a full pipe, a reader gone, a full disk) is
    dropped and counted; the next line written is preceded by ``notice(count)``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.dropped = 0
        self.notice: Callable[[int], str] | None = None
        self._lock = threading.Lock()
        self._cut = False  # a line was written in part: the next one starts on a new line
        self._own = -1  # our own non-blocking open of a pipe
        self._sock: socket.socket | None = None
        self._fd = -1
        try:
            fd = stream.fileno()
            mode = os.fstat(fd).st_mode
        except (OSError, ValueError, AttributeError):
            return  # no descriptor (a test's captured stream): through stream.write
        self._fd = fd
        if stat.S_ISFIFO(mode):
            # A description of our own, so that O_NONBLOCK does not change the pipe for the
            # others writing to it (the shell that started us).
            with contextlib.suppress(OSError):  # no /proc, or no reader left (ENXIO)
                self._own = self._fd = os.open(
                    f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC
                )
        elif stat.S_ISSOCK(mode):  # journald's stream: MSG_DONTWAIT, one send at a time
            with contextlib.suppress(OSError):
                self._sock = socket.socket(fileno=os.dup(fd))

    def line(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace") + b"\n"
        with self._lock:
            if self.dropped and self.notice is not None:
                data = self.notice(self.dropped).encode("utf-8", "backslashreplace") + b"\n" + data
            if self._cut:
                data = b"\n" + data
            if self._put(data):
                self.dropped = 0
            else:
                self.dropped += 1

    def _put(self, data: bytes) -> bool:
        """Write ``data`` whole, now, or (nearly always) nothing; False if it was not."""
        try:
            if self._fd < 0:
                self.stream.write(data.decode("utf-8"))
                self.stream.flush()
                return True
            if self._sock is not None:
                sent = self._sock.send(data, socket.MSG_DONTWAIT)
            elif self._own >= 0:
                if len(data) > select.PIPE_BUF and len(data) > self._room():
                    return False  # it would be written in part
                sent = os.write(self._fd, data)
            else:  # a terminal, a file, or a pipe we could not open again
                if not select.select([], [self._fd], [], 0)[1]:
                    return False
                sent = os.write(self._fd, data)
        except (OSError, ValueError):  # EAGAIN: full; EPIPE: its reader is gone; ENOSPC
            return False
        self._cut = sent < len(data)  # another writer took the room meanwhile
        return not self._cut

    def _room(self) -> int:
        """Free bytes in our pipe."""
        try:
            size = fcntl.fcntl(self._fd, _F_GETPIPE_SZ)
            queued = int.from_bytes(
                fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder
            )
        except OSError:
            return 0
        return int(size) - queued

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._own >= 0:
            with contextlib.suppress(OSError):
                os.close(self._own)
            self._own = self._fd = -1


class _LineLogger:
    """structlog's logger: each rendered event is one line of the stream."""

    def __init__(self, stream: LogStream) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        self._stream.line(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _ToStructlog(logging.Handler):
    """The standard library's records (asyncio's "Task exception was never retrieved", a
    warning) as structlog events: rendered alike, and never a blocking write to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(record.name)
        logger.log(record.levelno, record.getMessage(), exc_info=record.exc_info or None)


_stream: LogStream | None = None


def _log_stream() -> LogStream:
    global _stream  # noqa: PLW0603 - the one stream of the logging configuration
    if _stream is None or _stream.stream is not sys.stderr:
        if _stream is not None:
            _stream.close()
        _stream = LogStream(sys.stderr)
    return _stream


def _render_notice(processors: list[structlog.typing.Processor]) -> Callable[[int], str]:
    def notice(lines: int) -> str:
        event: Any = {
            "event": "log_lines_dropped",
            "lines": lines,
            "why": "the log stream was full or its reader had gone",
        }
        for processor in processors:
            event = processor(None, "warning", event)
        return str(event)

    return notice


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
    stream = _log_stream()
    stream.notice = _render_notice(processors)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *_args: _LineLogger(stream),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if not any(isinstance(h, _ToStructlog) for h in root.handlers):
        root.addHandler(_ToStructlog(logging.WARNING))
    logging.captureWarnings(True)  # then ours: the same route, with the file it concerns
    warnings.showwarning = _show_warning


def _files() -> dict[str, Any]:
    """The file being decoded, for a log line about it: the thread's own, else every one in
    flight (a line on descriptor 2 cannot say which thread wrote it)."""
    own = mine()
    if own is not None:
        return {"path": own}
    files = current()
    if len(files) == 1:
        return {"path": files[0]}
    return {"paths": files[:20]} if files else {}


def _show_warning(  # noqa: PLR0917 - the signature warnings.showwarning calls
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: IO[str] | None = None,
    line: str | None = None,
) -> None:
    structlog.get_logger("py.warnings").warning(
        "python_warning",
        category=category.__name__,
        message=str(message),
        where=f"{filename}:{lineno}",
        **_files(),
    )


_native_captured = False
_NATIVE_KEPT = 2000  # characters of one line


def capture_native_stderr() -> bool:
    """Descriptor 2 becomes a pipe read by a thread that logs each line as a ``native_stderr``
    event; ``sys.stderr`` (the log stream) moves to a copy of the real stderr. Children
    started without a stderr of their own write to the pipe too. Call before
    ``configure_logging``; False if it could not be done (the log is as before)."""
    global _native_captured  # noqa: PLW0603 - descriptor 2 is process-wide
    if _native_captured:
        return True
    try:
        sys.stderr.flush()
        saved = os.dup(2)  # not inheritable: children get the pipe
        read, write = os.pipe()
    except (OSError, ValueError):
        return False
    sys.stderr = os.fdopen(saved, "w", encoding="utf-8", errors="backslashreplace")
    os.dup2(write, 2)
    os.close(write)
    os.set_inheritable(read, False)
    threading.Thread(target=_pump, args=(read,), name="native-stderr", daemon=True).start()
    _native_captured = True
    return True


def _pump(fd: int) -> None:
    log = structlog.get_logger("mediaforged.stderr")
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except InterruptedError:
            continue
        except OSError:
            return
        if not chunk:
            return
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > _NATIVE_KEPT:  # a line without an end: log what came so far
            lines.append(pending)
            pending = b""
        for raw in lines:
            text = raw.decode("utf-8", "backslashreplace").strip()
            if text:
                try:
                    log.warning("native_stderr", line=text[:_NATIVE_KEPT], **_files())
                except Exception:  # the pipe must be drained, whatever happens
                    continue
