"""A pooled connection the server ended is replaced at checkout, with no round trip per
checkout (the pool used to ping the server before every request)."""

from __future__ import annotations

import select
import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text

from app.core.db import make_engine


def test_a_connection_the_server_ended_is_replaced_without_a_ping(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to end a connection")
    engine = make_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            raw = conn.connection.dbapi_connection
        assert raw is not None
        statements.clear()
        with engine.connect() as conn:  # the same pooled connection, alive: no ping
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        assert statements == ["SELECT pg_backend_pid()"]

        plain = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as admin:  # the server ends it
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        socket = raw.pgconn.socket
        deadline = time.monotonic() + 30
        while not select.select([socket], [], [], 0.05)[0]:  # the server's farewell arrives
            assert time.monotonic() < deadline, "the terminated backend's socket never readable"

        with engine.connect() as conn:  # without the check: OperationalError here
            again = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert again != first
    finally:
        engine.dispose()
