"""The replies of the catalog's commands (queries, search, tags, collections, events, tokens),
as ``TypedDict``s: the HTTP API renders them in ``/openapi.json`` and its tests check every
reply against them, so the socket, HTTP and mediaforgectl read one description.

``typing_extensions.TypedDict``: pydantic (which renders them) needs it before Python 3.12."""

# No `from __future__ import annotations`: pydantic and TypedDict read the real annotations.
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

__all__ = [
    "CollectionCreateReply",
    "CollectionDeleteReply",
    "CollectionEditReply",
    "CollectionListReply",
    "CollectionShowReply",
    "DuplicatesReply",
    "EventLine",
    "EventsReply",
    "FailedReply",
    "FolderEntry",
    "FoldersReply",
    "InfoReply",
    "ItemCopy",
    "ItemEvent",
    "ItemRow",
    "ReindexReply",
    "RetryReply",
    "SearchExplain",
    "SearchReply",
    "TagAddReply",
    "TagListReply",
    "TagRemoveReply",
    "TokenCreateReply",
    "TokenListReply",
    "TokenRevokeReply",
    "WhyReply",
]


class ItemRow(TypedDict):
    """One catalogued file as ``info`` shows it (timestamps ISO 8601 UTC)."""

    id: int
    root_id: int
    path: str
    name: str
    size: int
    mtime_ns: int
    dev: int
    inode: int
    file_hash: str | None
    hash_key: int | None
    mime_type: str | None
    media_type: str
    status: str
    error_code: str | None
    error: str | None
    created_at: str
    updated_at: str
    missing_since: str | None


class ItemCopy(TypedDict):
    id: int
    path: str


class ItemEvent(TypedDict):
    """One line of an item's history: its change-log entries, newest first."""

    cursor: int
    at: str
    kind: str  # EVENT_KINDS
    path: str | None
    old_path: str | None  # a move's path before


class InfoReply(TypedDict):
    item: ItemRow
    thumbnail: str | None  # its thumbnail's absolute path; None: none made
    # The damage check of its bytes (status ok, corrupt, requested, unverified; decoder,
    # error, at, verified_at); None: not checked yet.
    verify: dict[str, Any] | None
    metadata: dict[str, Any]  # the extracted fields that have a value
    tags: list[str]
    collections: list[str]
    same_content: list[str]  # paths of present copies
    copies: list[ItemCopy]  # the same copies, with their ids
    history: list[ItemEvent]  # the last 50 changes of this item, newest first


class SearchItem(TypedDict):
    id: int
    path: str
    media_type: str
    mime_type: str | None
    size: int
    status: str
    created_at: str
    mtime_ns: int
    title: str | None
    artist: str | None
    album: str | None
    taken_at: str | None  # local time where it was taken, with its offset when known
    taken_offset: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    camera_make: str | None
    camera_model: str | None
    thumbnail: str | None  # its thumbnail's absolute path; None: none made (or thumbnails off)


class SearchExplain(TypedDict):
    read: str  # how the query was read, as one line
    sort: str | None  # the query's sort:, if it had one
    sql: str  # the page's statement, its parameters apart
    params: list[str]
    plan: list[str]  # EXPLAIN QUERY PLAN, indented by depth (SQLite; empty elsewhere)


class SearchReply(TypedDict):
    total: int  # the matches; with total_exact false, at least this many (search.COUNT_CAP)
    total_exact: bool  # false: counting stopped at total (ask with exact_count for all)
    offset: int
    items: list[SearchItem]  # empty with "stream": the items came in progress lines
    next_cursor: str | None  # pass as cursor for the page after this one; None: the last
    streamed: NotRequired[int]  # with "stream": how many items the progress lines carried
    explain: NotRequired[SearchExplain]  # with "explain": true


class ReindexReply(TypedDict):
    rows: int  # the word index's rows, one per item
    elapsed_s: float


class WhyReply(TypedDict):
    path: str
    catalogued: bool
    reason: str
    message: str
    id: NotRequired[int]
    status: NotRequired[str]
    rule: NotRequired[str]


