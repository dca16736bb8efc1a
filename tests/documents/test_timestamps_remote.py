"""A remote TSA (TSA_URL) on the document path (SPEC 5.2): one that does not answer never
refuses a document; the report says pending and the worker fetches the token when the TSA is
back, over real loopback HTTP (the hub's own app serving `/pki/tsa`)."""

from __future__ import annotations

import base64
import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.documents.models import Document, PendingTimestamp
from app.documents.timestamps import fetch_pending
from app.edxml import parse_file
from app.mock_axis.server import MockAxisServer
from app.signing.timestamps import imprint_of, verify_token
from app.signing.xmldsig import signature_value_of
from tests.conftest import World
from tests.factories import document_json

DOCS = "/api/v1/documents"
YEAR = dt.timedelta(days=365)


def _submit(client: Any, world: World, number: str | None = None) -> dict[str, Any]:
    r = client.post(
        DOCS,
        json=document_json(world.OWN, [world.OWN2], number=number),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def _report(client: Any, world: World, doc_id: str) -> dict[str, Any]:
    r = client.get(f"{DOCS}/{doc_id}/validation", headers=world.auth("auditor"))
    assert r.status_code == 200, r.text
    return dict(r.json()["report"])


# -- a remote TSA that is down, then back ----------------------------------------------------


@pytest.fixture
def tsa_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(settings: Settings, tsa_port: int) -> Settings:
    """TSA_URL names a remote TSA: the request path never calls it, the worker does."""
    settings.tsa_url = f"http://127.0.0.1:{tsa_port}/pki/tsa"
    settings.fetch_timeout = 3.0  # short for the silent TSA, room for a loaded machine
    return settings


@pytest.fixture
def silent(tsa_port: int) -> Iterator[socket.socket]:
    """A TSA that accepts connections and never answers (the kernel's backlog does it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", tsa_port))
    sock.listen(8)
    yield sock
    sock.close()


def _pending(sessions: Any, doc_id: str) -> PendingTimestamp | None:
    with unit_of_work(sessions) as s:
        row = s.scalars(select(PendingTimestamp).where(PendingTimestamp.document == doc_id)).first()
        if row is not None:
            s.expunge(row)
        return row


def test_remote_tsa_down_never_refuses_and_the_worker_fetches_later(
    client: Any, world: World, app: Any, sessions: Any, tsa_port: int, request: Any
) -> None:
    hub = app.state.hub
    assert hub.timestamps.url == f"http://127.0.0.1:{tsa_port}/pki/tsa"
    doc = _submit(client, world)
    report = _report(client, world, doc["id"])
    assert report["indication"] == "TOTAL_PASSED"
    assert report["timestamp"] == {"status": "pending"}
    assert report["best_signature_time"] <= report["validated_at"]  # the receipt time
    assert _pending(sessions, doc["id"]) is not None

    # Nothing listens: the worker's attempt fails fast, the row waits with its error.
    start = utcnow()
    assert fetch_pending(hub, sessions, "w1", now=start) == 1
    row = _pending(sessions, doc["id"])
    assert row is not None and row.attempts == 1 and row.lease_until is None
    assert row.last_error is not None and "did not answer" in row.last_error
    assert row.next_attempt_at > start
    assert fetch_pending(hub, sessions, "w1", now=start) == 0  # not due yet
    assert "lienthong_timestamps_pending 1.0" in client.get("/metrics").text

    # A TSA that accepts and never answers: bounded by FETCH_TIMEOUT, still pending; the
    # rest of the batch waits with it instead of holding the worker one timeout each.
    second = _submit(client, world, number="2/second")
    silent = request.getfixturevalue("silent")
    later = start + dt.timedelta(hours=2)
    assert fetch_pending(hub, sessions, "w1", now=later) == 2
    row = _pending(sessions, doc["id"])
    assert row is not None and row.attempts == 2 and "ReadTimeout" in (row.last_error or "")
    other = _pending(sessions, second["id"])
    assert other is not None and other.last_error == row.last_error
    assert other.next_attempt_at > later
    silent.setblocking(False)
    tried = []
    while True:
        try:
            tried.append(silent.accept()[0])
        except BlockingIOError:
            break
    assert len(tried) == 1  # one connection for the whole round
    for conn in tried:
        conn.close()
    assert _report(client, world, doc["id"])["timestamp"] == {"status": "pending"}
    silent.close()

    # The TSA comes back (the hub's own app, served over real HTTP on that port).
    server = MockAxisServer.start(app, port=tsa_port)
    try:
        assert fetch_pending(hub, sessions, "w1", now=later + dt.timedelta(hours=2)) == 2
    finally:
        server.stop()
    assert _pending(sessions, second["id"]) is None
    left = _pending(sessions, doc["id"])
    assert left is None, left.last_error
    report = _report(client, world, doc["id"])
    stamp = report["timestamp"]
    assert stamp["status"] == "granted"
    assert report["best_signature_time"] == stamp["gen_time"]
    with unit_of_work(sessions) as s:
        stored = s.get(Document, doc["id"])
        assert stored is not None
        with hub.blobs.as_path(s, stored.blob) as path:
            value = signature_value_of(parse_file(path, max_bytes=10**8).root)
        assert value is not None
        token = verify_token(
            base64.b64decode(stamp["token_base64"]), imprint_of(value), hub.custody.trust_store(s)
        )
    assert token.serial == stamp["serial"]
    trace = client.get(f"{DOCS}/{doc['id']}/trace", headers=world.auth("auditor"))
    assert trace.status_code == 200, trace.text
    assert "timestamped" in trace.text
