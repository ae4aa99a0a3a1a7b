"""Content signatures (decoded-content hash, pHash, Chromaprint, waveform) and near pairs.

Revision ID: 0007_similar
Revises: 0005_search
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_similar"
down_revision = "0006_targets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("hash_key", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("content_key", sa.BigInteger),
        sa.Column("phash", sa.BigInteger),
        sa.Column("encoding", sa.String(64)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("duration_s", sa.Float),
        sa.Column("fingerprint", sa.LargeBinary),
        sa.Column("frames", sa.JSON),
        sa.Column("waveform", sa.JSON),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signatures"),
        sa.UniqueConstraint("file_hash", name="uq_signatures_file_hash"),
    )
    op.create_index("ix_signatures_hash_key", "signatures", ["hash_key"])
    op.create_index("ix_signatures_content_key", "signatures", ["content_key"])
    op.create_index("ix_signatures_kind_duration_s", "signatures", ["kind", "duration_s"])
    op.create_table(
        "similar_pairs",
        sa.Column("a_hash", sa.String(64), nullable=False),
        sa.Column("b_hash", sa.String(64), nullable=False),
        sa.Column("distance", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("a_hash", "b_hash", name="pk_similar_pairs"),
    )
    op.create_index("ix_similar_pairs_b_hash", "similar_pairs", ["b_hash"])


def downgrade() -> None:
    op.drop_table("similar_pairs")
    op.drop_table("signatures")
