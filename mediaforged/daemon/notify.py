"""sd_notify: READY, STATUS, WATCHDOG, RELOADING and STOPPING for systemd (Type=notify).

Without $NOTIFY_SOCKET (a terminal, Docker, the tests' plain runs) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

import sdnotify

from mediaforged.state import DaemonState

__all__ = ["Notifier", "heartbeat"]

STATUS_INTERVAL_S = 2.0


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._sd = sdnotify.SystemdNotifier() if self.enabled else None
        if self._sd is not None and self._sd.socket is not None:
            # Never block the event loop on a notify socket that nobody reads: a full
            # queue drops the message (the next STATUS or WATCHDOG follows soon).
            self._sd.socket.setblocking(False)
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        # Ping at half the interval, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and ours else None

    def _send(self, text: str) -> None:
        if self._sd is not None and self._sd.socket is not None:
            with contextlib.suppress(OSError):  # full queue, or systemd went away
                self._sd.socket.send(text.encode("utf-8", "surrogateescape"))

    def ready(self) -> None:
        self._send(f"READY=1\nMAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        self._send("STATUS=" + text.replace("\n", " "))

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets Type=notify-reload units match the reload to this message.
        self._send(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> None:
        self._send("STOPPING=1")


async def heartbeat(notifier: Notifier, state: DaemonState, pending: Callable[[], int]) -> None:
    """WATCHDOG=1 from the event loop itself (a blocked loop stops it) and STATUS= progress
    (``pending``: the files waiting in the settler, the indexer and the writer)."""
    interval = min(notifier.watchdog_interval or STATUS_INTERVAL_S, STATUS_INTERVAL_S)
    while True:
        notifier.watchdog()
        running = [j for j in state.jobs.values() if not j.complete]
        text = f"{state.phase}; {state.indexed} indexed"
        if state.catalog_problem:
            text = f"{state.catalog_problem}; " + text
        if running:
            p = running[0].progress()
            text += f"; {p['kind']} {p['root']}: {p['done']}/{p['queued']} ({p['walked']} seen)"
        notifier.status(text + f"; {pending()} pending")
        await asyncio.sleep(interval)
