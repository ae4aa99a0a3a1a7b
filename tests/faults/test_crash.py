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

from tests.conftest import Daemon
from tests.faults.conftest import ground_truth, tree


def _sound(db: Path) -> None:
    conn = sqlite3.connect(db, timeout=30)  # read-write: recovers the WAL like a restart
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def test_kill_9_during_a_first_catalog(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str], soak: bool
) -> None:
    list(tree(library, 100, 100))  # 10,000 files
    seed = int(os.environ.get("MEDIAFORGE_FAULT_SEED", random.randrange(1 << 30)))
    print(f"kill -9 seed: {seed} (MEDIAFORGE_FAULT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    daemon = daemon_factory([library], batch_size=500)
    kills = 300 if soak else 30
    for _ in range(kills):
        daemon.start()
        time.sleep(rng.uniform(0.0, 1.2))  # somewhere in the walk, hashing or a commit
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(30)
        daemon.close()
        tally["faults"] += 1
        _sound(daemon.catalog.db)

    daemon.start()
    daemon.wait_idle(timeout=180)
    truth = ground_truth(library)
    items = daemon.catalog.items()
    catalogued = {k: (r["size"], r["file_hash"]) for k, r in items.items()}
    tally["files"] += len(truth)
    tally["lost"] += len(set(truth) - set(catalogued))
    assert catalogued == truth
    assert daemon.catalog.items("missing") == {}
    assert daemon.stop() == 0
