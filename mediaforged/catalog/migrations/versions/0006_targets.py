"""The cursors of the change log's consumers (notify targets, plugins): one row each.

Revision ID: 0006_targets
Revises: 0005_search
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_targets"
down_revision = "0005_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_cursors",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("cursor", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_consumer_cursors"),
    )


def downgrade() -> None:
    op.drop_table("consumer_cursors")
