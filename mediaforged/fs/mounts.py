"""The mount table: which file system a path lives on, and whether inotify can see its changes.

inotify only reports changes made through this machine's kernel: on NFS, SMB, sshfs and
other network or FUSE file systems, files written by other machines are never reported,
so ``watch_mode = "auto"`` polls those. The table is ``/proc/self/mountinfo`` (in a
container it shows the host's file system types for bind mounts); ``$MEDIAFORGE_MOUNTINFO``
names another file in the same format, which is how tests and ``doctor`` stand in a
network mount on a machine that has none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Mount",
    "in_container",
    "inotify_limit_hint",
    "inotify_usage",
    "is_remote",
    "mount_of",
    "read_mounts",
    "watch_mode_for",
]

# File systems on which inotify misses changes made elsewhere (other machines, a FUSE
# daemon's backend). fuseblk (ntfs-3g, exfat on a USB disk) is local: not listed.
_REMOTE = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "virtiofs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "fuse",
        "sshfs",
    }
)


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fs_type: str  # "fuse.sshfs" for FUSE file systems, as the kernel names them
    source: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134.
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def read_mounts(path: str | None = None) -> list[Mount]:
    """Parse a mountinfo file; an unreadable or malformed one gives what could be read."""
    source = path or os.environ.get("MEDIAFORGE_MOUNTINFO") or "/proc/self/mountinfo"
    try:
        text = Path(source).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    mounts: list[Mount] = []
    for line in text.splitlines():
        # id parent major:minor root mount_point options [optional...] - fs_type source super
        left, sep, right = line.partition(" - ")
        fields = left.split()
        after = right.split()
        if not sep or len(fields) < 5 or len(after) < 2:
            continue
        mounts.append(Mount(_unescape(fields[4]), after[0], _unescape(after[1])))
    return mounts


def mount_of(path: Path, mounts: list[Mount] | None = None) -> Mount | None:
    """The mount that holds ``path``: the longest mount point above it (the last one wins
    when a mount point is mounted over)."""
    text = os.path.abspath(path)
    best: Mount | None = None
    for mount in read_mounts() if mounts is None else mounts:
        point = mount.mount_point
        if (text == point or text.startswith(point.rstrip("/") + "/") or point == "/") and (
            best is None or len(point) >= len(best.mount_point)
        ):
            best = mount
    return best


def is_remote(fs_type: str) -> bool:
    base = fs_type.split(".", 1)
    return fs_type in _REMOTE or base[0] in _REMOTE or (len(base) == 2 and base[1] in _REMOTE)


def watch_mode_for(
    path: Path, configured: str, mounts: list[Mount] | None = None
) -> tuple[str, str]:
    """The watch mode to use for a root, and why (for status, the log and doctor)."""
    if configured != "auto":
        return configured, f"watch_mode = {configured!r} in the config"
    mount = mount_of(path, mounts)
    if mount is None:
        return "inotify", "mount table unreadable; assuming a local file system"
    if is_remote(mount.fs_type):
        return "poll", f"{mount.fs_type} at {mount.mount_point}: inotify misses remote changes"
    return "inotify", f"{mount.fs_type} at {mount.mount_point}"


def in_container() -> bool:
    return (
        os.path.exists("/.dockerenv")
        or os.path.exists("/run/.containerenv")
        or os.environ.get("container", "") != ""  # noqa: SIM112 - systemd-nspawn/podman set it
    )


def inotify_limit_hint() -> str:
    """What to do when the inotify watch limit is reached."""
    try:
        current = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    except OSError:
        current = "?"
    hint = (
        f"the inotify watch limit ({current}) is reached: raise it with "
        "`sysctl fs.inotify.max_user_watches=524288` (make it permanent in "
        "/etc/sysctl.d/90-mediaforge.conf)"
    )
    if in_container():
        hint += "; inside a container this must be done on the host"
    return hint


def inotify_usage() -> dict[str, int | None]:
    """Inotify watches this process holds, and the per-user limit (the lower of the
    sysctl and the user namespace's own limit)."""
    used = 0
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        fds = []
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
                used += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue  # closed meanwhile
    limits: list[int] = []
    for source in ("/proc/sys/fs/inotify/max_user_watches", "/proc/sys/user/max_inotify_watches"):
        try:
            limits.append(int(Path(source).read_text()))
        except (OSError, ValueError):
            continue
    return {"watches": used, "limit": min(limits) if limits else None}
