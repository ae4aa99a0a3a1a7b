"""kill -9 at random moments: the catalog stays sound and converges to the disk."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HEAVY_GROUP, Daemon
from tests.faults.conftest import descendants, ground_truth, left_running, tree
from tests.searchcheck import index_drift


def _sound(db: Path) -> None:
    conn = sqlite3.connect(db, timeout=30)  # read-write: recovers the WAL like a restart
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def _tags(daemon: Daemon) -> set[tuple[bytes, str]]:
    rows = daemon.catalog.query(
        "SELECT path_key, tags.name AS name FROM item_tags JOIN tags ON tags.id = tag_id"
        " JOIN media_items ON media_items.id = item_id"
    )
    return {(bytes(r["path_key"]), r["name"]) for r in rows}


def _acknowledged(daemon: Daemon, cmd: str, args: dict[str, Any]) -> bool:
    """True once the daemon replied ok (asked in this process: 90 mediaforgectl processes
    cost this test about 40 s)."""
    try:
        daemon.call(cmd, args)
        return True
    except AssertionError:
        return False


def _collections(daemon: Daemon) -> set[str]:
    return {r["name"] for r in daemon.catalog.query("SELECT name FROM collections")}


def _members(daemon: Daemon, name: str) -> set[bytes]:
    rows = daemon.catalog.query(
        "SELECT path_key FROM collection_items JOIN collections ON collections.id = collection_id"
        " JOIN media_items ON media_items.id = item_id WHERE collections.name = ?",
        name,
    )
    return {bytes(r["path_key"]) for r in rows}


@pytest.mark.xdist_group(HEAVY_GROUP)  # not beside the 50,000-file storm (tests/conftest.py)
def test_kill_9_during_a_first_catalog(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str], soak: bool
) -> None:
    list(tree(library, 100, 100))  # 10,000 files
    seed = int(os.environ.get("MEDIAFORGE_FAULT_SEED", random.randrange(1 << 30)))
    print(f"kill -9 seed: {seed} (MEDIAFORGE_FAULT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    daemon = daemon_factory([library], batch_size=500)
    daemon.measure = False  # killed with SIGKILL: it could never save coverage data
    kills = 300 if soak else 30
    tagged: dict[bytes, str] = {}
    kept: set[bytes] = set()  # user data confirmed by mediaforgectl before a kill
    for n in range(kills):
        daemon.start()
        time.sleep(rng.uniform(0.0, 1.2))  # somewhere in the walk, hashing or a commit
        present = sorted(daemon.catalog.items())
        if present:
            path = rng.choice(present)
            where = [os.fsdecode(path)]
            if _acknowledged(daemon, "tag.add", {"tag": f"kill{n}", "paths": where}):
                tagged[path] = f"kill{n}"
                if n == 0 or "kept" not in _collections(daemon):
                    _acknowledged(daemon, "collection.create", {"name": "kept"})
                if _acknowledged(daemon, "collection.add", {"name": "kept", "paths": where}):
                    kept.add(path)
            time.sleep(rng.uniform(0.0, 0.3))
        assert daemon.proc is not None
        workers = [p.pid for p in descendants(daemon.proc.pid)]
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(30)
        daemon.close()
        tally["faults"] += 1
        assert left_running(workers) == [], f"kill {n}: orphaned workers"
        _sound(daemon.catalog.db)
        # The word index changed in the writer's transactions: in step whatever was cut off.
        assert index_drift(daemon.catalog.db) == [], f"kill {n}"
        # Every tag and collection membership confirmed before a kill is still there.
        assert _tags(daemon) >= {(p, t) for p, t in tagged.items()}
        assert _members(daemon, "kept") >= kept

    daemon.start()
    daemon.wait_idle(timeout=180)
    truth = ground_truth(library)
    items = daemon.catalog.items()
    catalogued = {k: (r["size"], r["file_hash"]) for k, r in items.items()}
    tally["files"] += len(truth)
    tally["lost"] += len(set(truth) - set(catalogued))
    assert catalogued == truth
    assert daemon.catalog.items("missing") == {}
    assert len(tagged) > kills // 3  # the user data part of the test really happened
    assert _tags(daemon) >= set(tagged.items()) and _members(daemon, "kept") >= kept
    tally["lost"] += len(set(tagged.items()) - _tags(daemon))
    assert index_drift(daemon.catalog.db) == []
    assert daemon.stop() == 0
