"""mediaforgectl: talk to a running mediaforged over its Unix socket.

Exit codes: 0 done; 1 the daemon answered with an error (or `retry`: files still fail);
2 bad usage or config (a bad argument, also when the daemon finds it); 69 no daemon is
running (nothing listens on the socket); 75 the daemon is busy (too many connections: try
again); 76 the daemon's reply could not be read (a protocol error: it is running); 77 no
permission (on the socket, or to run a command that changes things).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.json import JSON
from rich.live import Live
from rich.text import Text

from mediaforged import __version__
from mediaforged.cli.client import (
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
    socket_path,
)
from mediaforged.cli.client import ProgressDisplay as _progress_display
from mediaforged.cli.client import call as _call
from mediaforged.cli.client import print_json as _print_json
from mediaforged.cli.library import collection_app, tag_app
from mediaforged.cli.metrics import metrics_app
from mediaforged.cli.query import query_app
from mediaforged.cli.roots import roots_app
from mediaforged.cli.search import search as _search  # noqa: F401 - registers the command
from mediaforged.cli.similar import duplicates_app
from mediaforged.cli.status import status_view
from mediaforged.cli.targets import plugins_app, targets_app
from mediaforged.cli.tokens import token_app
from mediaforged.protocol import (
    PROTOCOL_VERSION,
    CancelReply,
    ConfirmReply,
    PauseReply,
    PingReply,
    ReloadReply,
    RescanReply,
    ResumeReply,
    StatusReply,
)

__all__ = ["Client", "CommandFailed", "DaemonUnavailable", "main"]

_WIDE = 10_000  # the width of a view printed to a pipe: no line of it is cut or wrapped

app = typer.Typer(
    help="Control and query a running mediaforged (the media library daemon).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
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
            # A socket is not read but connected to: click's readable check (R_OK) made an
            # unusable socket a usage error (exit 2) before the client could say 77.
            readable=False,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="mediaforge.toml to read the socket from.")
    ] = None,
) -> None:
    settings["socket"] = socket_path
    settings["config"] = config


@app.command()
def status(
    as_json: JsonOption = False,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            "-w",
            help="Redraw every SECONDS until Ctrl-C (not on a terminal: a view, or with --json "
            "a JSON line, per refresh).",
            metavar="SECONDS",
            min=0.2,
        ),
    ] = None,
) -> None:
    """What the daemon is doing: state, roots and their watches, item counts, pending work,
    running jobs with their ETA, and the latest errors, on one screen."""
    if watch is None:
        data: StatusReply = _call("status")
        if as_json:
            _print_json(data)
        elif out.is_terminal:
            out.print(status_view(data, out.width))
        else:  # a pipe or a log: nothing cut or wrapped
            out.print(status_view(data), width=_WIDE)
        return
    try:
        if not out.is_terminal:  # a pipe or a log: a whole view (or a JSON line) per refresh
            while True:
                data = _call("status")
                if as_json:
                    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
                    sys.stdout.flush()
                else:
                    out.print(status_view(data), "", width=_WIDE)
                time.sleep(watch)
        with Live(console=out, auto_refresh=False) as live:
            while True:
                data = _call("status")
                view = JSON.from_data(data) if as_json else status_view(data, out.width)
                live.update(view, refresh=True)
                time.sleep(watch)
    except KeyboardInterrupt:
        pass


@app.command()
def rescan(
    path: Annotated[
        Path | None,
        typer.Argument(help="A root, a folder or a file inside one; default: every root."),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Rehash unchanged files too (bit rot; with --verify: the whole check)."
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Then decode every media file there in full and report the damaged ones.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Reconcile the catalog with the disk now, and wait until it is committed."""
    args: dict[str, Any] = {"full": full}
    if verify:
        args["verify"] = True
    if path is not None:
        args["path"] = os.path.abspath(path)
    interactive = err.is_terminal and not as_json
    try:
        with _progress_display(interactive) as on_progress:
            data: RescanReply = _call("rescan", args, on_progress=on_progress, timeout=None)
    except KeyboardInterrupt:
        err.print("stopped following: the rescan goes on in mediaforged (`mediaforgectl cancel`)")
        raise typer.Exit(130) from None
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
    if "verify" in data:
        checked = data["verify"]
        out.print(
            f"verified {checked['verified']} files: {checked['corrupt']} damaged"
            + (" (`mediaforgectl failed --stage verify` lists them)" if checked["corrupt"] else "")
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
    data: PauseReply = _call("pause", _root_args(root))
    if as_json:
        _print_json(data)
    else:
        out.print(Text.assemble("paused ", safe(str(root)) if root else Text("every root")))


@app.command()
def resume(root: RootArgument = None, as_json: JsonOption = False) -> None:
    """Resume indexing after pause."""
    data: ResumeReply = _call("resume", _root_args(root))
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
    data: ConfirmReply = _call("confirm", {"root": os.path.abspath(root)}, timeout=None)
    if as_json:
        _print_json(data)
    elif data["confirmed"]:
        out.print(Text.assemble(safe(data["root"]), f": {data['missing']} files marked missing"))
    else:
        out.print(Text.assemble(safe(data["root"]), f": {data['reason']}"))


@app.command()
def cancel(
    job: Annotated[
        int | None,
        typer.Argument(help="The job to cancel (its number in `status`); default: every job."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Stop running and queued reconciles and rescans. Nothing is marked missing by a
    cancelled walk; the files it did not reach stay as catalogued, and the next periodic
    reconcile looks at them again."""
    data: CancelReply = _call("cancel", {} if job is None else {"job": job})
    if as_json:
        _print_json(data)
        return
    if not data["cancelled"]:
        out.print("nothing to cancel")
    for j in data["cancelled"]:
        state = "stopped" if j["complete"] else "stopping (files in hand finish first)"
        out.print(
            Text.assemble(
                f"job {j['job']} ({j['kind']} ",
                safe(j["path"]),
                f"): {state}; {j['done'] - j['dropped']} of {j['queued']} files done, "
                f"{j['dropped']} dropped",
            )
        )


@app.command()
def reload(as_json: JsonOption = False) -> None:
    """Re-read the config file and apply it (roots, excludes, watch modes, limits)."""
    data: ReloadReply = _call("reload")
    if as_json:
        _print_json(data)
        return
    out.print("reloaded")
    for paths, label in ((data["roots_added"], "added"), (data["roots_removed"], "removed")):
        for path in paths:
            out.print(Text.assemble(f"  root {label}: ", safe(path)))
    if data["needs_restart"]:
        out.print("  needs a restart to apply: " + ", ".join(data["needs_restart"]))


@app.command()
def ping(as_json: JsonOption = False) -> None:
    """Check that the daemon answers."""
    data: PingReply = _call("ping")
    if as_json:
        _print_json(data)
    else:
        out.print(f"mediaforged {data['version']} is running (protocol {data['protocol']})")


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check the set-up (ffprobe/ffmpeg, roots, inotify limit, catalog, socket, config) and
    say how to fix each problem. Works with or without a running daemon; exits 1 on a fail."""
    from mediaforged.cli import doctor as checks_module  # noqa: PLC0415 - only this command needs it

    checks = checks_module.run_checks(settings.get("config"), settings.get("socket"))
    if as_json:
        _print_json(checks_module.as_json(checks))
    else:
        checks_module.print_report(checks, out)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(EXIT_ERROR)


@app.command()
def version(as_json: JsonOption = False) -> None:
    """Print mediaforgectl's version and the running daemon's (if one answers)."""
    daemon: PingReply | None = None
    problem = ""
    try:
        client = Client(socket_path(), timeout=5.0)
    except DaemonUnavailable as exc:
        problem = str(exc)
    else:
        try:
            daemon = client.call("ping")
        except (CommandFailed, DaemonUnavailable, OSError) as exc:
            problem = str(exc)
        finally:
            client.close()
    if as_json:
        _print_json(
            {
                "client": __version__,
                "protocol": PROTOCOL_VERSION,
                "daemon": daemon["version"] if daemon else None,
                "daemon_protocol": daemon["protocol"] if daemon else None,
                "daemon_problem": problem or None,
            }
        )
        return
    out.print(f"mediaforgectl {__version__} (protocol {PROTOCOL_VERSION})")
    if daemon is not None:
        out.print(f"mediaforged {daemon['version']} (protocol {daemon['protocol']})")
    else:
        out.print(Text.assemble("mediaforged: ", safe(problem)))


app.add_typer(query_app)
app.add_typer(metrics_app)
app.add_typer(tag_app, name="tag")
app.add_typer(duplicates_app, name="duplicates")
app.add_typer(collection_app, name="collection")
app.add_typer(roots_app, name="roots")
app.add_typer(token_app, name="token")
app.add_typer(targets_app, name="targets")
app.add_typer(plugins_app)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="mediaforgectl")
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
