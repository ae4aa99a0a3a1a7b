"""The event hub: the writer pokes it after each commit; subscribers to the change log wait on it.

It carries no events itself: every subscriber reads the ``events`` table from its own cursor
(``control.commands.events``), so a slow one never holds the writer back.
"""

from __future__ import annotations

import asyncio

__all__ = ["EventHub"]


class EventHub:
    """Wakes the subscribers after each commit."""

    def __init__(self) -> None:
        self.tick = asyncio.Event()
        self.subscribers = 0

    def notify(self) -> None:
        # A fresh Event per commit: a subscriber grabs ``tick`` before it reads the table,
        # so a commit between its read and its wait is never missed.
        tick, self.tick = self.tick, asyncio.Event()
        tick.set()
