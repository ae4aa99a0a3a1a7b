"""Who gets a control connection, and how much one peer may fill the log.

A query-only user used to lock everyone out: 600 idle connections from ``nobody`` took every
one of the ``control_max_clients`` slots, and root's ``mediaforgectl status`` was refused
"busy". Now each user other than root and the daemon's own user has a share
(``control_max_per_user``, or the smaller ``control_max_per_reader`` when it may only
query), the last ``control_reserved_clients`` slots are for root and the daemon's user
alone, and past every slot those two still get a few *limited* connections that answer
``status``, ``ping`` and ``hello`` only.

``PeerLog`` bounds what one peer can make the daemon log: the first few lines of a kind
per minute, then a count (one client's bad requests once wrote 17.7 MB of tracebacks a
minute).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import structlog

from mediaforged.config import Config
from mediaforged.control.access import Peer

__all__ = ["LIMITED_COMMANDS", "Gate", "PeerLog", "Slot", "is_privileged"]

log = structlog.get_logger("mediaforged.control")

# What a limited connection may ask: enough to see whether the daemon is alive and how it is.
LIMITED_COMMANDS = frozenset({"hello", "ping", "status"})
_LIMITED_MAX = 32  # limited connections at once: root's own scripts cannot pile up without end


class Slot(Enum):
    FULL = "full"  # a slot of control_max_clients
    LIMITED = "limited"  # past the cap, for root and the daemon's user: LIMITED_COMMANDS only


def is_privileged(peer: Peer) -> bool:
    """Root and the daemon's own user: never capped per user, and the reserved slots are theirs."""
    return peer.uid in (0, os.getuid())


class Gate:
    """Counts the connections open, in total and per uid, and admits or refuses a new one."""

    def __init__(self) -> None:
        self.total = 0
        self.limited = 0
        self._by_uid: Counter[int] = Counter()

    def admit(self, peer: Peer, trusted: bool, config: Config) -> Slot | str:
        """The slot the peer gets (held until ``release``), or why it is refused."""
        cap = config.control_max_clients
        if is_privileged(peer):
            if self.total < cap:
                return self._take(peer.uid, Slot.FULL)
            if self.limited < _LIMITED_MAX:
                return self._take(peer.uid, Slot.LIMITED)
            return (
                f"mediaforged serves {cap} connections at most (control_max_clients) and "
                f"{_LIMITED_MAX} more for status and ping, all taken; try again shortly"
            )
        room = max(cap - config.control_reserved_clients, 0)
        if self.total >= room:
            return (
                f"the {room} connections other users may open are taken ({cap} at most, "
                f"{config.control_reserved_clients} kept for root and the daemon's user: "
                "control_max_clients, control_reserved_clients); try again shortly"
            )
        share, setting = (
            (config.control_max_per_user, "control_max_per_user")
            if trusted
            else (config.control_max_per_reader, "control_max_per_reader")
        )
        if self._by_uid[peer.uid] >= share:
            return (
                f"user {peer.user} (uid {peer.uid}) has {self._by_uid[peer.uid]} connections "
                f"open, as many as one user may ({setting}); close one or try again shortly"
            )
        return self._take(peer.uid, Slot.FULL)

    def _take(self, uid: int, slot: Slot) -> Slot:
        if slot is Slot.FULL:
            self.total += 1
        else:
            self.limited += 1
        self._by_uid[uid] += 1
        return slot

    def release(self, uid: int, slot: Slot) -> None:
        if slot is Slot.FULL:
            self.total -= 1
        else:
            self.limited -= 1
        self._by_uid[uid] -= 1
        if self._by_uid[uid] <= 0:
            del self._by_uid[uid]


@dataclass
class _Budget:
    start: float
    used: int = 0
    dropped: int = 0


class PeerLog:
    """Whether a line of some kind caused by a peer (by uid) may be logged: ``burst`` a
    ``window``, then they are counted; the count is logged when the next window opens."""

    def __init__(
        self, burst: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._window = window
        self._clock = clock
        self._budgets: dict[tuple[int, str], _Budget] = {}

    def allow(self, uid: int, kind: str) -> bool:
        now = self._clock()
        key = (uid, kind)
        budget = self._budgets.get(key)
        if budget is None or now - budget.start >= self._window:
            if budget is not None and budget.dropped:
                log.warning(
                    "peer_log_suppressed",
                    uid=uid,
                    kind=kind,
                    dropped=budget.dropped,
                    seconds=round(now - budget.start),
                )
            if len(self._budgets) > 1000:  # many peers once: forget the stale budgets
                self._prune(now)
            budget = self._budgets[key] = _Budget(now)
        if budget.used < self._burst:
            budget.used += 1
            return True
        if not budget.dropped:
            log.warning(
                "peer_log_limited",
                uid=uid,
                kind=kind,
                logged=self._burst,
                window_s=self._window,
                note="more of these from this peer are counted, not logged, until the window ends",
            )
        budget.dropped += 1
        return False

    def _prune(self, now: float) -> None:
        stale = [k for k, b in self._budgets.items() if now - b.start >= self._window]
        for uid, kind in stale:
            budget = self._budgets.pop((uid, kind))
            if budget.dropped:
                log.warning("peer_log_suppressed", uid=uid, kind=kind, dropped=budget.dropped)
