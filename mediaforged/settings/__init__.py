"""The settings table: each setting's name, default, help and check, declared once.

``config`` builds the typed ``Config`` from it. Every value, from the file, the environment
(``MEDIAFORGE_<NAME>``) or a flag, goes through its setting's ``check``, so that an error names
the key and where the value came from; the defaults go through it too.
"""

from __future__ import annotations

from mediaforged.settings.kinds import ConfigError, Setting, host_port, listen_address, octal_mode
from mediaforged.settings.targets import parse_targets

__all__ = [
    "DEFAULT_EXCLUDES",
    "SETTINGS",
    "VERIFY_MODES",
    "WATCH_MODES",
    "ConfigError",
    "Setting",
    "setting",
]

DEFAULT_EXCLUDES = (
    ".*",  # dot files and folders: .Trash-1000, .DS_Store, .thumbnails, editors' swap files
    "@eaDir",  # Synology's per-folder thumbnail cache
    "#recycle",  # Synology/QNAP recycle bins
    "$RECYCLE.BIN",
    "System Volume Information",
    "lost+found",
    "#snapshot",  # Synology/QNAP snapshot folders
    "Thumbs.db",  # Windows thumbnail caches and folder settings
    "desktop.ini",
    "*.part",  # partial downloads and copies: indexed once renamed to their final name
    "*.tmp",
    "*.crdownload",
    "*.!qB",
    "*.download",
)

WATCH_MODES = ("auto", "inotify", "poll")
VERIFY_MODES = ("off", "idle", "always")

