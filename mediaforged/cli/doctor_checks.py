"""The doctor's checks of what the daemon will touch: each library root, the inotify limit,
the catalog's folder and the control socket. Each returns one ``Check``: pass, warn or fail,
what was found and the fix; ``doctor.run_checks`` runs them in order.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mediaforged.config import Config
from mediaforged.fs.fsio import exclusion_matcher
from mediaforged.fs.modes import DIR_MODE, FILE_MODE, ModeChange, tighten
from mediaforged.fs.mounts import (
    Mount,
    inotify_limit,
    inotify_limit_fix,
    inotify_limits,
    is_remote,
    mount_of,
    watch_mode_for,
)

__all__ = [
    "FAIL",
    "PASS",
    "WARN",
    "Check",
    "check_catalog",
    "check_inotify",
    "check_old_thumbnails",
    "check_root",
    "check_search_index",
    "check_socket",
]

PASS, WARN, FAIL = "pass", "warn", "fail"
MIN_FREE = 100 * 2**20  # below this the next batch of commits may fail
LOW_FREE = 2**30
COUNT_LIMIT = 2_000_000  # stop counting folders here: the answer is already clear


@dataclass(frozen=True)
class Check:
    check: str  # a stable id: config, ffprobe, ffmpeg, root, inotify, catalog, search,
    # thumbnails, socket
    subject: str  # what was checked (a path, a program)
    status: str  # pass, warn or fail
    detail: str  # what was found
    fix: str = ""  # what to do about a warn or a fail


# --- roots ------------------------------------------------------------------------------------


def _whoami() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def check_root(root: Path, config: Config, mounts: list[Mount]) -> Check:
    where = f"in {config.source}" if config.source else "in the config"
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return Check(
            "root",
            str(root),
            FAIL,
            "does not exist (an unmounted share or disk?)",
            f"mount it, or correct roots {where}",
        )
    except OSError as exc:
        return Check("root", str(root), FAIL, f"cannot reach it: {exc.strerror}", _access_fix(root))
    if not stat.S_ISDIR(st.st_mode):
        return Check("root", str(root), FAIL, "is not a folder", f"correct roots {where}")
    try:
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as exc:
        return Check(
            "root",
            str(root),
            FAIL,
            f"{_whoami()} cannot read it: {exc.strerror}",
            _access_fix(root),
        )
    mount = mount_of(root, mounts)
    fs = f"{mount.fs_type} at {mount.mount_point}" if mount else "file system unknown"
    mode, why = watch_mode_for(root, config.watch_mode_of(root), mounts)
    if not config.watch:
        mode, why = "none", "watch = false: reconciles only"
    detail = f"readable by {_whoami()}; {fs}; watch: {mode} ({why})"
    if mount and is_remote(mount.fs_type) and mode == "inotify":
        return Check(
            "root",
            str(root),
            WARN,
            detail + f"; inotify does not see changes other machines make on {mount.fs_type}",
            'set watch_mode = "auto" or "poll" for it ([root_options."..."]), or run '
            "`mediaforgectl rescan` after copying from elsewhere",
        )
    if os.geteuid() == 0:
        detail += " (checked as root, who reads everything: run doctor as the service's user)"
    return Check("root", str(root), PASS, detail)


def _access_fix(root: Path) -> str:
    try:
        group = grp.getgrgid(os.stat(root.parent).st_gid).gr_name
    except (OSError, KeyError):
        group = "its group"
    return (
        f"let the daemon's user read it: `chmod -R o+rX {root}`, or add that user to "
        f"{group}'s group (`usermod -aG {group} mediaforge`) and make it group-readable"
    )


# --- inotify ----------------------------------------------------------------------------------


def _count_dirs(top: Path, excluded: Callable[[bytes], object]) -> Iterator[int]:
    stack = [os.fsencode(top)]
    while stack:
        folder = stack.pop()
        yield 1
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False) and not excluded(entry.name):
                        stack.append(entry.path)
        except OSError:
            continue


def check_inotify(config: Config, roots: list[Path], source: Path) -> Check:
    dirs = 0
    for root in roots:
        for n in _count_dirs(root, exclusion_matcher(config.exclude_of(root))):
            dirs += n
            if dirs >= COUNT_LIMIT:
                break
    subject = f"{dirs} folders to watch"
    limits = inotify_limits(str(source))
    in_force = inotify_limit(limits)
    if in_force is None:
        return Check("inotify", subject, WARN, f"cannot read the limit from {source}")
    limit, name = in_force
    want = max(524288, 1 << (2 * dirs).bit_length())
    fix = inotify_limit_fix(limits, want)  # the sysctl of the limit in force, not the host's
    detail = f"{dirs} folders under the roots, limit {limit} watches per user ({name})"
    if dirs > limit:
        return Check(
            "inotify",
            subject,
            FAIL,
            detail + ": the daemon falls back to polling, which notices changes later",
            fix,
        )
    if dirs > limit * 0.8:
        return Check("inotify", subject, WARN, detail + ": little room to grow", fix)
    return Check("inotify", subject, PASS, detail)


# --- catalog ----------------------------------------------------------------------------------


def _catalog_file(config: Config) -> Path | None:
    url = config.database_url
    if not url:
        return config.state_dir / "catalog.db"
    if url.startswith("sqlite") and ":///" in url:
        return Path(url.split(":///", 1)[1].split("?")[0])
    return None  # a server database: not a file here


def _too_open(config: Config, catalog: Path) -> list[ModeChange]:
    """The daemon's folders wider than 0750 and the catalog's files wider than 0640: other
    users could read the catalog (or the thumbnails) past the socket's access control."""
    backups = config.state_dir / "backups"
    dirs = [config.state_dir, backups, config.thumbnail_dir]
    files = [catalog, *(Path(f"{catalog}{c}") for c in ("-wal", "-shm", "-journal"))]
    files += sorted(backups.glob("catalog-*.db")) if backups.is_dir() else []
    found = [tighten(d, DIR_MODE, change=False) for d in dirs if d is not None]
    found += [tighten(f, FILE_MODE, change=False) for f in files]
    return [c for c in found if c is not None]


