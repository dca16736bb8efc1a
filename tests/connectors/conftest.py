"""Fixtures for the axis connector tests: systems, a real mock server, and a harness that
drives the same scenario over HTTP or in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from app.connectors.vpcp.client import AxisConnector, HttpAxisConnector
from app.mock_axis.memory import InMemoryAxis
from app.mock_axis.server import MockAxisServer, create_mock_app
from app.mock_axis.state import FaultConfig, SystemConfig

HUB = SystemConfig(
    systemid="lienthong-longan",
    secret="hub-secret-ĐÂY",  # non-ASCII secret: the HMAC key is its UTF-8
    organ_ids=("000.00.00.H39", "000.00.01.H39"),
    name="Trục liên thông tỉnh Long An",
)
VPCP = SystemConfig(
    systemid="vpcp",
    secret="vpcp-secret",
    organ_ids=("000.00.00.G22",),
    name="Văn phòng Chính phủ",
)
MINISTRY = SystemConfig(
    systemid="btc",
    secret="btc-secret",
    organ_ids=("000.00.00.G12", "000.01.00.G12"),
    name="Bộ Tài chính",
    organ_names={"000.01.00.G12": "Tổng cục Thuế"},
)
SYSTEMS = [HUB, VPCP, MINISTRY]
SECRETS = {s.systemid: s.secret for s in SYSTEMS}

SIGNED_MARKER = b"<!-- test-signature-ok -->"
INTEROP_DIR = Path(__file__).resolve().parents[3] / "shared" / "interop" / "edxml"


def marker_verifier(edxml: bytes, sender_organ: str) -> bool:
    """Stand-in for the hub's verifier: valid when the test put the marker in the document."""
    return SIGNED_MARKER in edxml and sender_organ != ""


def sample_edxml(name: str = "edoc_new.edxml") -> bytes:
    """A real SDK sample when the shared interop folder exists, otherwise a small edXML."""
    path = INTEROP_DIR / name
    if path.is_file():
        return path.read_bytes()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLEnvelope '
        'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:Subject>'
        "Về việc triển khai liên thông văn bản</edXML:Subject></edXML:edXMLEnvelope></edXML>"
    ).encode()


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockAxisServer]:
    """The mock axis served by uvicorn over real TCP, one per test worker."""
    server = MockAxisServer.start(create_mock_app(SYSTEMS, marker_verifier))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_transport() -> Iterator[httpx.HTTPTransport]:
    """One pooled transport for every client in the session (an httpx client costs ~50 ms)."""
    transport = httpx.HTTPTransport()
    try:
        yield transport
    finally:
        transport.close()


@pytest.fixture(scope="session")
def admin(mock_server: MockAxisServer, http_transport: httpx.HTTPTransport) -> httpx.Client:
    """A plain client for the mock's unauthenticated /_mock admin interface."""
    return httpx.Client(base_url=mock_server.url, transport=http_transport, timeout=10)


@pytest.fixture
def mock_url(mock_server: MockAxisServer, admin: httpx.Client) -> Iterator[str]:
    """The mock's URL, with no messages and no faults before and after the test."""
    admin.delete("/_mock/messages").raise_for_status()
    admin.delete("/_mock/faults").raise_for_status()
    yield mock_server.url
    admin.delete("/_mock/faults").raise_for_status()
    admin.delete("/_mock/messages").raise_for_status()


class AxisHarness(Protocol):
    """What a scenario needs from an axis, whichever implementation is behind it."""

    kind: str

    def connector(self, system: SystemConfig, secret: str | None = None) -> AxisConnector: ...

    def messages(self) -> list[dict[str, Any]]: ...

    def set_faults(self, **config: Any) -> None: ...


@dataclass
class HttpHarness:
    url: str
    admin: httpx.Client
    transport: httpx.BaseTransport
    kind: str = "http"

    def connector(self, system: SystemConfig, secret: str | None = None) -> AxisConnector:
        return HttpAxisConnector(
            self.url,
            system.systemid,
            secret if secret is not None else system.secret,
            timeout=10,
            transport=self.transport,
        )

    def messages(self) -> list[dict[str, Any]]:
        response = self.admin.get("/_mock/messages")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def set_faults(self, **config: Any) -> None:
        self.admin.put("/_mock/faults", json=config).raise_for_status()


@dataclass
class MemoryHarness:
    axis: InMemoryAxis
    kind: str = "memory"

    def connector(self, system: SystemConfig, secret: str | None = None) -> AxisConnector:
        return self.axis.connector(system.systemid, secret)

    def messages(self) -> list[dict[str, Any]]:
        return self.axis.messages()

    def set_faults(self, **config: Any) -> None:
        self.axis.set_faults(FaultConfig(**config))


@pytest.fixture(params=["http", "memory"])
def harness(request: pytest.FixtureRequest) -> AxisHarness:
    """Each scenario runs against the real mock over HTTP and against InMemoryAxis."""
    if request.param == "http":
        url: str = request.getfixturevalue("mock_url")
        return HttpHarness(
            url, request.getfixturevalue("admin"), request.getfixturevalue("http_transport")
        )
    return MemoryHarness(InMemoryAxis(SYSTEMS, marker_verifier))
