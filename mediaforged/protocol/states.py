"""The states the replies carry, as ``StrEnum``s: a member is a ``str``, so the JSON holds its
plain value. The daemon's state (``mediaforged.state``) holds these very values."""

from enum import StrEnum

__all__ = ["ItemStatus", "JobKind", "Phase", "WatchMode", "WatchState", "watch_state"]


class Phase(StrEnum):
    """What the daemon as a whole is doing (status ``state``, or ``paused``)."""

    STARTING = "starting"
    SCANNING = "scanning"  # the startup reconcile of every root
    WATCHING = "watching"
    IDLE = "idle"  # up, not watching (watch = false): only reconciles find changes
    STOPPING = "stopping"


class WatchMode(StrEnum):
    """How a root is to be watched (chosen per root: a remote mount is polled)."""

    INOTIFY = "inotify"
    POLL = "poll"


class WatchState(StrEnum):
    """How a root is watched right now; status shows FAILED as ``failed: why``."""

    OFF = "off"
    INOTIFY = "inotify"
    POLL = "poll"
    FAILED = "failed"


def watch_state(shown: str) -> WatchState | None:
    """The state in status' ``watch`` (``failed: why`` carries a reason); None if unknown."""
    try:
        return WatchState(shown.split(":", 1)[0])
    except ValueError:
        return None


class JobKind(StrEnum):
    """Why a reconcile job runs."""

    STARTUP = "startup"
    PERIODIC = "periodic"
    QUICK = "quick"  # only the folders whose mtime moved
    POLL = "poll"  # a polled root's regular quick reconcile
    RECHECK = "recheck"  # is an offline root back?
    RESCAN = "rescan"
    CONFIRM = "confirm"
    RETRY = "retry"
    MARKER = "marker"  # a folder gained or lost its .mediaforgeignore
    WATCH_DIR = "watch-dir"  # a new folder, seen by the watch
    WATCH_ROOT = "watch-root"  # the root itself was removed or replaced
    WATCH_ERROR = "watch-error"  # what changed while the watch was down


class ItemStatus(StrEnum):
    """A catalogued file's status (status ``by_status`` keys, search ``status``)."""

    PRESENT = "present"
    MISSING = "missing"
    FAILED = "failed"
    OFFLINE = "offline"  # its root was removed from the config (`mediaforgectl roots`)
