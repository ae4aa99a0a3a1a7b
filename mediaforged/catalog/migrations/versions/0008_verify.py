"""Damage verification: one row per content hash (``verifications``), and what made each
thumbnail (``media_metadata.thumb_source``).

Revision ID: 0008_verify
Revises: 0005_search
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_verify"
down_revision = "0007_similar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("hash_key", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decoder", sa.String(16)),
        sa.Column("error", sa.Text),
        sa.Column("at", sa.Text),
        sa.Column("seconds", sa.Float),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("file_hash", name="pk_verifications"),
    )
    op.create_index("ix_verifications_hash_key", "verifications", ["hash_key"])
    op.create_index("ix_verifications_status", "verifications", ["status"])
    op.add_column("media_metadata", sa.Column("thumb_source", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("media_metadata") as batch:
        batch.drop_column("thumb_source")
    op.drop_index("ix_verifications_status", "verifications")
    op.drop_index("ix_verifications_hash_key", "verifications")
    op.drop_table("verifications")
