"""The control commands: plain async functions over the daemon's parts, independent of transport.

Each takes the ``Context``, the request's ``args`` and a ``progress`` callback (long commands
report through it) and returns a JSON-able result or raises ``ProtocolError``. One module per
group of commands, each with its own ``COMMANDS`` table; ``COMMANDS`` here joins them.

Imports: ``control.context``, ``catalog`` (reads; writes go through the writer), ``state``,
``protocol``, ``config``, ``fs``. The stages they drive come in the ``Context``.
"""

from __future__ import annotations

from typing import Any

from mediaforged import __version__
from mediaforged.control.commands import (
    events,
    failures,
    folders,
    jobs,
    metrics,
    queries,
    roots,
    search,
    similar,
    status,
    targets,
    tokens,
    userdata,
)
from mediaforged.control.context import Context, Progress, Spec, arg
from mediaforged.protocol import PROTOCOL_VERSION, ErrorCode, HelloReply, PingReply, ProtocolError

__all__ = ["COMMANDS", "Context", "Progress", "Spec", "command_spec"]


async def ping(ctx: Context, args: dict[str, Any], progress: Progress) -> PingReply:
    return {"pong": True, "version": __version__, "protocol": PROTOCOL_VERSION}


async def hello(ctx: Context, args: dict[str, Any], progress: Progress) -> HelloReply:
    """The client says which protocol it speaks; the daemon says what it offers."""
    wanted = arg(args, "protocol", int, PROTOCOL_VERSION)
    if wanted != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_PROTOCOL,
            f"this mediaforged speaks protocol {PROTOCOL_VERSION}, not {wanted}: "
            "use the mediaforgectl of the same version",
        )
    arg(args, "client", str)
    return {
        "server": "mediaforged",
        "version": __version__,
        "protocol": PROTOCOL_VERSION,
        "commands": sorted(COMMANDS),
    }


COMMANDS: dict[str, Spec] = {
    "hello": Spec(hello, ("protocol", "client")),
    "ping": Spec(ping),
    **status.COMMANDS,
    **jobs.COMMANDS,
    **events.COMMANDS,
    **queries.COMMANDS,
    **folders.COMMANDS,
    **failures.COMMANDS,
    **search.COMMANDS,
    **userdata.COMMANDS,
    **metrics.COMMANDS,
    **roots.COMMANDS,
    **tokens.COMMANDS,
    **targets.COMMANDS,
    **similar.COMMANDS,
}


def command_spec(name: str, args: dict[str, Any]) -> Spec:
    """The command's Spec, once its arguments are ones it takes: the check both transports
    (the socket and HTTP) make before running a command."""
    spec = COMMANDS.get(name)
    if spec is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_COMMAND,
            f"unknown command {name!r} (known: {', '.join(sorted(COMMANDS))})",
        )
    unknown = sorted(set(args) - set(spec.args))
    if unknown:
        takes = ", ".join(spec.args) or "no arguments"
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"{name} does not take {', '.join(unknown)} (it takes: {takes})"
        )
    return spec
