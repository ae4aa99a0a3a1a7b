"""The identity rules as a table: what the catalog holds + what a batch saw -> the plan."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from mediaforged.catalog.identity import (
    Holdings,
    MissingRow,
    MovedRow,
    Observation,
    PathRow,
    Plan,
    latest_by_path,
    move_ids,
    plan,
    restore_keys,
)
from mediaforged.catalog.schema import hash_key
from mediaforged.fs.fsio import FileStat

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
H1, H2, H3 = "a1" * 32, "b2" * 32, "c3" * 32
KEPT = "(kept)"  # an update that leaves the item's hash as it was


def _st(size: int = 10, ino: int = 1) -> FileStat:
    return FileStat(size, 1_000, 1, ino)


def file(path: str, digest: str, size: int = 10, ino: int = 1) -> Observation:
    return Observation(
        "file", 1, path.encode(), st=_st(size, ino), file_hash=digest, media_type="image"
    )


def move(path: str, from_id: int, ino: int = 1) -> Observation:
    return Observation("move", 1, path.encode(), st=_st(ino=ino), move_from_id=from_id)


def failed(path: str) -> Observation:
    return Observation(
        "failed", 1, path.encode(), st=_st(), media_type="audio", error_code="corrupt", error="bad"
    )


def at(path: str, item_id: int, digest: str | None = H1, status: str = "present") -> PathRow:
    error = "corrupt" if status == "failed" else None
    return PathRow(item_id, path.encode(), digest, error, status)


def moved_row(item_id: int, path: str, digest: str = H1) -> MovedRow:
    return MovedRow(item_id, digest, hash_key(digest), "image/jpeg", "image", path)


def holding(
    paths: list[PathRow] = [],  # noqa: B006 - never mutated
    moved: list[MovedRow] = [],  # noqa: B006
    missing: list[MissingRow] = [],  # noqa: B006
) -> Holdings:
    return Holdings({r.path_key: r for r in paths}, {r.id: r for r in moved}, missing)


def summary(p: Plan) -> dict[str, Any]:
    """The plan in short; empty parts left out so each case names only what it expects."""
    out: dict[str, Any] = {
        "updates": [
            (u["b_id"], u["path"], u["status"], u.get("file_hash", KEPT)) for u in p.updates
        ],
        "inserts": [(i["path"], i["status"], i["file_hash"]) for i in p.inserts],
        "stale": p.stale,
        "changes": [(c["kind"], c["item_id"], c["path"], c["old_path"]) for c in p.changes],
        "failed": [code for _, code, _ in p.failed],
        "logs": [(event, fields["item"]) for event, fields in p.logs],
    }
    out = {k: v for k, v in out.items() if v}
    out.update(indexed=p.indexed, moved=p.moved, restored=p.restored, irregular=p.irregular)
    return out


class Case(NamedTuple):
    name: str
    held: Holdings
    seen: list[Observation]
    expected: dict[str, Any]


def counts(
    indexed: int = 1, moved: int = 0, restored: int = 0, irregular: bool = False
) -> dict[str, Any]:
    return {"indexed": indexed, "moved": moved, "restored": restored, "irregular": irregular}


CASES = [
    Case(
        "a new path is inserted",
        holding(),
        [file("/l/a.jpg", H1)],
        {"inserts": [("/l/a.jpg", "present", H1)], **counts()},
    ),
    Case(
        "the last word on a path wins",
        holding(),
        [file("/l/a.jpg", H1), file("/l/b.jpg", H3), file("/l/a.jpg", H2, size=20)],
        {"inserts": [("/l/b.jpg", "present", H3), ("/l/a.jpg", "present", H2)], **counts(2)},
    ),
    Case(
        "unchanged content updates the stat and logs no change",
        holding([at("/l/a.jpg", 5)]),
        [file("/l/a.jpg", H1)],
        {"updates": [(5, "/l/a.jpg", "present", H1)], **counts()},
    ),
    Case(
        "new content at a known path: changed, metadata stale",
        holding([at("/l/a.jpg", 5)]),
        [file("/l/a.jpg", H2)],
        {
            "updates": [(5, "/l/a.jpg", "present", H2)],
            "stale": [5],
            "changes": [("changed", 5, "/l/a.jpg", None)],
            **counts(),
        },
    ),
    Case(
        "a failed item read again with the same bytes: changed, metadata stale",
        holding([at("/l/a.jpg", 5, status="failed")]),
        [file("/l/a.jpg", H1)],
        {
            "updates": [(5, "/l/a.jpg", "present", H1)],
            "stale": [5],
            "changes": [("changed", 5, "/l/a.jpg", None)],
            **counts(),
        },
    ),
    Case(
        "a missing item seen again at its own path: restored",
        holding([at("/l/a.jpg", 5, status="missing")]),
        [file("/l/a.jpg", H1)],
        {
            "updates": [(5, "/l/a.jpg", "present", H1)],
            "changes": [("restored", 5, "/l/a.jpg", None)],
            **counts(),
        },
    ),
    Case(
        "a failure at a known path keeps the hash",
        holding([at("/l/a.mp3", 5)]),
        [failed("/l/a.mp3")],
        {
            "updates": [(5, "/l/a.mp3", "failed", KEPT)],
            "changes": [("failed", 5, "/l/a.mp3", None)],
            "failed": ["corrupt"],
            **counts(0, irregular=True),
        },
    ),
    Case(
        "a failure again is no new change",
        holding([at("/l/a.mp3", 5, status="failed")]),
        [failed("/l/a.mp3")],
        {
            "updates": [(5, "/l/a.mp3", "failed", KEPT)],
            "failed": ["corrupt"],
            **counts(0, irregular=True),
        },
    ),
    Case(
        "a failure at a new path is inserted without a hash",
        holding(),
        [failed("/l/new.mp3")],
        {
            "inserts": [("/l/new.mp3", "failed", None)],
            "failed": ["corrupt"],
            **counts(0, irregular=True),
        },
    ),
    Case(
        "a move keeps the item and its hash",
        holding(moved=[moved_row(7, "/l/old.jpg", H2)]),
        [move("/l/new.jpg", 7)],
        {
            "updates": [(7, "/l/new.jpg", "present", H2)],
            "changes": [("moved", 7, "/l/new.jpg", "/l/old.jpg")],
            "logs": [("moved", 7)],
            **counts(moved=1),
        },
    ),
    Case(
        "two new hard links to a moved inode: the second is an item of its own",
        holding(moved=[moved_row(7, "/l/old.jpg", H2)]),
        [move("/l/a.jpg", 7), move("/l/b.jpg", 7)],
        {
            "updates": [(7, "/l/a.jpg", "present", H2)],
            "inserts": [("/l/b.jpg", "present", H2)],
            "changes": [("moved", 7, "/l/a.jpg", "/l/old.jpg")],
            "logs": [("moved", 7)],
            **counts(2, moved=1),
        },
    ),
    Case(
        "a link to an inode whose item keeps its own path is an item of its own",
        holding([at("/l/old.jpg", 7, H2)], moved=[moved_row(7, "/l/old.jpg", H2)]),
        [file("/l/old.jpg", H2), move("/l/link.jpg", 7)],
        {
            "updates": [(7, "/l/old.jpg", "present", H2)],
            "inserts": [("/l/link.jpg", "present", H2)],
            **counts(2),
        },
    ),
    Case(
        "a move onto a catalogued path: the path's own item wins",
        holding([at("/l/new.jpg", 5, H1, status="missing")], moved=[moved_row(7, "/l/old.jpg")]),
        [move("/l/new.jpg", 7)],
        {
            "updates": [(5, "/l/new.jpg", "present", None)],
            "stale": [5],
            "changes": [("restored", 5, "/l/new.jpg", None)],
            **counts(),
        },
    ),
    Case(
        "a move whose item vanished is recorded as failed, to be retried",
        holding(),
        [move("/l/late.jpg", 424242)],
        {"inserts": [("/l/late.jpg", "failed", None)], **counts(irregular=True)},
    ),
    Case(
        "the same bytes elsewhere bring back the newest missing item, never one twice",
        holding(
            missing=[
                MissingRow(9, H1, 10, "/l/old/newest.jpg"),
                MissingRow(3, H1, 10, "/l/old/older.jpg"),
            ]
        ),
        [file("/l/x.jpg", H1), file("/l/y.jpg", H1), file("/l/z.jpg", H1)],
        {
            "updates": [(9, "/l/x.jpg", "present", H1), (3, "/l/y.jpg", "present", H1)],
            "inserts": [("/l/z.jpg", "present", H1)],
            "changes": [
                ("restored", 9, "/l/x.jpg", "/l/old/newest.jpg"),
                ("restored", 3, "/l/y.jpg", "/l/old/older.jpg"),
            ],
            "logs": [("restored", 9), ("restored", 3)],
            **counts(3, restored=2),
        },
    ),
    Case(
        "a restore needs the same size as well as the same hash",
        holding(missing=[MissingRow(9, H1, 10, "/l/old.jpg")]),
        [file("/l/x.jpg", H1, size=11)],
        {"inserts": [("/l/x.jpg", "present", H1)], **counts()},
    ),
    Case(
        "a missing item taken back by its own path is not restored elsewhere too",
        holding(
            [at("/l/a.jpg", 9, H1, status="missing")],
            missing=[MissingRow(9, H1, 10, "/l/a.jpg")],
        ),
        [file("/l/copy.jpg", H1), file("/l/a.jpg", H1)],
        {
            "updates": [(9, "/l/a.jpg", "present", H1)],
            "inserts": [("/l/copy.jpg", "present", H1)],
            "changes": [("restored", 9, "/l/a.jpg", None)],
            **counts(2),
        },
    ),
    Case(
        "a moved item is not restored by hash as well",
        holding(
            moved=[moved_row(9, "/l/old.jpg", H1)], missing=[MissingRow(9, H1, 10, "/l/old.jpg")]
        ),
        [move("/l/new.jpg", 9), file("/l/copy.jpg", H1)],
        {
            "updates": [(9, "/l/new.jpg", "present", H1)],
            "inserts": [("/l/copy.jpg", "present", H1)],
            "changes": [("moved", 9, "/l/new.jpg", "/l/old.jpg")],
            "logs": [("moved", 9)],
            **counts(2, moved=1),
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_identity_rules(case: Case) -> None:
    seen, held = copy.deepcopy(case.seen), copy.deepcopy(case.held)
    result = plan(latest_by_path(case.seen), case.held, NOW)
    assert summary(result) == case.expected
    assert case.seen == seen and case.held == held  # pure: its inputs are left as they were


def test_rows_carry_every_column_the_writer_needs() -> None:
    """Inserts name every column (one key set for executemany) with the batch's time; a
    move carries the moved item's type; the vanished move says why it failed."""
    held = holding(moved=[moved_row(7, "/l/old.jpg", H2)])
    result = plan(
        latest_by_path([move("/l/a.jpg", 7), move("/l/b.jpg", 7), move("/l/c.jpg", 8)]), held, NOW
    )
    update = result.updates[0]
    assert update["mime_type"] == "image/jpeg" and update["hash_key"] == hash_key(H2)
    assert update["updated_at"] == NOW and update["missing_since"] is None
    assert {len(i) for i in result.inserts} == {len(result.inserts[0])}
    link, vanished = result.inserts
    assert link["created_at"] == NOW and link["media_type"] == "image"
    assert vanished["error_code"] == "retry" and vanished["media_type"] == "other"