SETTINGS: tuple[Setting, ...] = (
    Setting("roots", [], "Library folders to catalog and watch (absolute paths)."),
    Setting(
        "state_dir",
        "",
        "Where the catalog lives. Empty: $STATE_DIRECTORY (systemd; /var/lib/mediaforge "
        "with /etc/mediaforge/mediaforge.toml), else $XDG_STATE_HOME/mediaforge, else "
        "~/.local/state/mediaforge.",
    ),
    Setting(
        "database_url",
        "",
        "SQLAlchemy async URL of the catalog. Empty: sqlite+aiosqlite:///<state_dir>/catalog.db.",
    ),
    Setting(
        "socket_path",
        "",
        "Control socket. Empty: $MEDIAFORGE_SOCKET (mediaforgectl's variable, read by the "
        "daemon too), else $RUNTIME_DIRECTORY/mediaforged.sock (systemd; /run/mediaforge/ "
        "with /etc/mediaforge/mediaforge.toml), else "
        "$XDG_RUNTIME_DIR/mediaforge/mediaforged.sock, else <state_dir>/mediaforged.sock: "
        "mediaforgectl looks where the daemon listens by the same rule.",
    ),
    Setting(
        "socket_mode", "0660", "Permission bits of the control socket (octal).", convert=octal_mode
    ),
    Setting("socket_group", "", "Group that owns the control socket. Empty: unchanged."),
    Setting(
        "control_users",
        [],
        "Users (names or numeric uids) who may run commands that change things (rescan, "
        "pause, tag, ...); everyone else who can reach the socket may only query. Root and "
        "the daemon's own user always may.",
    ),
    Setting(
        "control_groups",
        [],
        "Groups (names or numeric gids) whose members may run commands that change things.",
    ),
    Setting(
        "control_idle_timeout",
        300.0,
        "Seconds a control connection may stay silent between requests before it is closed.",
        above=0,
    ),
    Setting(
        "events_keep_days",
        90.0,
        "Days the change log (`mediaforgectl events`) keeps each event; 0: forever.",
        minimum=0,
    ),
    Setting(
        "events_max_wait",
        10.0,
        "Seconds an `events --follow` subscriber may leave events unread before it is cut "
        "off (it resumes with --since).",
        above=0,
    ),
    Setting(
        "control_max_clients",
        512,
        "Control connections at once at most; more are refused (root and the daemon's user "
        "still get a few that answer status and ping).",
        minimum=1,
    ),
    Setting(
        "control_reserved_clients",
        16,
        "Of control_max_clients, connections only root and the daemon's own user may take, so "
        "that other users cannot lock them out.",
        minimum=0,
    ),
    Setting(
        "control_max_per_user",
        64,
        "Control connections at once from one user who may change things (control_users, "
        "control_groups); root and the daemon's user are bounded only by control_max_clients.",
        minimum=1,
    ),
    Setting(
        "control_max_per_reader",
        16,
        "Control connections at once from one user who may only query.",
        minimum=1,
    ),
    Setting(
        "control_reader_idle_timeout",
        30.0,
        "Seconds a query-only user's connection may stay silent before it is closed (at most "
        "control_idle_timeout).",
        above=0,
    ),
    Setting(
        "http_listen",
        "127.0.0.1:8686",
        "The HTTP API's HOST:PORT ([::1]:8686 for IPv6; port 0: any free one) or a Unix "
        "socket path (for a reverse proxy); empty: off. Needs a token (`token create`).",
        convert=listen_address,
    ),
    Setting(
        "exclude",
        list(DEFAULT_EXCLUDES),
        "Glob patterns matched against each file and folder name; matches are not catalogued.",
    ),
    Setting(
        "settle_seconds",
        3.0,
        "A changed file is indexed once its size and mtime were stable this long; where inotify "
        "sees the writer close it, half a second of stillness is enough.",
        minimum=0,
    ),
    Setting(
        "workers", 2, "Concurrent hashing processes (each reads one file at a time).", minimum=1
    ),
    Setting(
        "read_limit_mb",
        0.0,
        "Cap on the bytes read for hashing, in MB/s across all workers; 0: no cap.",
        minimum=0,
    ),
    Setting("batch_size", 1000, "Catalog writes committed per transaction at most.", minimum=1),
    Setting(
        "batch_interval",
        0.5,
        "Seconds the writer waits to fill a batch before committing.",
        minimum=0,
    ),
    Setting(
        "queue_size",
        20000,
        "Paths waiting to be indexed at most; sources wait when it is full (back-pressure).",
        minimum=1,
    ),
    Setting(
        "reconcile_interval",
        21600.0,
        "Seconds between full reconciles of every root (catches what events missed); 0: never.",
        minimum=0,
    ),
    Setting(
        "quick_reconcile_interval",
        60.0,
        "Seconds between cheap checks of watched roots (folder mtimes; lists only changed "
        "folders): catches events the kernel dropped. 0: never.",
        minimum=0,
    ),
    Setting("watch", True, "Watch the roots for changes (false: reconcile only)."),
    Setting(
        "watch_mode",
        "auto",
        "inotify, poll, or auto (poll network and FUSE file systems, where inotify sees no "
        "remote changes; inotify elsewhere).",
        choices=WATCH_MODES,
    ),
    Setting(
        "poll_interval",
        30.0,
        "Seconds between checks of polled roots (folder mtimes, then the changed folders).",
        above=0,
    ),
    Setting(
        "missing_grace_days",
        30.0,
        "Days a missing item (with its tags) is kept so that it can come back; then purged.",
        minimum=0,
    ),
    Setting(
        "missing_guard_share",
        0.5,
        "A reconcile that would mark more than this share of a root missing at once waits for "
        "`mediaforgectl confirm ROOT`; 1.0: never wait.",
        above=0,
        maximum=1,
    ),
    Setting(
        "missing_guard_min",
        100,
        "The guard above applies only when at least this many files would go missing.",
        minimum=1,
    ),
    Setting(
        "fs_timeout",
        15.0,
        "Seconds a look at a root's file system (a stat, a listing) may take before the root "
        "counts as hung and goes offline (a spun-down disk can take ~10 s to answer).",
        above=0,
    ),
    Setting(
        "root_options",
        {},
        "Per-root settings, keyed by root path: watch_mode and exclude (added to the global "
        "exclude list).",
    ),
    Setting(
        "watch_debounce_ms",
        200,
        "Milliseconds watchfiles groups events before reporting.",
        minimum=1,
    ),
    Setting(
        "extract_timeout",
        30.0,
        "Seconds one file's metadata extraction may take; beyond it the file is recorded as "
        "failed (timeout) and ffprobe is killed.",
        above=0,
    ),
    Setting("extract_workers", 2, "Files whose metadata is extracted at once.", minimum=1),
    Setting(
        "image_max_pixels",
        178956970,
        "Largest image (width x height) that is opened; bigger ones are recorded as "
        "decompression bombs.",
        minimum=1,
    ),
    Setting(
        "thumbnail_dir",
        "",
        "Where thumbnails are kept (`info` and `search --json` give each item's). Empty: "
        "$CACHE_DIRECTORY/thumbnails (systemd's CacheDirectory=; /var/cache/mediaforge with "
        "/etc/mediaforge/mediaforge.toml), else <state_dir>/thumbnails.",
    ),
    Setting(
        "thumbnail_size",
        320,
        "Long edge of a thumbnail, in pixels; 0: no thumbnails.",
        minimum=0,
        maximum=4096,
    ),
    Setting("thumbnail_workers", 1, "Thumbnails made at once.", minimum=1),
    Setting(
        "thumbnail_timeout",
        60.0,
        "Seconds one thumbnail may take (ffmpeg is killed beyond it).",
        above=0,
    ),
    Setting(
        "verify",
        "idle",
        "Damage checks (a full decode of every image, audio and video file, once per content): "
        "idle (while indexing, metadata and thumbnails have nothing to do), always (beside "
        "metadata and thumbnails), off (only `mediaforgectl rescan --verify`).",
        choices=VERIFY_MODES,
    ),
    Setting("verify_workers", 1, "Files decoded at once by the damage check.", minimum=1),
    Setting(
        "verify_timeout",
        1800.0,
        "Seconds one file's damage check may take; beyond it the file is left unverified "
        "(not an error) and ffmpeg is killed.",
        above=0,
    ),
    Setting(
        "metrics_listen",
        "",
        "host:port serving GET /metrics (Prometheus text) without a token, for a scrape on a "
        "trusted network; port 0 picks a free one (logged). Empty: off.",
        convert=host_port,
    ),
    Setting(
        "targets",
        [],
        "Media servers and hooks told of each change ([[targets]] tables): name, kind "
        "(jellyfin, emby, plex, navidrome, kodi, immich, audiobookshelf, webhook, command), "
        "url, token or token_file, and optional user, roots, types, debounce (seconds), "
        "path_map (our path prefix = the server's), command, timeout.",
        convert=parse_targets,
        tables=True,
    ),
    Setting(
        "plugin_timeout",
        30.0,
        "Seconds a plugin hook (entry points mediaforged.plugins) may take before it is "
        "cancelled and the plugin restarted with backoff.",
        above=0,
    ),
    Setting(
        "log_level",
        "info",
        "debug, info, warning or error.",
        choices=("debug", "info", "warning", "error"),
    ),
    Setting(
        "log_format",
        "auto",
        "console, json, or auto (console on a terminal, JSON lines otherwise).",
        choices=("auto", "console", "json"),
    ),
)


_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str, where: str = "") -> Setting:
    """The setting called ``name``; an unknown name is an error that lists the known ones."""
    found = _BY_NAME.get(name)
    if found is None:
        known = ", ".join(sorted(_BY_NAME))
        raise ConfigError(f"{where}unknown setting {name!r} (known: {known})")
    return found
