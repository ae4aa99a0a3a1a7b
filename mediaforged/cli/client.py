"""mediaforgectl's plumbing: the blocking socket client, exit codes, consoles and output
helpers shared by its command modules (ctl.py, ctl_library.py)."""

from __future__ import annotations

import itertools
import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from mediaforged.config import ConfigError, load_config
from mediaforged.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    ErrorCode,
    JobsProgress,
    decode_reply,
    encode,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_NOPERM",
    "EXIT_PROTOCOL",
    "EXIT_TEMPFAIL",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "Client",
    "CommandFailed",
    "DaemonUnavailable",
    "JsonOption",
    "ProgressDisplay",
    "ago",
    "call",
    "clean",
    "connect",
    "err",
    "middle_cut",
    "out",
    "print_json",
    "safe",
    "settings",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE
EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL
EXIT_PROTOCOL = 76  # sysexits EX_PROTOCOL: the daemon runs, but its reply could not be read
EXIT_NOPERM = 77  # sysexits EX_NOPERM

# The errors that have an exit code of their own: busy is a limited connection's answer
# to anything but status and ping when the daemon is at control_max_clients.
# A bad request is a usage error: the arguments given to mediaforgectl were wrong.
_EXIT_OF = {
    ErrorCode.FORBIDDEN: EXIT_NOPERM,
    ErrorCode.BUSY: EXIT_TEMPFAIL,
    ErrorCode.BAD_REQUEST: EXIT_USAGE,
}

out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)


class DaemonUnavailable(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CommandFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Client:
    """A blocking client: one request at a time, progress lines passed to a callback."""

    def __init__(self, path: Path, timeout: float | None = 30.0) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            self._sock.close()
            raise DaemonUnavailable(
                f"mediaforged is not running (nothing listens on {path}). "
                "Start it: `systemctl start mediaforged`, or run `mediaforged --root PATH`.",
                EXIT_UNAVAILABLE,
            ) from None
        except PermissionError:
            self._sock.close()
            raise DaemonUnavailable(
                f"permission denied on {path}. Join the socket's group "
                "(e.g. `sudo usermod -aG mediaforge $USER`, then log in again) or use sudo.",
                EXIT_NOPERM,
            ) from None
        self._file = self._sock.makefile("rb")
        self._ids = itertools.count(1)
        self.hello = self._read()
        if self.hello.get("ok") is False:  # refused at once: too many connections
            self.close()
            error = self.hello.get("error") or {}
            raise DaemonUnavailable(f"mediaforged is busy: {error.get('message')}", EXIT_TEMPFAIL)
        if self.hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise DaemonUnavailable(
                f"mediaforged {self.hello.get('version')} speaks protocol "
                f"{self.hello.get('protocol')}, this mediaforgectl {PROTOCOL_VERSION}: "
                "use the mediaforgectl installed with the daemon",
                EXIT_USAGE,
            )
        self.read_only = self.hello.get("access") == "read-only"

    def _read(self) -> dict[str, Any]:
        line = self._file.readline(MAX_LINE + 1)
        if not line:
            raise DaemonUnavailable("mediaforged closed the connection", EXIT_UNAVAILABLE)
        # The daemon is running: a line we cannot read is a protocol error, not "no daemon".
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            raise DaemonUnavailable(
                f"mediaforged sent a line longer than {MAX_LINE} bytes, the protocol's limit: "
                "ask for fewer (a lower --limit), or use the mediaforgectl installed with it",
                EXIT_PROTOCOL,
            )
        try:
            return decode_reply(line)
        except ValueError as exc:
            raise DaemonUnavailable(f"not a mediaforged reply: {exc}", EXIT_PROTOCOL) from None

    def call(
        self,
        cmd: str,
        args: dict[str, Any] | None = None,
        on_progress: Callable[[JobsProgress], None] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        request_id = next(self._ids)
        self._sock.sendall(encode({"id": request_id, "cmd": cmd, "args": args or {}}))
        while True:
            message = self._read()
            if "progress" in message:
                if on_progress is not None:
                    on_progress(message["progress"])
                continue
            if "event" in message:
                if on_event is not None:
                    on_event(message)
                continue
            if message.get("ok"):
                return message.get("result")
            error = message.get("error") or {}
            raise CommandFailed(str(error.get("code")), str(error.get("message")))

    def close(self) -> None:
        self._file.close()
        self._sock.close()


# --socket and --config, set by the command line's callback in ctl.py
settings: dict[str, Any] = {}


def socket_path() -> Path:
    if settings.get("socket"):
        return Path(settings["socket"])
    try:
        return load_config(settings.get("config")).socket_path
    except ConfigError as exc:
        err.print(f"mediaforgectl: invalid configuration: {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def connect(timeout: float | None = 30.0) -> Client:
    try:
        return Client(socket_path(), timeout)
    except DaemonUnavailable as exc:
        err.print(f"mediaforgectl: {exc}")
        raise typer.Exit(exc.exit_code) from None


def call(cmd: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    client = connect(kw.pop("timeout", 30.0))
    try:
        return client.call(cmd, args, **kw)
    except CommandFailed as exc:
        if exc.code == ErrorCode.CANCELLED:
            err.print(f"mediaforgectl: {cmd} {exc}")
        else:
            err.print(f"mediaforgectl: {cmd} failed: {exc} [{exc.code}]")
        raise typer.Exit(_EXIT_OF.get(exc.code, EXIT_ERROR)) from None
    except DaemonUnavailable as exc:
        err.print(f"mediaforgectl: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except (TimeoutError, ConnectionError) as exc:
        err.print(f"mediaforgectl: lost the connection to mediaforged: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    finally:
        client.close()


def clean(text: str) -> str:
    """File names may hold newlines, tabs or ANSI escapes: escaped, never interpreted."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def safe(text: str) -> Text:
    """``clean`` text as a Rich ``Text`` (never read as markup)."""
    return Text(clean(text))


def middle_cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: a path too long loses its middle, marked by
    an ellipsis, and keeps its start and its file name (cut itself only when it alone is
    wider)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    name = "/" + text.rsplit("/", 1)[-1] if "/" in text else text
    keep = width - 1  # the ellipsis
    # The whole name if a few characters of the start fit beside it; else most of it.
    tail = max(len(name), keep // 2) if len(name) + 4 <= keep else keep - keep // 3
    return text[: keep - tail] + "…" + text[len(text) - tail :]


def ago(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    seconds = max(time.time() - epoch, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class ProgressDisplay:
    """A Rich progress bar on a terminal; a line every few seconds on stderr otherwise."""

    def __init__(self, interactive: bool) -> None:
        self._interactive = interactive
        self._bar: Progress | None = None
        self._tasks: dict[int, Any] = {}
        self._last = time.monotonic()  # the first line after 5 s: quick rescans print none

    def __enter__(self) -> Callable[[JobsProgress], None]:
        if self._interactive:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
            self._bar.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, progress: JobsProgress) -> None:
        for job in progress["jobs"]:
            if self._bar is not None:
                label = f"{job['kind']} {safe(job['path'])}"
                if job["job"] not in self._tasks:
                    self._tasks[job["job"]] = self._bar.add_task(label, total=None)
                self._bar.update(
                    self._tasks[job["job"]],
                    completed=job["done"],
                    total=job["queued"] if job["walk_finished"] else None,
                    description=f"{label} ({job['walked']} seen)",
                )
            elif time.monotonic() - self._last > 5:
                self._last = time.monotonic()
                err.print(
                    Text.assemble(
                        safe(job["path"]),
                        f": {job['walked']} seen, {job['done']}/{job['queued']} indexed",
                    )
                )
