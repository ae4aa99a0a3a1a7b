"""Who is on the other end of a control connection (SO_PEERCRED) and what they may do.

Anyone who can open the socket may query; commands that change things need root, the
daemon's own user, or a user or group listed in ``control_users`` / ``control_groups``.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Peer", "may_change", "peer_of"]

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int
    groups: frozenset[int]  # primary and supplementary gids, as far as they can be read

    @property
    def user(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return str(self.uid)


def _supplementary_groups(pid: int) -> set[int]:
    """The peer's supplementary groups from /proc (SO_PEERCRED carries only the primary one).
    A peer in another pid namespace (pid 0) or gone already yields none."""
    if pid <= 0:
        return set()
    with (
        contextlib.suppress(OSError, ValueError),
        open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f,
    ):
        for line in f:
            if line.startswith("Groups:"):
                return {int(g) for g in line.split()[1:]}
    return set()


def peer_of(sock: socket.socket) -> Peer:
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return Peer(pid, uid, gid, frozenset({gid} | _supplementary_groups(pid)))


def _ids(names: Iterable[str], lookup: str) -> set[int]:
    """Numeric ids of user or group names (numbers pass through; unknown names match none)."""
    out: set[int] = set()
    for name in names:
        if name.isdigit():
            out.add(int(name))
            continue
        with contextlib.suppress(KeyError):
            out.add(pwd.getpwnam(name).pw_uid if lookup == "user" else grp.getgrnam(name).gr_gid)
    return out


def may_change(peer: Peer, users: Iterable[str], groups: Iterable[str]) -> bool:
    if peer.uid in (0, os.getuid()):
        return True
    return peer.uid in _ids(users, "user") or bool(peer.groups & _ids(groups, "group"))
