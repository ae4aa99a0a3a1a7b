"""``targets``: the health of each notify target; ``targets.test NAME PATH``: what a change of
PATH would send (its path as the server sees it, the library it falls in, the requests), and
with ``send`` sends it; ``plugins``: the plugins and their health."""

from __future__ import annotations

import posixpath
from typing import Any

from mediaforged.control.context import Context, Progress, Spec, arg
from mediaforged.protocol import ErrorCode, ProtocolError
from mediaforged.protocol.targets import PluginsReply, TargetsReply, TargetTestReply

__all__ = ["COMMANDS"]


async def targets(ctx: Context, args: dict[str, Any], progress: Progress) -> TargetsReply:
    return {"targets": ctx.notify.status() if ctx.notify else []}


async def test(ctx: Context, args: dict[str, Any], progress: Progress) -> TargetTestReply:
    name, path = arg(args, "name", str), arg(args, "path", str)
    send = bool(arg(args, "send", bool, False))
    if not name or not path:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "targets.test needs a name and a path")
    known = sorted(ctx.notify.targets) if ctx.notify else []
    if ctx.notify is None or name not in known:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"no target named {name!r} (configured: {', '.join(known) or 'none, see [[targets]]'})",
        )
    if not posixpath.isabs(path):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{path}: give an absolute path")
    return await ctx.notify.test(name, posixpath.normpath(path), send)


async def plugins(ctx: Context, args: dict[str, Any], progress: Progress) -> PluginsReply:
    return {"plugins": ctx.notify.plugin_status() if ctx.notify else []}


COMMANDS: dict[str, Spec] = {
    "targets": Spec(targets),
    # It may send a request to a server: only the peers that may change things.
    "targets.test": Spec(test, ("name", "path", "send"), changes=True),
    "plugins": Spec(plugins),
}
