"""Search at a million items: indexes on the sort and range columns (size, year, duration),
so that a page of a common word or a wide range walks the sort's index and stops at the page.

Revision ID: 0009_search_writer
Revises: 0006_targets
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009_search_writer"
down_revision = "0006_targets"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_media_items_size", "media_items", ["size"]),
    ("ix_media_metadata_year", "media_metadata", ["year"]),
    ("ix_media_metadata_duration_s", "media_metadata", ["duration_s"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
