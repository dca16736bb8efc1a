"""The migrations build exactly the schema the models declare, on both databases.

Several engineers add migrations in parallel and rechain them at merge; a column, index or
constraint present in a model but missing from its migration (or the reverse) would only
show on a production database that was upgraded rather than created."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

import app.models  # noqa: F401  (every model registered on Base.metadata)
from app.core.db import Base


def _drift(url: str) -> list[Any]:
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    assert _drift(database_url) == []


def test_stored_messages_are_not_compressed_by_postgresql(database_url: str) -> None:
    """Blob bytes (mostly base64 of compressed files) are stored EXTERNAL: pglz cost CPU on
    every submission and gained nothing (migration 0014)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no storage setting")
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT attrelid::regclass::text, attstorage FROM pg_attribute "
                    "WHERE attname = 'data' AND attrelid IN ('blobs'::regclass, "
                    "'blob_chunks'::regclass)"
                )
            ).all()
            storage = {name: kind for name, kind in rows}
    finally:
        engine.dispose()
    assert storage == {"blobs": "e", "blob_chunks": "e"}
