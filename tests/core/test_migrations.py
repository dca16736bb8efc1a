"""The migrations build exactly the schema the models declare, on both databases.

Several engineers add migrations in parallel and rechain them at merge; a column, index or
constraint present in a model but missing from its migration (or the reverse) would only
show on a production database that was upgraded rather than created."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

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