class DuplicateCopy(TypedDict):
    id: int
    path: str
    dev: int
    inode: int
    file_hash: NotRequired[str]
    media_type: str
    thumbnail: str | None  # its thumbnail's absolute path (the same for every copy); None: none


class DuplicateGroup(TypedDict):
    id: str  # TIER:HASH16, what `duplicates merge` takes
    tier: str  # exact, same-content or near
    file_hash: str
    size: int
    copies: int
    wasted_bytes: int
    keep: int  # the item to keep
    keep_reason: str
    items: list[DuplicateCopy]


class DuplicatesReply(TypedDict):
    groups: int
    tiers: dict[str, int]
    wasted_bytes: int
    duplicates: list[DuplicateGroup]


class MergeReply(TypedDict):
    group: str
    kept: int
    others: list[int]
    tags: int
    collections: int


class SimilarHit(TypedDict):
    id: int
    path: str
    distance: float
    tier: str


class SimilarReply(TypedDict):
    item: dict[str, Any]
    kind: str
    similar: list[SimilarHit]


class FolderEntry(TypedDict):
    name: str
    path: str
    items: int  # present items below it, at any depth
    bytes: int


class FoldersReply(TypedDict):
    path: str | None  # the folder listed; None: the roots are listed
    root: str | None  # its root
    items: int  # present items directly in the folder
    bytes: int
    folders: list[FolderEntry]  # its sub-folders by name (the roots, with no path)
    more: bool  # more sub-folders than limit: the first ones are listed


class FailedItem(TypedDict):
    id: int
    path: str
    size: int
    stage: str  # index, metadata or thumbnail: the stage that failed
    error_code: str | None
    error: str | None
    updated_at: str


class FailedReply(TypedDict):
    total: int
    by_stage: dict[str, int]
    by_code: dict[str, int]
    items: list[FailedItem]


class RetryStage(TypedDict):
    retried: int
    still_failed: int


class RetryReply(TypedDict):
    retried: int
    still_failed: int
    fixed: int
    by_stage: dict[str, RetryStage]
    errors: list[str]


class TagAddReply(TypedDict):
    tag: str
    added: int
    already: int
    items: int


class TagRemoveReply(TypedDict):
    tag: str
    removed: int
    items: int


class TagCount(TypedDict):
    tag: str
    items: int


class ItemTags(TypedDict):
    id: int
    path: str
    tags: list[str]


class TagListReply(TypedDict):
    tags: NotRequired[list[TagCount]]  # every tag (no item named)
    items: NotRequired[list[ItemTags]]  # the tags of the item named


class CollectionCreateReply(TypedDict):
    collection: str
    id: int
    created: Literal[True]


class CollectionDeleteReply(TypedDict):
    collection: str
    deleted: Literal[True]
    items: int


class CollectionEditReply(TypedDict):
    collection: str
    added: NotRequired[int]
    removed: NotRequired[int]
    items: int


class CollectionSummary(TypedDict):
    collection: str
    description: str | None
    created_at: str | None
    items: int


class CollectionListReply(TypedDict):
    collections: list[CollectionSummary]


class CollectionItem(TypedDict):
    id: int
    path: str
    media_type: str
    status: str
    size: int


class CollectionShowReply(TypedDict):
    collection: str
    description: str | None
    created_at: str | None
    total: int
    items: list[CollectionItem]


class EventLine(TypedDict):
    """One change: its cursor (resume after it with since=CURSOR), kind, item and path."""

    cursor: int
    at: str
    kind: str
    item: int | None
    path: str | None
    old_path: NotRequired[str]  # moved: where it was


class EventsReply(TypedDict):
    cursor: int  # the last event sent
    sent: int
    head: int  # the newest event in the log


class TokenCreateReply(TypedDict):
    name: str
    scope: str
    token: str  # shown this once: only its hash is kept


class TokenSummary(TypedDict):
    name: str
    scope: str
    created_at: str
    last_used_at: str | None


class TokenListReply(TypedDict):
    tokens: list[TokenSummary]


class TokenRevokeReply(TypedDict):
    name: str
    revoked: Literal[True]
