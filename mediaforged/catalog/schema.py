"""The catalog's tables, as SQLAlchemy Core (the hot path inserts lists of rows through Core).

Alembic migrations in ``mediaforged/migrations`` create exactly this; a test compares them.
Types are dialect-neutral so the same schema runs on PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

__all__ = [
    "EVENT_KINDS",
    "EXTRACTED",
    "ITEM_STATUSES",
    "MEDIA_TYPES",
    "TOKEN_SCOPES",
    "api_tokens",
    "collection_items",
    "collections",
    "consumer_cursors",
    "events",
    "hash_key",
    "item_tags",
    "media_items",
    "media_metadata",
    "metadata_obj",
    "roots",
    "signatures",
    "similar_pairs",
    "tags",
    "verifications",
]

MEDIA_TYPES = ("image", "audio", "video", "other")
# present: on disk and catalogued; missing: vanished, kept for the grace period with its tags;
# failed: on disk but could not be read (the error says why); offline: its root was removed
# from the config (present again if the root is configured again; `roots forget` drops it).
ITEM_STATUSES = ("present", "missing", "failed", "offline")
# What an HTTP API token may do: read everything, or (admin) also change things.
TOKEN_SCOPES = ("read", "admin")
# The change log's kinds (`mediaforgectl events`).
EVENT_KINDS = ("added", "changed", "moved", "missing", "restored", "purged", "failed")
# Recorded only while plugins are installed, for their on_metadata_extracted: an item's
# metadata was read. Internal: `events` does not show it.
EXTRACTED = "extracted"


def hash_key(sha256_hex: str) -> int:
    """The indexed 64-bit key of a SHA-256 (signed: SQL BIGINT is signed)."""
    value = int(sha256_hex[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


class RawBytes(TypeDecorator[bytes]):
    """Bytes passed to the driver as they are: LargeBinary's per-value wrapping was a
    measurable share of the cost of a bulk insert, and every driver takes bytes."""

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


metadata_obj = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

roots = Table(
    "roots",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False, unique=True),
    Column("last_reconcile_at", DateTime(timezone=True)),
    Column("last_reconcile_s", Float),
    Column("last_reconcile_files", BigInteger),
)

media_items = Table(
    "media_items",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("root_id", Integer, ForeignKey("roots.id", ondelete="CASCADE"), nullable=False),
    # The exact path as bytes (names need not be UTF-8); `path` is its display form.
    Column("path_key", RawBytes, nullable=False),
    Column("path", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("dev", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False),
    Column("file_hash", String(64)),  # SHA-256, hex
    # The hash's first 8 bytes as a signed 64-bit integer: the indexed way to find a hash.
    # An index on the 64-character text itself was measured to cut insert speed by 60 %
    # (random wide keys); this one costs a few percent. Look up by both columns.
    Column("hash_key", BigInteger),
    Column("mime_type", String(127)),
    Column("media_type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("missing_since", DateTime(timezone=True)),
    UniqueConstraint("path_key"),
    Index(None, "hash_key"),
    Index(None, "media_type"),
    Index(None, "root_id", "status"),
    Index(None, "dev", "inode"),
    Index(None, "created_at"),
    Index(None, "size"),  # sort:size, size:>X (0011)
)

media_metadata = Table(
    "media_metadata",
    metadata_obj,
    Column(
        "item_id",
        Integer,
        ForeignKey("media_items.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # video and audio
    Column("duration_s", Float),
    Column("bit_rate", BigInteger),
    Column("video_codec", String(64)),
    Column("audio_codec", String(64)),
    Column("fps", Float),
    # video and image
    Column("width", Integer),
    Column("height", Integer),
    # audio
    Column("title", Text),
    Column("artist", Text),
    Column("album", Text),
    Column("album_artist", Text),
    Column("track_number", Integer),
    Column("disc_number", Integer),
    Column("year", Integer),
    Column("genre", Text),
    Column("sample_rate", Integer),
    Column("channels", Integer),
    # image
    Column("taken_at", DateTime(timezone=True)),
    Column("camera_make", Text),
    Column("camera_model", Text),
    Column("gps_latitude", Float),
    Column("gps_longitude", Float),
    Column("extra", JSON),
    Column("extracted_at", DateTime(timezone=True)),
    # Added by 0002_metadata. taken_at is the wall-clock time where it was taken (EXIF
    # DateTimeOriginal; a video's creation time in UTC) and taken_offset its UTC offset
    # ("+02:00") when known; extra["taken_at"] holds the full ISO 8601 text.
    Column("taken_offset", String(8)),
    Column("container", String(64)),
    Column("display_aspect", String(16)),
    Column("rotation", Integer),
    Column("video_streams", Integer),
    Column("audio_streams", Integer),
    Column("subtitle_streams", Integer),
    Column("track_total", Integer),
    Column("disc_total", Integer),
    Column("date", String(32)),  # the tagged release date as written (ISO 8601, maybe partial)
    Column("composer", Text),
    Column("bits_per_sample", Integer),
    Column("lossless", Boolean),
    Column("has_cover", Boolean),
    Column("orientation", Integer),  # EXIF 1-8
    Column("display_width", Integer),  # after the EXIF orientation
    Column("display_height", Integer),
    Column("lens", Text),
    Column("exposure_time", Float),  # seconds
    Column("f_number", Float),
    Column("iso", Integer),
    Column("focal_length", Float),  # mm
    Column("gps_altitude", Float),  # metres above sea level
    Column("frame_count", Integer),
    # Thumbnail stage: NULL pending, then "ok", "none" (nothing to show) or "failed".
    Column("thumb_status", String(16)),
    Column("thumb_error", Text),
    # Added by 0008_verify: what made the thumbnail (pillow, ffmpeg, frame, preview, cover).
    Column("thumb_source", String(16)),
    Index(None, "taken_at"),
    Index(None, "artist", "album", "title"),
    Index(None, "year"),  # year:X..Y (0011)
    Index(None, "duration_s"),  # duration:>X, sort:duration (0011)
)

tags = Table(
    "tags",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)

item_tags = Table(
    "item_tags",
    metadata_obj,
    Column("item_id", Integer, ForeignKey("media_items.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "tag_id"),
)

collections = Table(
    "collections",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

collection_items = Table(
    "collection_items",
    metadata_obj,
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_id", Integer, ForeignKey("media_items.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "item_id"),
)

# The change log: written by the writer in the same transaction as the change it records.
# No foreign key: a purged item's events outlive it. The id is the subscribers' cursor.
events = Table(
    "events",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item_id", Integer),
    Column("path", Text),
    Column("old_path", Text),
    Index(None, "at"),
    # An item's history (newest first) without reading the whole log (0010_events_item).
    Index(None, "item_id", "id"),
)

# HTTP API tokens (added by 0004_tokens): only the SHA-256 of each token is kept (a token is
# 32 random bytes: a plain hash is enough, no slow KDF); revoking one deletes its row.
api_tokens = Table(
    "api_tokens",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
)


# Where each consumer of the change log (a notify target, a plugin) has got to: the id of the
# last event it has acted on. Written through the writer after the consumer's work succeeded.
consumer_cursors = Table(
    "consumer_cursors",
    metadata_obj,
    Column("name", Text, primary_key=True),  # "target:NAME" or "plugin:NAME"
    Column("cursor", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Content signatures (added by 0007_similar), one row per SHA-256 (duplicates share it, a move
# keeps it): the decoded content's hash (``same-content``), an image's pHash, audio's
# Chromaprint (uint32 little-endian) and waveform, a video's frame pHashes. status: "ok",
# "none" (nothing to sign) or "failed" (error says why). See catalog/similar.py.
signatures = Table(
    "signatures",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("file_hash", String(64), nullable=False, unique=True),
    Column("hash_key", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("content_hash", String(64)),
    Column("content_key", BigInteger),
    Column("phash", BigInteger),
    Column("encoding", String(64)),
    Column("width", Integer),
    Column("height", Integer),
    Column("duration_s", Float),
    Column("fingerprint", RawBytes),
    Column("frames", JSON),
    Column("waveform", JSON),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Index(None, "hash_key"),
    Index(None, "content_key"),
    Index(None, "kind", "duration_s"),
)

# Pairs of signatures found ``near`` by the signature stage (a_hash < b_hash, both SHA-256s);
# the ``near`` groups are their connected components among present items.
similar_pairs = Table(
    "similar_pairs",
    metadata_obj,
    Column("a_hash", String(64), primary_key=True),
    Column("b_hash", String(64), primary_key=True),
    Column("distance", Float, nullable=False),
    Index(None, "b_hash"),
)

# Damage verification (added by 0008_verify): a full decode of the bytes, so one row per
# content hash, not per item: a move, a rename or a duplicate never decodes again. status:
# "ok", "corrupt" (the decoder failed: its own message in ``error``, where in ``at``),
# "requested" (``rescan --verify``: decode again, even with verify = "off"); a hash with no
# row is pending. ``decoder`` says what decoded it (ffmpeg, pillow).
verifications = Table(
    "verifications",
    metadata_obj,
    Column("file_hash", String(64), primary_key=True),
    Column("hash_key", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decoder", String(16)),
    Column("error", Text),
    Column("at", Text),
    Column("seconds", Float),
    Column("verified_at", DateTime(timezone=True)),
    Index(None, "hash_key"),
    Index(None, "status"),
)
