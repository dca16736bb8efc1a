"""The uvicorn options `serve` uses: a header deadline (slowloris), idle timeout, caps."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from app.api import server
from app.core.config import Settings


def _serve(protocol: type[Any]) -> Iterator[tuple[str, int]]:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(1.5)  # longer than the header deadline: a request in progress
        return {"ok": "yes"}

    class Quick(protocol):  # type: ignore[misc]
        header_timeout = 1.0

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=Quick, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.started
    yield sock.getsockname()
    srv.should_exit = True
    thread.join(10)


PROTOCOLS = [server.HeaderTimeoutH11] + (
    [server.HeaderTimeoutHttpTools] if server.HeaderTimeoutHttpTools else []
)


@pytest.fixture(params=PROTOCOLS, ids=lambda p: p.__name__)
def address(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    yield from _serve(request.param)


def _closed_by_server(conn: socket.socket) -> bool:
    """True when the server closes the connection (recv gives b"" or a reset) before the
    generous socket timeout, which only keeps a broken server from hanging the test."""
    conn.settimeout(10)
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_trickled_headers_are_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as conn:
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # never finishes the header block
        assert _closed_by_server(conn)


def test_silent_connection_is_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as conn:
        assert _closed_by_server(conn)


def test_complete_requests_are_served_on_a_kept_alive_connection(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as conn:
        conn.settimeout(10)
        for _ in range(2):
            conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b'{"ok":"yes"}' not in answer:
                chunk = conn.recv(4096)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")


def test_serve_passes_the_bounds_to_uvicorn(tmp_path: Any) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        http_keep_alive=7,
        http_max_connections=50,
    )
    options = server.uvicorn_options(settings)
    assert options["timeout_keep_alive"] == 7
    assert options["limit_concurrency"] == 50
    assert options["h11_max_incomplete_event_size"] == server.MAX_HEADER_BYTES
    config = uvicorn.Config(FastAPI(), **options)
    config.load()
    assert config.http_protocol_class is server.PROTOCOL


def test_pipelined_request_behind_a_slow_one_is_not_cut_off(address: tuple[str, int]) -> None:
    """The deadline only applies while no request is in progress: a request queued behind a
    slow one (pipelining) is answered."""
    with socket.create_connection(address) as conn:
        conn.settimeout(10)
        conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while answer.count(b'{"ok":"yes"}') < 2:
            chunk = conn.recv(4096)
            assert chunk, answer
            answer += chunk
        assert answer.count(b"HTTP/1.1 200") == 2
