"""Search at a million items: indexes on the sort and range columns (size, year, duration),
so that a page of a common word or a wide range walks the sort's index and stops at the page;
and the word index kept by the single writer (catalog/searchindex.py) instead of 0005's
per-row triggers, which cost 8x on bulk inserts. The index itself is already in step.

Revision ID: 0011_search_writer
Revises: 0010_events_item
Create Date: 2026-12-02
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0011_search_writer"
down_revision = "0010_events_item"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_media_items_size", "media_items", ["size"]),
    ("ix_media_metadata_year", "media_metadata", ["year"]),
    ("ix_media_metadata_duration_s", "media_metadata", ["duration_s"]),
)


# 0005_search's per-row triggers, by name (downgrade creates them again from that file).
TRIGGERS = ("items_insert", "items_update", "items_delete", "metadata_insert", "metadata_update",
            "metadata_delete", "tagged", "untagged", "tag_renamed", "collected", "uncollected",
            "collection_renamed")  # fmt: skip


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS search_fts_{name}")


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    if op.get_bind().dialect.name != "sqlite":
        return
    spec = importlib.util.spec_from_file_location(
        "m0005", Path(__file__).with_name("0005_search.py")
    )
    assert spec is not None
    assert spec.loader is not None
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    # What changed while the writer kept the index stays in it: only the triggers return.
    for name, (event, body) in search.TRIGGERS.items():
        op.execute(f"CREATE TRIGGER search_fts_{name} AFTER {event} BEGIN\n{body}\nEND")
