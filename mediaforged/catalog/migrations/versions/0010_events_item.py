"""An index on the change log by item: the item page's history (queries._history: WHERE
item_id = ? ORDER BY id DESC LIMIT n) read the whole events table without it.

Revision ID: 0010_events_item
Revises: 0005_search
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010_events_item"
down_revision = "0008_verify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_item_id_id", "events", ["item_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_item_id_id", table_name="events")