def test_a_failure_is_listed_for_the_error_log() -> None:
    result = plan(latest_by_path([failed("/l/\xe9.mp3")]), holding(), NOW)
    assert result.failed == [("/l/\xe9.mp3", "corrupt", "bad")]


def test_lookups_ask_only_for_paths_the_catalog_does_not_hold() -> None:
    latest = latest_by_path(
        [
            move("/l/known.jpg", 1),
            move("/l/new.jpg", 2),
            file("/l/known2.jpg", H1),
            file("/l/n1.jpg", H2),
            file("/l/n2.jpg", H2),
            failed("/l/f.mp3"),
        ]
    )
    by_path = {b"/l/known.jpg": None, b"/l/known2.jpg": None}
    assert move_ids(latest, by_path) == [2]
    assert restore_keys(latest, by_path) == [hash_key(H2)]  # once, and only for "file"


def test_the_same_bytes_keep_the_type_their_streams_gave() -> None:
    """An MPEG-TS of sound alone: the hasher says video, the metadata stage's ffprobe made
    it audio; seen again with the same bytes (touched), it stays audio. New bytes, or a
    type outside audio/video, take the hasher's word."""
    ts = Observation(
        "file", 1, b"/l/a.ts", st=_st(), file_hash=H1, mime_type="video/mp2t", media_type="video"
    )
    held = PathRow(3, b"/l/a.ts", H1, None, "present", "audio")
    kept = plan(latest_by_path([ts]), holding([held]), NOW)
    assert kept.updates[0]["media_type"] == "audio" and kept.stale == []
    new = dataclasses.replace(ts, file_hash=H2)
    changed = plan(latest_by_path([new]), holding([held]), NOW)
    assert changed.updates[0]["media_type"] == "video" and changed.stale == [3]
    image = PathRow(3, b"/l/a.ts", H1, None, "present", "image")
    assert plan(latest_by_path([ts]), holding([image]), NOW).updates[0]["media_type"] == "video"
