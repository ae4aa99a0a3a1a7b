"""The replies, by command, as ``TypedDict``s: the commands return them and mediaforgectl reads
them through them, so the two cannot drift. Key order is the order on the wire."""

# No `from __future__ import annotations`: TypedDict reads NotRequired[...] from the real
# annotation at run time (a string hides it, and every key would count as required).
from typing import Literal, NotRequired

from typing_extensions import TypedDict  # pydantic (the HTTP API) needs it before Python 3.12

from mediaforged.protocol.states import JobKind, Phase, WatchMode
from mediaforged.protocol.targets import TargetHealth

__all__ = [
    "CancelReply",
    "CatalogRoot",
    "CatalogStatus",
    "ConfirmReply",
    "ErrorsStatus",
    "ForgetReply",
    "HelloReply",
    "InotifyUsage",
    "JobProgress",
    "JobStatus",
    "JobsProgress",
    "LastReconcile",
    "MetadataStatus",
    "MetricsReply",
    "PauseReply",
    "PendingStatus",
    "PingReply",
    "RecentError",
    "ReloadReply",
    "RescanReply",
    "ResumeReply",
    "RootStatus",
    "RootsReply",
    "StatusReply",
    "ThumbnailStatus",
    "Totals",
    "VerifyResult",
    "VerifyStatus",
]


class JobProgress(TypedDict):
    """One reconcile or rescan job (progress lines, rescan, cancel, confirm, retry)."""

    job: int
    kind: JobKind
    root: str
    path: str
    walked: int
    queued: int
    done: int
    failed: int
    gone: int
    dropped: int
    walk_finished: bool
    complete: bool
    cancelled: bool
    elapsed_s: float
    rate_per_s: float | None


class JobStatus(JobProgress):
    """A job in status: with the seconds left, once its walk has counted the work."""

    eta_s: float | None


class JobsProgress(TypedDict):
    """The progress line of rescan, confirm and retry."""

    jobs: list[JobProgress]


class LastReconcile(TypedDict):
    at: float | None  # epoch seconds
    duration_s: float | None
    files: int | None


class RootStatus(TypedDict):
    path: str
    online: bool
    offline_reason: str | None
    watch: str  # a WatchState; "failed: why" when it failed
    watch_mode: WatchMode
    watch_mode_reason: str
    watch_fallback: str | None  # why inotify gave way to polling, and the fix
    watch_folders: int
    unwatched_folders: int
    watch_restarts: int
    overflows: int  # kernel event queue overflows (reported or suspected), each caught up
    paused: bool
    held: str | None  # why the mass-missing guard held the last reconcile back
    held_missing: int
    last_quick_check_at: float | None
    last_event_at: float | None
    last_reconcile: LastReconcile
    items: int
    bytes: int  # the present items' sizes
    by_media_type: dict[str, int]  # present items only
    by_status: dict[str, int]  # ItemStatus -> count


class CatalogStatus(TypedDict):
    url: str
    counted_at: float | None  # when the item counts were taken (epoch seconds)
    bytes: int | None  # the SQLite files' size
    problem: str | None  # why the catalog cannot be written right now


class InotifyUsage(TypedDict):
    watches: int | None
    limit: int | None


class PendingStatus(TypedDict):
    settling: int
    index_queue: int
    indexing: int
    write_queue: int
    reconciles_queued: int
    metadata: int
    thumbnails: int
    signatures: int  # items whose content has no signature yet (duplicate tiers, similar)
    verify: int  # items whose bytes await a damage check (the verify setting says when)


class MetadataStatus(TypedDict):
    idle: bool  # exact: wait for this, not for pending.metadata == 0
    extracted: int
    failed: int
    failed_items: int


class ThumbnailStatus(TypedDict):
    enabled: bool
    idle: bool
    made: int
    shared: int
    failed: int
    failed_items: int  # present items whose thumbnail could not be made
    removed: int


class VerifyStatus(TypedDict):
    mode: str  # the verify setting: off, idle or always
    idle: bool  # exact: wait for this, not for pending.verify == 0
    verified: int  # decoded clean since the daemon started
    corrupt: int  # found damaged since the daemon started
    unverified: int  # no decoder here reads them, or too slow (not errors)
    corrupt_items: int  # present items whose bytes are damaged (`failed --stage verify`)


class Totals(TypedDict):
    """Counters since the daemon started."""

    indexed: int
    hashed_bytes: int
    unchanged: int
    moved: int
    marked_missing: int
    purged: int
    failed: int
    commits: int


class RecentError(TypedDict):
    at: float
    path: str
    code: str
    message: str


class ErrorsStatus(TypedDict):
    failed_items: int  # files failing at any stage (`mediaforgectl failed` lists them)
    by_stage: dict[str, int]  # index, metadata, thumbnail
    recent: list[RecentError]


class StatusReply(TypedDict):
    state: Phase | Literal["paused"]
    version: str
    pid: int
    uptime_s: float
    config_file: str | None
    http: str | None  # where the HTTP API listens (http_listen); None: off
    catalog: CatalogStatus
    roots: list[RootStatus]
    inotify: InotifyUsage
    pending: PendingStatus
    metadata: MetadataStatus
    thumbnails: ThumbnailStatus
    verify: VerifyStatus
    jobs: list[JobStatus]
    totals: Totals
    errors: ErrorsStatus
    targets: NotRequired[list[TargetHealth]]  # the notify targets (protocol/targets.py)


class VerifyResult(TypedDict):
    verified: int  # distinct contents decoded again
    corrupt: int  # items under the path found damaged


class RescanReply(TypedDict):
    jobs: list[JobProgress]
    errors: list[str]
    verify: NotRequired[VerifyResult]  # with --verify


class CancelReply(TypedDict):
    cancelled: list[JobProgress]


class PauseReply(TypedDict):
    paused: NotRequired[list[str]]  # one root paused: every paused root
    state: NotRequired[Literal["paused"]]  # all paused


class ResumeReply(TypedDict):
    state: Phase
    paused: list[str]  # roots still paused


class ConfirmReply(TypedDict):
    root: str
    confirmed: bool
    reason: NotRequired[str]  # not confirmed: why
    missing: NotRequired[int]  # confirmed: files marked missing
    held: NotRequired[int]  # confirmed: files the guard had held back


class ReloadReply(TypedDict):
    ok: Literal[True]
    roots_added: list[str]
    roots_removed: list[str]
    watch_restarted: list[str]
    needs_restart: list[str]  # settings that only a restart applies
    targets_added: NotRequired[list[str]]  # [[targets]] entries started, stopped, restarted
    targets_removed: NotRequired[list[str]]
    targets_changed: NotRequired[list[str]]


class MetricsReply(TypedDict):
    """``metrics``: the Prometheus text of GET /metrics, and its content type."""

    text: str
    content_type: str


class PingReply(TypedDict):
    pong: Literal[True]
    version: str
    protocol: int


class HelloReply(TypedDict):
    server: Literal["mediaforged"]
    version: str
    protocol: int
    commands: list[str]


class CatalogRoot(TypedDict):
    """A root the catalog knows (`roots`): configured now, or removed from the config."""

    path: str
    configured: bool
    state: Literal["online", "offline", "removed"]
    offline_reason: str | None
    items: int  # every status
    bytes: int  # the present (for a removed root: offline) items' sizes
    by_status: dict[str, int]  # ItemStatus -> count
    last_reconcile_at: float | None  # epoch seconds


class RootsReply(TypedDict):
    roots: list[CatalogRoot]


class ForgetReply(TypedDict):
    root: str
    forgotten: int  # items removed from the catalog (with their tags and collections)