def _open_fix(wide: list[ModeChange]) -> str:
    dirs = " ".join(str(c.path) for c in wide if c.path.is_dir())
    files = " ".join(str(c.path) for c in wide if not c.path.is_dir())
    fixes = [f"chmod go-w,o-rwx {dirs}" if dirs else "", f"chmod 0640 {files}" if files else ""]
    return (
        " && ".join(f"`{f}`" for f in fixes if f)
        + " (the daemon tightens its state folder and catalog at start)"
    )


def check_catalog(config: Config, mounts: list[Mount]) -> Check:
    catalog = _catalog_file(config)
    if catalog is None:
        return Check("catalog", "database_url", PASS, "a database server: nothing to check here")
    folder = catalog.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    mount = mount_of(folder, mounts)
    if mount and is_remote(mount.fs_type):
        return Check(
            "catalog",
            str(folder),
            FAIL,
            f"on {mount.fs_type} ({mount.mount_point}): SQLite's locking is unreliable on "
            "network file systems and the catalog can be corrupted",
            "put state_dir (or database_url) on a local disk; the library may stay remote",
        )
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        return Check("catalog", str(folder), WARN, f"cannot measure free space: {exc.strerror}")
    size = catalog.stat().st_size if catalog.exists() else 0
    fs = f"{mount.fs_type}, " if mount else ""
    detail = f"{fs}{free / 2**30:.1f} GiB free; catalog {size / 2**20:.1f} MiB"
    fix = f"free space on {existing} or move state_dir to a larger disk"
    if free < MIN_FREE:
        return Check("catalog", str(folder), FAIL, detail, fix)
    wide = _too_open(config, catalog)
    if wide:
        shown = ", ".join(f"{c.path} {c.before:04o}" for c in wide)
        detail += f"; other users can read the catalog past the socket: {shown}"
        fix = _open_fix(wide) + (f"; {fix}" if free < LOW_FREE else "")
        return Check("catalog", str(folder), WARN, detail, fix)
    if free < LOW_FREE:
        return Check("catalog", str(folder), WARN, detail, fix)
    return Check("catalog", str(folder), PASS, detail)


