"""The test harness itself: its catalog reader must not let a broken query pass for an empty
answer (a renamed column would make ``items("missing") == {}`` pass for ever)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mediaforged.catalog.db import create_engine, migrate
from tests.conftest import Catalog, Daemon


@pytest.fixture
async def catalog_db(tmp_path: Path) -> Path:
    """A catalog with the daemon's real schema, built by its migrations."""
    db = tmp_path / "catalog.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    await engine.dispose()
    return db


def test_a_query_naming_a_missing_column_raises(catalog_db: Path) -> None:
    for ready in (True, False):  # never an empty answer, ready or not
        catalog = Catalog(catalog_db, lambda ready=ready: ready)
        assert catalog.items("missing") == {}  # the real query runs and finds nothing
        with pytest.raises(sqlite3.OperationalError, match="no such column"):
            catalog.query("SELECT no_such_column FROM media_items")
        with pytest.raises(sqlite3.OperationalError, match="no such column"):
            catalog.query("SELECT * FROM media_items WHERE stat_us = ?", "missing")


def test_a_missing_schema_is_empty_only_until_the_daemon_is_ready(tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    ready = [False]
    catalog = Catalog(db, lambda: ready[0])
    assert catalog.items() == {}  # no file yet: the daemon has not made it
    sqlite3.connect(db).close()  # a file without tables: the daemon is still migrating
    assert catalog.items() == {}
    ready[0] = True
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        catalog.items()
    db.unlink()
    with pytest.raises(AssertionError, match="no catalog"):
        catalog.items()


def test_the_daemon_harness_tells_its_catalog_when_it_is_ready(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, [tmp_path])
    assert daemon.catalog.ready() is False  # not started: nothing said yet
    assert daemon.catalog.items() == {}
    daemon.notifications.append("READY=1\nMAINPID=1")  # what its notify socket reader records
    assert daemon.catalog.ready() is True
    with pytest.raises(AssertionError, match="no catalog"):
        daemon.catalog.items()
