"""Initial catalog: roots, media items, 1:1 metadata, tags and collections.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "roots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("last_reconcile_at", TS),
        sa.Column("last_reconcile_s", sa.Float),
        sa.Column("last_reconcile_files", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_roots"),
        sa.UniqueConstraint("path", name="uq_roots_path"),
    )
    op.create_table(
        "media_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("root_id", sa.Integer, nullable=False),
        sa.Column("path_key", sa.LargeBinary, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("dev", sa.BigInteger, nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("file_hash", sa.String(64)),
        sa.Column("hash_key", sa.BigInteger),
        sa.Column("mime_type", sa.String(127)),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("missing_since", TS),
        sa.PrimaryKeyConstraint("id", name="pk_media_items"),
        sa.ForeignKeyConstraint(
            ["root_id"], ["roots.id"], name="fk_media_items_root_id_roots", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("path_key", name="uq_media_items_path_key"),
    )
    op.create_index("ix_media_items_hash_key", "media_items", ["hash_key"])
    op.create_index("ix_media_items_media_type", "media_items", ["media_type"])
    op.create_index("ix_media_items_root_id_status", "media_items", ["root_id", "status"])
    op.create_index("ix_media_items_dev_inode", "media_items", ["dev", "inode"])
    op.create_index("ix_media_items_created_at", "media_items", ["created_at"])

    op.create_table(
        "media_metadata",
        sa.Column("item_id", sa.Integer, primary_key=True),
        sa.Column("duration_s", sa.Float),
        sa.Column("bit_rate", sa.BigInteger),
        sa.Column("video_codec", sa.String(64)),
        sa.Column("audio_codec", sa.String(64)),
        sa.Column("fps", sa.Float),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("title", sa.Text),
        sa.Column("artist", sa.Text),
        sa.Column("album", sa.Text),
        sa.Column("album_artist", sa.Text),
        sa.Column("track_number", sa.Integer),
        sa.Column("disc_number", sa.Integer),
        sa.Column("year", sa.Integer),
        sa.Column("genre", sa.Text),
        sa.Column("sample_rate", sa.Integer),
        sa.Column("channels", sa.Integer),
        sa.Column("taken_at", TS),
        sa.Column("camera_make", sa.Text),
        sa.Column("camera_model", sa.Text),
        sa.Column("gps_latitude", sa.Float),
        sa.Column("gps_longitude", sa.Float),
        sa.Column("extra", sa.JSON),
        sa.Column("extracted_at", TS),
        sa.PrimaryKeyConstraint("item_id", name="pk_media_metadata"),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["media_items.id"],
            name="fk_media_metadata_item_id_media_items",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_media_metadata_taken_at", "media_metadata", ["taken_at"])
    op.create_index(
        "ix_media_metadata_artist_album_title", "media_metadata", ["artist", "album", "title"]
    )

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("name", name="uq_tags_name"),
    )
    op.create_table(
        "item_tags",
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("tag_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("item_id", "tag_id", name="pk_item_tags"),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["media_items.id"],
            name="fk_item_tags_item_id_media_items",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name="fk_item_tags_tag_id_tags", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_item_tags_tag_id", "item_tags", ["tag_id"])

    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.UniqueConstraint("name", name="uq_collections_name"),
    )
    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "item_id", name="pk_collection_items"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_collection_items_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["media_items.id"],
            name="fk_collection_items_item_id_media_items",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_collection_items_item_id", "collection_items", ["item_id"])


def downgrade() -> None:
    for table in (
        "collection_items",
        "collections",
        "item_tags",
        "tags",
        "media_metadata",
        "media_items",
        "roots",
    ):
        op.drop_table(table)