def check_search_index(config: Config) -> Check | None:
    """The word index of the search against the catalog: FTS5's own ``integrity-check``
    (in a transaction rolled back: it writes nothing) and one row per item. None: no SQLite
    catalog with an index yet."""
    catalog = _catalog_file(config)
    if catalog is None or not catalog.exists():
        return None
    fix = "mediaforgectl reindex-search (while the daemon runs)"
    try:
        conn = sqlite3.connect(f"file:{catalog}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return Check("search", str(catalog), WARN, f"cannot open the catalog: {exc}")
    try:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_fts'").fetchone()
        if found is None:
            return None
        conn.execute("BEGIN")
        try:
            conn.execute("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')")
        finally:
            conn.execute("ROLLBACK")
        items, rows = conn.execute(
            "SELECT (SELECT count(*) FROM media_items), (SELECT count(*) FROM search_fts)"
        ).fetchone()
    except sqlite3.Error as exc:
        return Check("search", str(catalog), FAIL, f"the search index is damaged: {exc}", fix)
    finally:
        conn.close()
    if items != rows:
        detail = f"the search index has {rows:,} rows for {items:,} items"
        return Check("search", str(catalog), FAIL, detail, fix)
    return Check("search", str(catalog), PASS, f"search index in step: {items:,} items")


def check_old_thumbnails(config: Config) -> Check | None:
    """Thumbnails made before they moved to systemd's cache folder (or before thumbnail_dir
    was changed) are no longer used: the catalog counts them as made, so none is made
    again until they are moved; None when there is no such folder."""
    old = config.state_dir / "thumbnails"
    if config.thumbnail_dir in (None, old) or not old.is_dir():
        return None
    try:
        with os.scandir(old) as entries:
            if next(entries, None) is None:
                return None
    except OSError:
        return None
    new = config.thumbnail_dir
    return Check(
        "thumbnails",
        str(old),
        WARN,
        f"thumbnails left in the old folder; they are now kept in {new}",
        f"move them there: `mkdir -p {new} && cp -an {old}/. {new}/ && rm -r {old}` "
        "(as the daemon's user, or as root: -a keeps the owner)",
    )


# --- socket -----------------------------------------------------------------------------------


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group} {stat.S_IMODE(st.st_mode):04o}"


def check_socket(path: Path) -> Check:
    try:
        dir_st = os.stat(path.parent)
    except OSError:
        return Check(
            "socket",
            str(path),
            WARN,
            f"{path.parent} does not exist: mediaforged is not running",
            "start it: `systemctl start mediaforged`",
        )
    folder = f"folder {_owner(dir_st)}"
    if dir_st.st_mode & stat.S_IWOTH and not dir_st.st_mode & stat.S_ISVTX:
        return Check(
            "socket",
            str(path),
            FAIL,
            f"{folder}: anyone can replace the socket",
            f"`chmod o-w {path.parent}` (systemd's RuntimeDirectoryMode=0750 does this)",
        )
    try:
        sock_st = os.stat(path)
    except FileNotFoundError:
        return Check(
            "socket",
            str(path),
            WARN,
            f"{folder}; no socket: mediaforged is not running",
            "start it: `systemctl start mediaforged` (`journalctl -u mediaforged` says why it "
            "stopped)",
        )
    except OSError as exc:
        return Check(
            "socket", str(path), FAIL, f"{folder}; {exc.strerror}", _join_group_fix(dir_st)
        )
    detail = f"{folder}; socket {_owner(sock_st)}"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(5.0)
    try:
        probe.connect(str(path))
        hello = probe.recv(4096).decode("utf-8", "replace").strip()
    except PermissionError:
        return Check(
            "socket", str(path), FAIL, detail + "; permission denied", _join_group_fix(sock_st)
        )
    except OSError as exc:
        return Check(
            "socket",
            str(path),
            WARN,
            detail + f"; nobody answers ({exc.strerror or exc}): a stale socket",
            "start mediaforged: `systemctl start mediaforged`",
        )
    finally:
        probe.close()
    return Check("socket", str(path), PASS, detail + f"; mediaforged answers: {hello[:120]}")


def _join_group_fix(st: os.stat_result) -> str:
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"join its group: `sudo usermod -aG {group} $USER`, then log in again"
