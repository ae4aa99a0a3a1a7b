"""``mediaforged``: the command line, the signals, and the exit codes systemd acts on."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import structlog

from mediaforged import __version__
from mediaforged.catalog.db import CatalogCorrupt, CatalogUnwritable
from mediaforged.config import Config, ConfigError, load_config
from mediaforged.control.server import AlreadyRunning, SocketUnusable, prepare_socket_folder
from mediaforged.daemon.logs import capture_native_stderr, configure_logging
from mediaforged.daemon.run import run
from mediaforged.http.server import HttpBindError
from mediaforged.sources.reconcile import root_problem

__all__ = ["main"]

log = structlog.get_logger("mediaforged")

EXIT_CONFIG = 2  # invalid configuration: restarting will not help
EXIT_RUNNING = 3  # another daemon owns the socket
EXIT_FATAL = 1
EXIT_CORRUPT = 4  # the catalog fails its integrity check: restarting will not help
EXIT_STORAGE = 5  # the catalog's file system is read-only or full at start
EXIT_HTTP = 6  # http_listen cannot be bound (in use): a restart may find it free
EXIT_NOPERM = 77  # EX_NOPERM: the socket's folder is not ours to write: restarting will not help
# The units' RestartPreventExitStatus= lists every code above but EXIT_FATAL and
# EXIT_HTTP (a test checks).


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mediaforged",
        description="Keep a catalog of a media library in step with the disk. "
        "Talk to it with mediaforgectl.",
        epilog="Settings come from the config file (--config, $MEDIAFORGE_CONFIG, "
        "~/.config/mediaforge/mediaforge.toml, /etc/mediaforge/mediaforge.toml), then "
        "MEDIAFORGE_<SETTING> environment variables, then these flags. "
        "config/mediaforge.toml documents every setting.",
    )
    parser.add_argument("--config", type=Path, help="config file (TOML)")
    parser.add_argument(
        "--root",
        action="append",
        dest="roots",
        metavar="PATH",
        help="library folder to catalog and watch (repeatable; replaces the config's roots)",
    )
    parser.add_argument("--state-dir", help="where the catalog lives")
    parser.add_argument("--socket", dest="socket_path", help="control socket path")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "console", "json"])
    parser.add_argument(
        "--once",
        action="store_true",
        help="reconcile every root, commit, and exit (no watching): for cron or a first import",
    )
    parser.add_argument("--version", action="version", version=f"mediaforged {__version__}")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    """One line for the person who started us; a stderr that broke cannot change the exit
    code that follows."""
    with contextlib.suppress(OSError, ValueError):
        print(f"mediaforged: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # A write into a log pipe whose reader is gone fails with EPIPE (logs.py drops the line)
    # instead of killing us, whoever started us and whatever they did with SIGPIPE.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    overrides: dict[str, Any] = {
        "roots": args.roots,
        "state_dir": args.state_dir,
        "socket_path": args.socket_path,
        "log_level": args.log_level,
        "log_format": args.log_format,
    }
    if args.once:
        overrides["watch"] = False
    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        _say(f"invalid configuration: {exc}")
        return EXIT_CONFIG
    if not config.roots:
        _say("no library roots configured: pass --root PATH or set roots in the config file")
        return EXIT_CONFIG
    config = config.replace(once=args.once)
    if args.once:
        # A watching daemon waits for a root that is not there (a share not mounted yet);
        # a single pass would reconcile nothing and call it a success.
        problems = [p for p in (root_problem(os.fsencode(r)) for r in config.roots) if p]
        if problems:
            _say(f"--once: {'; '.join(problems)}")
            return EXIT_CONFIG
    capture_native_stderr()  # libtiff's and libjpeg's lines as JSON events, not raw text
    configure_logging(config.log_level, config.log_format)
    try:
        prepare_socket_folder(config.socket_path)  # before the catalog opens and the pools start
        return asyncio.run(_main(config, overrides))
    except SocketUnusable as exc:
        log.error("socket_unusable", error=str(exc))  # one line: the path and the fix
        return EXIT_NOPERM if exc.permission else EXIT_CONFIG
    except AlreadyRunning as exc:
        log.error("already_running", error=str(exc))
        return EXIT_RUNNING
    except HttpBindError as exc:
        log.error("http_bind_failed", error=str(exc))
        return EXIT_HTTP
    except CatalogUnwritable as exc:
        # A read-only or full disk under the state directory: restarting in a loop cannot
        # fix it; the message says where, and the next start picks up where it left off.
        log.error("catalog_unwritable", error=str(exc), fix="make the state directory writable")
        _say(f"the catalog cannot be written: {exc}")
        return EXIT_STORAGE
    except CatalogCorrupt as exc:
        # Never start on (and never overwrite) a damaged catalog: a person decides.
        log.error("catalog_corrupt", error=str(exc), fix="restore the backup or move the file away")
        _say(str(exc))
        return EXIT_CORRUPT
    except Exception:
        # A task died: a bug or a dead database. Exit non-zero so that systemd restarts us;
        # the next start's reconcile redoes whatever was not committed.
        log.exception("fatal_error")
        return EXIT_FATAL


async def _main(config: Config, overrides: dict[str, Any]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_stop(signame: str) -> None:
        nonlocal interrupts
        if signame == "SIGINT":
            interrupts += 1
            if interrupts > 1:  # a second Ctrl-C while stopping: the user means it
                log.warning("forced_exit", signal=signame)
                os._exit(1)
        log.info("signal", signal=signame, already_stopping=stop.is_set())
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop, sig.name)
    reload = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    log.info("starting", version=__version__, pid=os.getpid(), config=str(config.source))
    return await run(config, stop, overrides=overrides, reload=reload)
