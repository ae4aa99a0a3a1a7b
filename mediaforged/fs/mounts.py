"""The mount table: which file system a path lives on, and whether inotify can see its changes.

inotify only reports changes made through this machine's kernel: on NFS, SMB, sshfs and
other network or FUSE file systems, files written by other machines are never reported,
so ``watch_mode = "auto"`` polls those. The table is ``/proc/self/mountinfo`` (in a
container it shows the host's file system types for bind mounts); ``$MEDIAFORGE_MOUNTINFO``
names another file in the same format, which is how tests and ``doctor`` stand in a
network mount on a machine that has none. ``$MEDIAFORGE_INOTIFY_LIMIT_FILE`` stands in
for /proc/sys/fs/inotify/max_user_watches the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Mount",
    "in_container",
    "inotify_limit",
    "inotify_limit_fix",
    "inotify_limit_hint",
    "inotify_limits",
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


_FS_LIMIT = ("fs.inotify.max_user_watches", "/proc/sys/fs/inotify/max_user_watches")
_NS_LIMIT = ("user.max_inotify_watches", "/proc/sys/user/max_inotify_watches")
_SUGGESTED = 524288


def _initial_user_namespace() -> bool:
    try:
        uid_map = Path("/proc/self/uid_map").read_text()
    except OSError:
        return True
    return uid_map.split() == ["0", "0", "4294967295"]  # every uid, as it is: the host's


def inotify_limits(fs_file: str | None = None) -> dict[str, int]:
    """The inotify watch limits that apply to this process, by the sysctl that sets each.

    fs.inotify.max_user_watches (``fs_file`` or ``$MEDIAFORGE_INOTIFY_LIMIT_FILE`` stands in
    for it) is the host's: in a user namespace of its own (a container's, ``unshare -U``)
    the namespace's user.max_inotify_watches applies too and may be lower, and that is the
    one the daemon runs out of. In the host's namespace the two are one kernel value."""
    stand_in = fs_file or os.environ.get("MEDIAFORGE_INOTIFY_LIMIT_FILE")
    sources = [(_FS_LIMIT[0], stand_in or _FS_LIMIT[1])]
    if not _initial_user_namespace():
        sources.append(_NS_LIMIT)
    found: dict[str, int] = {}
    for name, path in sources:
        try:
            found[name] = int(Path(path).read_text())
        except (OSError, ValueError):
            continue
    return found


def inotify_limit(limits: dict[str, int]) -> tuple[int, str] | None:
    """The limit in force (the lowest of ``limits``) and its sysctl's name."""
    return min((value, name) for name, value in limits.items()) if limits else None


def inotify_limit_fix(limits: dict[str, int], want: int | None = None) -> str:
    """How to raise the limit in force to ``want`` (default: 524288, or double a limit
    already there): the sysctl that sets it, and where it can be set."""
    limit = inotify_limit(limits)
    name = limit[1] if limit else _FS_LIMIT[0]
    if want is None:
        want = 2 * limit[0] if limit and limit[0] >= _SUGGESTED else _SUGGESTED
    host = f"`sysctl {_FS_LIMIT[0]}={want}` (make it permanent in /etc/sysctl.d/90-mediaforge.conf)"
    if name == _NS_LIMIT[0]:
        fix = f"raise this user namespace's limit as its root: `sysctl {name}={want}`"
        if limits.get(_FS_LIMIT[0], want) < want:  # the host's would be the next limit
            fix += f", and the host's {_FS_LIMIT[0]} ({limits[_FS_LIMIT[0]]}) on the host: {host}"
        return fix
    fix = f"raise it with {host}"
    if in_container():
        fix += "; inside a container this must be done on the host"
    return fix


def inotify_limit_hint() -> str:
    """What to say when the inotify watch limit is reached: the limit in force (a daemon in a
    user namespace limited to 10 watches used to quote the host's 192530)."""
    limits = inotify_limits()
    limit = inotify_limit(limits)
    shown = f"{limit[0]}, {limit[1]}" if limit else "?"
    return f"the inotify watch limit ({shown}) is reached: {inotify_limit_fix(limits)}"


def inotify_usage() -> dict[str, int | None]:
    """Inotify watches this process holds, and the limit in force (``inotify_limit``)."""
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
    limit = inotify_limit(inotify_limits())
    return {"watches": used, "limit": limit[0] if limit else None}
