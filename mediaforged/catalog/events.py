"""The event hub: the writer pokes it after each commit; subscribers to the change log wait on it.

It carries no events itself: every subscriber reads the ``events`` table from its own cursor
(``control.commands.events``), so a slow one never holds the writer back.
"""

from __future__ import annotations

import asyncio
import itertools

__all__ = ["EventHub"]


class EventHub:
    """Wakes the subscribers after each commit."""

    def __init__(self) -> None:
        self.tick = asyncio.Event()
        # Subscriber slot -> the cursor of the last event it was sent (metrics: how far each
        # lags). A slot is the lowest free number, so a label of it stays bounded.
        self.cursors: dict[int, int] = {}

    @property
    def subscribers(self) -> int:
        return len(self.cursors)

    def join(self, cursor: int) -> int:
        """A subscriber starts after ``cursor``: its slot."""
        slot = next(i for i in itertools.count() if i not in self.cursors)
        self.cursors[slot] = cursor
        return slot

    def leave(self, slot: int) -> None:
        self.cursors.pop(slot, None)

    def notify(self) -> None:
        # A fresh Event per commit: a subscriber grabs ``tick`` before it reads the table,
        # so a commit between its read and its wait is never missed.
        tick, self.tick = self.tick, asyncio.Event()
        tick.set()
