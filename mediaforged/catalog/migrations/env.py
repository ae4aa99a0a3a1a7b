"""Alembic environment: runs on the connection that ``mediaforged.catalog.db.migrate`` hands in."""

from __future__ import annotations

from alembic import context

from mediaforged.catalog.schema import metadata_obj

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached from the alembic CLI by hand
    raise RuntimeError(
        "run migrations through mediaforged.catalog.db.migrate(), which passes a connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata_obj,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
