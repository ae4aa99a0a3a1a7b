"""Metadata: typed columns for every extracted field, and the thumbnail stage's status.

Revision ID: 0002_metadata
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002_metadata"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS: list[tuple[str, Any]] = [
    ("taken_offset", sa.String(8)),
    ("container", sa.String(64)),
    ("display_aspect", sa.String(16)),
    ("rotation", sa.Integer()),
    ("video_streams", sa.Integer()),
    ("audio_streams", sa.Integer()),
    ("subtitle_streams", sa.Integer()),
    ("track_total", sa.Integer()),
    ("disc_total", sa.Integer()),
    ("date", sa.String(32)),
    ("composer", sa.Text()),
    ("bits_per_sample", sa.Integer()),
    ("lossless", sa.Boolean()),
    ("has_cover", sa.Boolean()),
    ("orientation", sa.Integer()),
    ("display_width", sa.Integer()),
    ("display_height", sa.Integer()),
    ("lens", sa.Text()),
    ("exposure_time", sa.Float()),
    ("f_number", sa.Float()),
    ("iso", sa.Integer()),
    ("focal_length", sa.Float()),
    ("gps_altitude", sa.Float()),
    ("frame_count", sa.Integer()),
    ("thumb_status", sa.String(16)),
    ("thumb_error", sa.Text()),
]


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): SQLite does it in place, no table copy.
    for name, type_ in COLUMNS:
        op.add_column("media_metadata", sa.Column(name, type_))
    # Rows written by 0001's one extractor hold only image dimensions: extract them again.
    op.execute("DELETE FROM media_metadata")


def downgrade() -> None:
    with op.batch_alter_table("media_metadata") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
