"""The catalog file itself: corruption, backups, and migrations cut short."""

from __future__ import annotations

import contextlib
import hashlib
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from mediaforged.catalog.db import MIGRATIONS_DIR
from tests.conftest import Daemon
from tests.faults.conftest import descendants, left_running, tree


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_corrupt_catalog_is_kept_and_the_daemon_refuses_to_start(
    daemon_factory: Callable[..., Daemon], library: Path, tally: Counter[str]
) -> None:
    list(tree(library, 10, 50))
    daemon = daemon_factory([library])
    daemon.start("--once", wait_ready=False)
    assert daemon.wait_exit(120) == 0
    backups = sorted((daemon.state_dir / "backups").glob("catalog-*.db"))
    db = daemon.catalog.db
    with open(db, "r+b") as f:  # scribble over a b-tree page in the middle of the file
        f.seek(db.stat().st_size // 2 // 4096 * 4096)
        f.write(random.Random(7).randbytes(4096))
    before = _digest(db)
    tally["faults"] += 1

    daemon.start(wait_ready=False)
    assert daemon.wait_exit(60) == 4  # EXIT_CORRUPT: systemd does not restart it
    assert _digest(db) == before  # untouched: not repaired, not replaced by an empty one
    text = daemon.log_tail()
    assert "catalog_corrupt" in text
    assert ("newest backup is" in text and str(backups[-1]) in text) or "no backup yet" in text


def test_a_catalog_is_backed_up_once_a_day(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    list(tree(library, 2, 5))
    daemon = daemon_factory([library])
    daemon.start("--once", wait_ready=False)
    assert daemon.wait_exit(60) == 0
    assert not (daemon.state_dir / "backups").exists()  # a new catalog: nothing to keep yet
    daemon.start("--once", wait_ready=False)
    assert daemon.wait_exit(60) == 0
    (backup,) = (daemon.state_dir / "backups").glob("catalog-*.db")
    conn = sqlite3.connect(backup)
    try:
        assert conn.execute("SELECT count(*) FROM media_items").fetchone() == (10,)
    finally:
        conn.close()
    daemon.start("--once", wait_ready=False)
    assert daemon.wait_exit(60) == 0
    assert len(list((daemon.state_dir / "backups").glob("catalog-*.db"))) == 1  # not due


def _schema(db: Path) -> tuple[str | None, set[str]]:
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            version = row[0] if row else None
        columns = {f"{t}.{c[1]}" for t in tables for c in conn.execute(f"PRAGMA table_info('{t}')")}
        return version, columns
    finally:
        conn.close()


def _build(db: Path, revision: str) -> tuple[str | None, set[str]]:
    script = (
        "import sys, sqlalchemy as sa\n"
        "from alembic import command\n"
        "from alembic.config import Config\n"
        "from mediaforged.catalog.db import MIGRATIONS_DIR\n"
        "engine = sa.create_engine('sqlite:///' + sys.argv[1])\n"
        "with engine.begin() as conn:\n"
        "    cfg = Config(); cfg.set_main_option('script_location', str(MIGRATIONS_DIR))\n"
        "    cfg.attributes['connection'] = conn\n"
        "    command.upgrade(cfg, sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(db), revision], check=True)
    return _schema(db)


def test_kill_9_during_a_migration_leaves_one_schema_or_the_other(
    daemon_factory: Callable[..., Daemon], library: Path, tmp_path: Path, tally: Counter[str]
) -> None:
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert previous is None or isinstance(previous, str)
    # The two schemas a migration may leave, built independently of the daemon.
    new_schema = _build(tmp_path / "new.db", "head")
    old_schema = _build(tmp_path / "old.db", previous) if previous else (None, set())
    list(tree(library, 2, 20))
    rng = random.Random(11)
    for attempt in range(10):
        daemon = daemon_factory([library])
        daemon.state_dir.mkdir()
        if previous:
            _build(daemon.catalog.db, previous)
        daemon.start(wait_ready=False)
        # The migration runs in the first fraction of a second of the start.
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.proc.wait(rng.uniform(0.2, 1.5))  # type: ignore[union-attr]
        workers = [p.pid for p in descendants(daemon.proc.pid)]  # type: ignore[union-attr]
        daemon.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        daemon.proc.wait()  # type: ignore[union-attr]
        daemon.close()
        tally["faults"] += 1
        assert left_running(workers) == [], f"attempt {attempt}: orphaned workers"
        found = _schema(daemon.catalog.db) if daemon.catalog.db.exists() else (None, set())
        assert found in (old_schema, new_schema), f"attempt {attempt}: a mixed schema {found}"


def test_a_migration_backs_the_catalog_up_first(
    daemon_factory: Callable[..., Daemon], library: Path
) -> None:
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    if not isinstance(previous, str):
        pytest.skip("only one revision so far: nothing to migrate from")
    daemon = daemon_factory([library])
    daemon.state_dir.mkdir()
    _build(daemon.catalog.db, previous)
    daemon.start("--once", wait_ready=False)
    assert daemon.wait_exit(60) == 0
    (backup,) = (daemon.state_dir / "backups").glob(f"catalog-*-rev{previous}.db")
    assert _schema(backup)[0] == previous
    assert _schema(daemon.catalog.db)[0] == head
