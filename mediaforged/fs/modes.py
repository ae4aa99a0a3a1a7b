"""The daemon's own files kept from other users, whatever the umask.

The catalog holds every path, tag and piece of metadata of the library; the socket decides who
may read what, so nobody may read the catalog's files past it. The daemon creates its folders at
most ``DIR_MODE`` and its files at most ``FILE_MODE`` (a stricter umask, such as the user unit's
0077, still applies): a login shell's 0022 would give 0755 and 0644, and anyone could open the
catalog with sqlite3. The group is the one systemd's unit gives mediaforgectl's users
(StateDirectoryMode=0750, UMask=0027).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ModeChange",
    "create_private_file",
    "private_dir",
    "tighten",
    "too_open",
]

DIR_MODE = 0o750
FILE_MODE = 0o640


@dataclass(frozen=True, slots=True)
class ModeChange:
    """A path found wider than its limit: tightened (``after``) or only reported (None)."""

    path: Path
    before: int
    after: int | None

    def as_log(self) -> dict[str, str]:
        after = "unchanged" if self.after is None else f"{self.after:04o}"
        return {"path": str(self.path), "mode": f"{self.before:04o}", "now": after}


def too_open(mode: int, limit: int) -> bool:
    """True when ``mode`` grants a permission that ``limit`` does not (setgid and the sticky
    bit grant none: a folder's setgid, which keeps its group on new files, stays)."""
    return bool(mode & 0o777 & ~limit)


def tighten(path: Path, limit: int, *, change: bool = True) -> ModeChange | None:
    """Take away the bits of an existing ``path`` beyond ``limit`` (only report them when not
    ``change``); None when it is within the limit or absent. Never follows a symlink."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode) or not too_open(st.st_mode, limit):
        return None
    before = stat.S_IMODE(st.st_mode)
    if not change or st.st_uid != os.geteuid():
        return ModeChange(path, before, None)  # not ours to change (chmod would fail anyway)
    try:
        os.chmod(path, after := before & (limit | 0o7000))
    except OSError:  # a read-only file system: whoever opens it next reports that
        return ModeChange(path, before, None)
    return ModeChange(path, before, after)


def private_dir(path: Path, *, ours: bool = True) -> ModeChange | None:
    """Make ``path`` a folder of at most DIR_MODE: created so (with its missing parents), or,
    when it exists, tightened if ``ours``, else only reported when wider."""
    if _make_dirs(path):
        return None
    return tighten(path, DIR_MODE, change=ours)


def _make_dirs(path: Path) -> bool:
    """Create ``path`` and its missing parents at most DIR_MODE; False if it existed (an
    existing parent is left as it is)."""
    try:
        os.mkdir(path, DIR_MODE)  # the umask can only take bits away from these
    except FileExistsError:
        return False
    except FileNotFoundError:
        _make_dirs(path.parent)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:  # made meanwhile by another thread
            return False
    return True


def create_private_file(path: Path) -> bool:
    """Create an empty ``path`` of at most FILE_MODE if it does not exist; True if created.
    SQLite then gives its -wal and -shm files the mode of the database file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True
