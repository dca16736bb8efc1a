"""Real HTTP peers for delivery tests: the mock axis and a webhook receiver, in threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request, Response

from app.connectors.vpcp import HttpAxisConnector
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.mock_axis.server import MockAxisServer, create_mock_app
from app.mock_axis.state import SystemConfig

HUB = SystemConfig(
    systemid="hub", secret="hub-secret-Nghệ-An", organ_ids=["*.H39"], name="Lienthong"
)
VPCP = SystemConfig(systemid="vpcp", secret="vpcp-secret", organ_ids=["000.00.00.G22"], name="VPCP")
OTHER = SystemConfig(
    systemid="ninhbinh", secret="ht-secret", organ_ids=["000.00.00.H42"], name="Ninh Bình"
)
GATE_TIMEOUT = 60.0
"""The longest a gated receiver holds a request (a test that fails does not hang)."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The webhook receivers listen on loopback, which the hub refuses by default."""
    settings.webhook_allow_private = True
    return settings


@dataclass
class Clock:
    """The worker's clock in a test: it moves only when the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow())


@pytest.fixture(scope="session")
def mock_axis() -> Iterator[MockAxisServer]:
    server = MockAxisServer.start(create_mock_app([HUB, VPCP, OTHER]))
    yield server
    server.stop()


@pytest.fixture
def axis(mock_axis: MockAxisServer) -> Iterator[str]:
    httpx.delete(f"{mock_axis.url}/_mock/messages")
    httpx.delete(f"{mock_axis.url}/_mock/faults")
    yield mock_axis.url
    httpx.delete(f"{mock_axis.url}/_mock/faults")


def connector(url: str, system: SystemConfig) -> HttpAxisConnector:
    return HttpAxisConnector(url, system.systemid, system.secret, timeout=5.0)


@dataclass
class Receiver:
    """A QLVB system's webhook endpoint: records what it gets, answers `status`.

    With `gate` set, each request is recorded, `arrived` is set, and the answer waits until the
    test sets `gate` (a receiver slow to answer, for as long as the test needs)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[tuple[MockAxisServer, dict[str, Receiver]]]:
    receivers: dict[str, Receiver] = {}
    app = FastAPI()

    @app.post("/hook/{name}")
    async def hook(name: str, request: Request) -> Response:
        r = receivers[name]
        body = await request.body()
        with r.lock:
            r.received.append({"headers": dict(request.headers), "body": body})
        r.arrived.set()
        if r.gate is not None:
            await anyio.to_thread.run_sync(r.gate.wait, GATE_TIMEOUT)
        return Response(status_code=r.status)

    server = MockAxisServer.start(app)
    yield server, receivers
    server.stop()


@pytest.fixture
def receiver(
    _receiver_server: tuple[MockAxisServer, dict[str, Receiver]], request: pytest.FixtureRequest
) -> Receiver:
    server, receivers = _receiver_server
    name = f"r{len(receivers)}"
    receivers[name] = Receiver(url=f"{server.url}/hook/{name}")
    return receivers[name]
