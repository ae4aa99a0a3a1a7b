"""mediaforgectl: talk to a running mediaforged over its Unix socket.

Exit codes: 0 done; 1 the daemon answered with an error; 2 bad usage or config;
69 no daemon is running (nothing listens on the socket); 75 the daemon is busy (too many
connections: try again); 77 no permission (on the socket, or to run a command that changes
things).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from mediaforged import __version__
from mediaforged.ctl_library import collection_app, tag_app
from mediaforged.ctl_query import query_app
from mediaforged.ctlio import (
    EXIT_ERROR,
    EXIT_USAGE,
    Client,
    CommandFailed,
    DaemonUnavailable,
    JsonOption,
    err,
    out,
    safe,
    settings,
)
from mediaforged.ctlio import ProgressDisplay as _progress_display
from mediaforged.ctlio import ago as _ago
from mediaforged.ctlio import call as _call
from mediaforged.ctlio import print_json as _print_json

__all__ = ["Client", "CommandFailed", "DaemonUnavailable", "main"]

app = typer.Typer(
    help="Control and query a running mediaforged (the media library daemon).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _options(
    socket_path: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            "-s",
            help="Daemon socket (default: from the config).",
            envvar="MEDIAFORGE_SOCKET",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="mediaforge.toml to read the socket from.")
    ] = None,
) -> None:
    settings["socket"] = socket_path
    settings["config"] = config


@app.command()
def status(as_json: JsonOption = False) -> None:
    """What the daemon is doing: state, roots, item counts, pending work, errors."""
    data = _call("status")
    if as_json:
        _print_json(data)
        return
    size = data["catalog"]["bytes"]
    out.print(
        Text.assemble(
            ("mediaforged ", "bold"),
            f"{data['version']}  ",
            ("state: ", "bold"),
            (data["state"], "green" if data["state"] == "watching" else "yellow"),
            f"  up {_duration(data['uptime_s'])}  pid {data['pid']}",
            f"  catalog {size / 1e6:.1f} MB" if size is not None else "",
        )
    )
    if data["catalog"].get("problem"):
        out.print(Text.assemble(("catalog: ", "red"), safe(data["catalog"]["problem"])))
    # A block per root rather than a wide table: paths are long and terminals narrow.
    for root in data["roots"]:
        kinds = root["by_media_type"]
        statuses = root["by_status"]
        if root["online"]:
            watch = Text(root["watch"], "green" if root["watch"] == "inotify" else "yellow")
        else:
            watch = Text.assemble(("offline: ", "red"), safe(root["offline_reason"] or ""))
        if root.get("paused"):
            watch.append("  paused", "yellow")
        last = root["last_reconcile"]
        last_text = f"last reconcile {_ago(last['at'])}"
        if last["duration_s"] is not None:
            last_text += f" ({last['files']} files in {last['duration_s']:.1f}s)"
        out.print(Text.assemble(safe(root["path"]), "  ", watch))
        counts = ", ".join(f"{kinds.get(k, 0)} {k}" for k in ("image", "audio", "video", "other"))
        out.print(
            f"  {root['items']} items: {counts}; {statuses.get('missing', 0)} missing, "
            f"{statuses.get('failed', 0)} failed"
        )
        out.print(f"  {last_text}")
        if root.get("watch_fallback"):
            out.print(Text.assemble(("  polling: ", "yellow"), safe(root["watch_fallback"])))
        if root.get("held"):
            out.print(Text.assemble(("  held back: ", "red"), safe(root["held"])))
    p = data["pending"]
    out.print(
        f"pending: {p['settling']} settling, {p['index_queue'] + p['indexing']} to index, "
        f"{p['write_queue']} to write, {p['reconciles_queued']} reconciles queued, "
        f"{p['metadata']} awaiting metadata, {p.get('thumbnails', 0)} thumbnails pending"
    )
    for job in data["jobs"]:
        if not job["complete"]:
            out.print(
                Text.assemble(
                    (f"{job['kind']} ", "bold"),
                    safe(job["path"]),
                    f": {job['done']}/{job['queued']} indexed, {job['walked']} seen"
                    + (f", {job['rate_per_s']:.0f}/s" if job["rate_per_s"] else "")
                    + (f", about {_duration(job['eta_s'])} left" if job.get("eta_s") else ""),
                )
            )
    errors = data["errors"]
    if errors["failed_items"] or errors["recent"]:
        out.print(f"errors: {errors['failed_items']} files failed; recent:")
        for e in errors["recent"][-5:]:
            out.print(Text.assemble("  ", safe(e["path"]), f": {e['code']}: ", safe(e["message"])))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s"


@app.command()
def rescan(
    path: Annotated[
        Path | None,
        typer.Argument(help="A root, a folder or a file inside one; default: every root."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rehash unchanged files too (detects bit rot).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Reconcile the catalog with the disk now, and wait until it is committed."""
    args: dict[str, Any] = {"full": full}
    if path is not None:
        args["path"] = os.path.abspath(path)
    interactive = err.is_terminal and not as_json
    with _progress_display(interactive) as on_progress:
        data = _call("rescan", args, on_progress=on_progress, timeout=None)
    if as_json:
        _print_json(data)
        return
    for job in data["jobs"]:
        out.print(
            Text.assemble(
                "rescanned ",
                safe(job["path"]),
                f": {job['walked']} files seen, {job['queued'] - job['gone']} indexed, "
                f"{job['gone']} missing, {job['failed']} failed in {job['elapsed_s']:.1f}s",
            )
        )
    for error in data["errors"]:
        err.print(Text.assemble("error: ", safe(error)))
    if data["errors"]:
        raise typer.Exit(EXIT_ERROR)


