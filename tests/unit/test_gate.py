"""The control socket's gate (who gets a connection) and its per-peer log budget."""

from __future__ import annotations

import os

from structlog.testing import capture_logs

from mediaforged.config import Config
from mediaforged.control.access import Peer
from mediaforged.control.gate import Gate, PeerLog, Slot

ME = Peer(1, os.getuid(), os.getgid(), frozenset())  # the daemon's user (or root)
READER = Peer(2, 65534, 65534, frozenset())
FRIEND = Peer(3, 1234, 1234, frozenset())


def test_shares_reserved_slots_and_limited_connections() -> None:
    config = Config(
        control_max_clients=10,
        control_reserved_clients=3,
        control_max_per_reader=2,
        control_max_per_user=4,
    )
    gate = Gate()
    assert [gate.admit(READER, False, config) for _ in range(2)] == [Slot.FULL] * 2
    refused = gate.admit(READER, False, config)
    assert isinstance(refused, str) and "control_max_per_reader" in refused
    gate.release(READER.uid, Slot.FULL)
    assert gate.admit(READER, False, config) is Slot.FULL  # its share has room again
    assert [gate.admit(FRIEND, True, config) for _ in range(4)] == [Slot.FULL] * 4
    assert "control_max_per_user" in str(gate.admit(FRIEND, True, config))
    other = Peer(4, 4321, 4321, frozenset())
    assert gate.admit(other, True, config) is Slot.FULL  # 7 taken: the 3 left are reserved
    assert "control_reserved_clients" in str(
        gate.admit(Peer(5, 999, 999, frozenset()), True, config)
    )
    assert [gate.admit(ME, True, config) for _ in range(3)] == [Slot.FULL] * 3
    assert gate.admit(ME, True, config) is Slot.LIMITED  # past the cap: status and ping
    assert gate.total == 10 and gate.limited == 1
    gate.release(ME.uid, Slot.LIMITED)
    assert gate.limited == 0


def test_limited_connections_are_bounded_too() -> None:
    config = Config(control_max_clients=1)
    gate = Gate()
    slots = [gate.admit(ME, True, config) for _ in range(40)]
    assert slots[0] is Slot.FULL and slots[1:33] == [Slot.LIMITED] * 32
    assert all(isinstance(s, str) and "all taken" in s for s in slots[33:])


def test_a_peer_log_budget_then_a_count() -> None:
    now = [0.0]
    peer_log = PeerLog(burst=3, window=60, clock=lambda: now[0])
    with capture_logs() as logs:
        allowed = [peer_log.allow(65534, "error") for _ in range(10)]
        assert peer_log.allow(0, "error")  # another peer has its own budget
        assert peer_log.allow(65534, "connect")  # and so has another kind of line
        now[0] = 61
        assert peer_log.allow(65534, "error")  # a new window
    assert allowed == [True] * 3 + [False] * 7
    assert [e["event"] for e in logs] == ["peer_log_limited", "peer_log_suppressed"]
    assert logs[1]["dropped"] == 7 and logs[1]["uid"] == 65534
