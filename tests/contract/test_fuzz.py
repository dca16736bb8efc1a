"""Property-based API fuzzing over the OpenAPI document (schemathesis): whatever a client
sends, no 5xx, and every answer matches its documented status, content type and schema.

The schema is read from an application built once for collection (its OpenAPI document
needs no database); each operation's examples go over real HTTP to the test's own hub (a
fresh database with the `world` directory), served by uvicorn on loopback. Bounded
(MAX_EXAMPLES per operation, derandomized) so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from app.core.config import Settings
from app.main import create_app
from app.mock_axis.server import MockAxisServer
from tests.conftest import World

MAX_EXAMPLES = 8
# Routes only a `system` client may call; every other route is fuzzed with the admin's key.
SYSTEM_ONLY = {
    ("POST", "/api/v1/documents"),
    ("POST", "/api/v1/documents/{id}/statuses"),
    ("GET", "/api/v1/inbox"),
    ("GET", "/api/v1/inbox/{delivery_id}/edxml"),
    ("POST", "/api/v1/inbox/{delivery_id}/ack"),
}
CHECKS = (
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
)


def _document() -> dict[str, Any]:
    settings_ = Settings(
        _env_file=None, database_url="sqlite://", key_passphrase="x", worker_enabled=False
    )
    return create_app(settings_).openapi()


# /pki/tsa takes DER (application/timestamp-query), which schemathesis cannot generate; its
# own tests (tests/signing, tests/keys) send it requests.
schema = schemathesis.openapi.from_dict(_document()).exclude(path="/pki/tsa")


@pytest.fixture
def hub_url(app: Any, world: World) -> Iterator[str]:
    server = MockAxisServer.start(app)  # any ASGI app, served by uvicorn in a thread
    try:
        yield server.url
    finally:
        server.stop()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_every_answer_as_documented(
    case: Any, world: World, hub_url: str
) -> None:
    role = "system" if (case.method.upper(), case.path) in SYSTEM_ONLY else "admin"
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {world.keys[role]}"
    # A generous timeout: CI machines are shared, and a slow answer is not what this checks.
    case.call_and_validate(base_url=hub_url, headers=headers, checks=CHECKS, timeout=120)