RootArgument = Annotated[
    Path | None,
    typer.Argument(help="A library root, as configured; default: every root."),
]


def _root_args(root: Path | None) -> dict[str, Any]:
    return {} if root is None else {"root": os.path.abspath(root)}


@app.command()
def pause(root: RootArgument = None, as_json: JsonOption = False) -> None:
    """Hold indexing of a root (or of all); changes keep being noticed and wait for resume."""
    data = _call("pause", _root_args(root))
    if as_json:
        _print_json(data)
    else:
        out.print(Text.assemble("paused ", safe(str(root)) if root else Text("every root")))


@app.command()
def resume(root: RootArgument = None, as_json: JsonOption = False) -> None:
    """Resume indexing after pause."""
    data = _call("resume", _root_args(root))
    if as_json:
        _print_json(data)
    else:
        out.print(f"resumed ({data['state']})")


@app.command()
def confirm(
    root: Annotated[Path, typer.Argument(help="The library root whose files really went.")],
    as_json: JsonOption = False,
) -> None:
    """Let a reconcile that was held back (too many files vanished at once) mark them missing.

    Only do this when the files were deleted on purpose: if a share or disk is merely not
    mounted, mount it instead and the daemon picks the files up again by itself.
    """
    data = _call("confirm", {"root": os.path.abspath(root)}, timeout=None)
    if as_json:
        _print_json(data)
    elif data["confirmed"]:
        out.print(Text.assemble(safe(data["root"]), f": {data['missing']} files marked missing"))
    else:
        out.print(Text.assemble(safe(data["root"]), f": {data['reason']}"))


@app.command()
def reload(as_json: JsonOption = False) -> None:
    """Re-read the config file and apply it (roots, excludes, watch modes, limits)."""
    data = _call("reload")
    if as_json:
        _print_json(data)
        return
    out.print("reloaded")
    for key, label in (("roots_added", "added"), ("roots_removed", "removed")):
        for path in data[key]:
            out.print(Text.assemble(f"  root {label}: ", safe(path)))
    if data["needs_restart"]:
        out.print("  needs a restart to apply: " + ", ".join(data["needs_restart"]))


@app.command()
def ping(as_json: JsonOption = False) -> None:
    """Check that the daemon answers."""
    data = _call("ping")
    if as_json:
        _print_json(data)
    else:
        out.print(f"mediaforged {data['version']} is running (protocol {data['protocol']})")


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check the set-up (ffprobe/ffmpeg, roots, inotify limit, catalog, socket, config) and
    say how to fix each problem. Works with or without a running daemon; exits 1 on a fail."""
    from mediaforged import doctor as checks_module  # noqa: PLC0415 - only this command needs it

    checks = checks_module.run_checks(settings.get("config"), settings.get("socket"))
    if as_json:
        _print_json(checks_module.as_json(checks))
    else:
        checks_module.print_report(checks, out)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(EXIT_ERROR)


@app.command()
def version() -> None:
    """Print mediaforgectl's version."""
    out.print(f"mediaforgectl {__version__}")


app.add_typer(query_app)
app.add_typer(tag_app, name="tag")
app.add_typer(collection_app, name="collection")


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="mediaforgectl")
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
