"""``mediaforgectl targets``: each notify target's health (``targets test NAME PATH``: what a
change would send, ``--send`` sends it), and ``mediaforgectl plugins``."""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from mediaforged.cli.client import EXIT_ERROR, JsonOption, call, err, out, print_json, safe
from mediaforged.protocol.targets import PluginsReply, TargetsReply, TargetTestReply

__all__ = ["plugins_app", "targets_app"]

targets_app = typer.Typer(
    help="The media servers and hooks told of each change ([[targets]]): their health; "
    "`targets test NAME PATH` shows (and with --send sends) what a change would send.",
    invoke_without_command=True,
)
plugins_app = typer.Typer(help="The plugins (entry points mediaforged.plugins) and their health.")

_STATE_STYLE = {"ok": "green", "retrying": "yellow", "held": "yellow", "failed": "bold red"}


def ago(at: float | None) -> str:
    if at is None:
        return "never"
    seconds = max(time.time() - at, 0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    return f"{seconds / 60:.0f}m ago" if seconds < 7200 else f"{seconds / 3600:.1f}h ago"


@targets_app.callback()
def targets(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Each target: its state, last success, last error, lag behind the change log, requests."""
    if ctx.invoked_subcommand is not None:
        return
    data: TargetsReply = call("targets")
    if as_json:
        print_json(data)
        return
    if not data["targets"]:
        out.print("no targets configured (see [[targets]] in the config)")
        return
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold underline")
    for column in ("target", "kind", "state", "last success", "lag", "sent", "retry", "skipped"):
        table.add_column(column, no_wrap=column != "target")
    for t in data["targets"]:
        r = t["requests"]
        table.add_row(
            safe(t["name"]),
            t["kind"],
            Text(t["state"], _STATE_STYLE.get(t["state"], "")),
            ago(t["last_success"]),
            str(t["lag"]),
            str(r.get("ok", 0)),
            str(r.get("retry", 0) + r.get("failed", 0)),
            str(r.get("skipped", 0)),
        )
    out.print(table)
    for t in data["targets"]:
        if t["last_error"]:
            when = ago(t["last_error_at"])
            out.print(
                Text.assemble(safe(t["name"]), (f"  error ({when}): ", "red"), t["last_error"])
            )
        if t["last_skipped"]:
            out.print(Text.assemble(safe(t["name"]), ("  not sent: ", "yellow"), t["last_skipped"]))
        if t["confirmation"]:
            out.print(Text.assemble(safe(t["name"]), "  server: ", t["confirmation"]))


@targets_app.command("test")
def try_target(
    name: Annotated[str, typer.Argument(help="A target's name.")],
    path: Annotated[str, typer.Argument(help="A file or folder in a root.")],
    send: Annotated[bool, typer.Option("--send", help="Send the request, too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The path as the server sees it, the library it falls in and the request a change there
    would send (credentials hidden); --send sends it."""
    args = {"name": name, "path": os.path.abspath(path), "send": send}
    data: TargetTestReply = call("targets.test", args)
    if as_json:
        print_json(data)
    else:
        out.print(Text.assemble("path:        ", safe(data["path"])))
        out.print(Text.assemble("translated:  ", safe(str(data["translated"]))))
        if data["library"]:
            out.print(Text.assemble("library:     ", safe(data["library"])))
        for request in data["requests"]:
            out.print(Text.assemble("request:     ", safe(f"{request['method']} {request['url']}")))
            for key, value in request["headers"].items():
                out.print(Text.assemble("             ", safe(f"{key}: {value}")))
            if request["body"] is not None:
                out.print(Text("             " + json.dumps(request["body"], ensure_ascii=False)))
        if data["sent"]:
            out.print(
                "sent" + (f"; server: {data['confirmation']}" if data.get("confirmation") else "")
            )
    if "error" in data:
        err.print(Text.assemble("error: ", safe(data["error"])))
        raise typer.Exit(EXIT_ERROR)


@plugins_app.command("plugins")
def plugins(as_json: JsonOption = False) -> None:
    """The plugins: their hooks, state, calls, errors, timeouts and restarts."""
    data: PluginsReply = call("plugins")
    if as_json:
        print_json(data)
        return
    if not data["plugins"]:
        out.print("no plugins installed (entry points in the group mediaforged.plugins)")
        return
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold underline")
    for column in ("plugin", "hooks", "state", "calls", "errors", "timeouts", "restarts", "lag"):
        table.add_column(column)
    for p in data["plugins"]:
        table.add_row(
            safe(p["name"]),
            ", ".join(p["hooks"]),
            Text(p["state"], _STATE_STYLE.get(p["state"], "yellow")),
            *(str(p[k]) for k in ("calls", "errors", "timeouts", "restarts", "lag")),
        )
    out.print(table)
    for p in data["plugins"]:
        if p["last_error"]:
            out.print(Text.assemble(safe(p["name"]), ("  error: ", "red"), p["last_error"]))
