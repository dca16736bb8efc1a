"""lienthong_client (clients/python) against the live hub: real HTTP to uvicorn on loopback."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.core import webhooks
from app.core.config import Settings
from app.main import create_app
from app.mock_axis.server import MockAxisServer
from lienthong_client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    ProblemError,
    SignatureInvalid,
    Unauthorized,
    Unprocessable,
    WebhookVerificationError,
    models,
    verify_webhook,
)
from tests.conftest import World
from tests.factories import document_id_of, document_json


@pytest.fixture
def hub_url(app: Any, world: World) -> Iterator[str]:
    server = MockAxisServer.start(app)  # any ASGI app, served by uvicorn in a thread
    try:
        yield server.url
    finally:
        server.stop()


def test_submit_delivered_acknowledged_in_ten_lines(hub_url: str, world: World) -> None:
    """The README's example: submit, find it in the recipient's inbox, acknowledge."""
    body = document_json(world.OWN, [world.OWN2], attachments=[("cv.pdf", b"%PDF-1.4 x")])
    with Client(hub_url, world.keys["system"]) as hub:
        doc = hub.submit(body, idempotency_key="readme-1")
        item = next(i for i in hub.iter_inbox(world.OWN2) if i.document == doc.id)
        edxml = hub.inbox_edxml(item.id)
        ack = hub.ack(item.id, "done")
        back = hub.document(doc.id)

    assert doc.signature.indication == "TOTAL_PASSED" and doc.from_ == world.OWN
    assert item.organ_id == world.OWN2 and item.state == "available"
    assert edxml.startswith(b"<?xml") and b"Signature" in edxml
    assert ack.state == "acknowledged"
    delivery = back.delivery_to(world.OWN2)
    assert delivery is not None and delivery.state == "acknowledged"


def test_every_covered_operation(hub_url: str, world: World) -> None:
    body = document_json(world.OWN, [world.OWN2], attachments=[("cv.pdf", b"%PDF-1.4 x")])
    with Client(hub_url, world.keys["system"]) as hub:
        doc = hub.submit(body)
        assert hub.find_document(doc.document_id) == doc
        assert hub.find_document(doc.document_id, from_=world.FOREIGN) is None
        assert hub.attachment(doc.id, "cid:1") == b"%PDF-1.4 x"
        assert hub.edxml(doc.id).startswith(b"<?xml")
        status = hub.post_status(doc.id, world.OWN2, "03", description="Đã tiếp nhận")
        assert status.code == "03" and status.from_ == world.OWN2
        assert [s.code for s in hub.statuses(doc.id)] == ["03"]
        events = [e.event for e in hub.trace(doc.id).items]
        assert "accepted" in events
        assert hub.validation(doc.id).report.indication == "TOTAL_PASSED"
        checked = hub.validate_edxml(hub.edxml(doc.id))
        assert checked.valid and not checked.hub_signs
        assert checked.signature is not None and checked.signature.indication == "TOTAL_PASSED"
        assert {o.organ_id for o in hub.iter_organizations()} >= {world.OWN, world.OWN2}
    with Client(hub_url, world.keys["auditor"]) as auditor:
        assert auditor.revalidate(doc.id).report.indication == "TOTAL_PASSED"
    with Client(hub_url, world.keys["reporter"]) as reporter:
        report = reporter.report(2026)
        assert report.year == 2026 and "documents_exchanged" in report.indicators
        rows = reporter.interchange(since="2026-01-01", until="2026-12-31", organ_id=world.OWN)
        assert rows.items and all(r.organ_id == world.OWN for r in rows.items)
        assert reporter.inactive(since="2026-01-01", until="2026-12-31").items is not None


def test_pages_are_followed(hub_url: str, world: World) -> None:
    with Client(hub_url, world.keys["system"]) as hub:
        sent = [hub.submit(document_json(world.OWN, [world.OWN2])).id for _ in range(3)]
        first = hub.inbox(world.OWN2, limit=2)
        assert len(first.items) == 2 and first.next_cursor
        assert [i.document for i in hub.iter_inbox(world.OWN2, limit=1)] == sent
        assert [d.id for d in hub.iter_documents(direction="sent", limit=2)] == sent


def test_refusals_are_typed_exceptions(hub_url: str, world: World) -> None:
    body = document_json(world.OWN, [world.OWN2])
    with Client(hub_url, world.keys["system"]) as hub:
        hub.submit(body)
        with pytest.raises(Conflict) as dup:
            hub.submit(body)
        assert dup.value.code == "document.duplicate" and dup.value.status == 409
        bad = document_json(world.OWN, ["not an organ"])
        with pytest.raises(Unprocessable) as invalid:
            hub.submit(bad)
        assert invalid.value.code == "edxml.invalid"
        assert ["body", "to", 0, "organ_id"] in [e["loc"] for e in invalid.value.errors]
        assert "{value" not in str(invalid.value.errors)
        with pytest.raises(NotFound):
            hub.document("0193a4b2-7c1d-7e42-9a51-3f0c2d8e9b10")
        with pytest.raises(Unprocessable) as status_error:
            hub.post_status(hub.find_document(document_id_of(body)).id, world.OWN2, "99")  # type: ignore[union-attr]
        assert status_error.value.errors[0]["loc"] == ["body", "code"]
        signed = hub.edxml(hub.find_document(document_id_of(body)).id)  # type: ignore[union-attr]
        tampered = signed.replace(b"UBND-VX", b"UBND-VY", 1)
        with pytest.raises(SignatureInvalid) as sig:
            hub.submit(tampered)
        assert sig.value.report is not None and sig.value.report["indication"] == "TOTAL_FAILED"
    with Client(hub_url, "not-a-key") as stranger, pytest.raises(Unauthorized) as unauth:
        stranger.inbox()
    assert isinstance(unauth.value, ProblemError) and unauth.value.code == "auth.invalid"


def test_async_client(hub_url: str, world: World) -> None:
    async def flow() -> tuple[models.Document, list[models.InboxItem], models.Ack]:
        async with AsyncClient(hub_url, world.keys["system"]) as hub:
            doc = await hub.submit(document_json(world.OWN, [world.OWN2]))
            items = [i async for i in hub.iter_inbox(world.OWN2, limit=1)]
            ack = await hub.ack(items[0].id)
            with pytest.raises(Conflict):
                await hub.submit(document_json(world.OWN, [world.OWN2], number=doc.code[:-8]))
            return doc, items, ack

    doc, items, ack = asyncio.run(flow())
    assert [i.document for i in items] == [doc.id]
    assert ack.state == "acknowledged"


def test_webhook_signatures_the_hub_makes_verify() -> None:
    secret = webhooks.new_secret()
    body = b"<edXML/>"
    headers = webhooks.headers(secret, "0193a4b2-delivery", body)  # what the hub's sink sends
    assert verify_webhook(secret, headers, body) == "0193a4b2-delivery"
    upper = {k.title(): v for k, v in headers.items()}
    assert verify_webhook(secret, upper, body) == "0193a4b2-delivery"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body + b" ")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(webhooks.new_secret(), headers, body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now=time.time() + 3600)
    rotated = headers | {"webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert verify_webhook(secret, rotated, body)
    assert base64.b64decode(secret.removeprefix("whsec_"))


def test_client_models_agree_with_the_openapi_document() -> None:
    doc = create_app(
        Settings(_env_file=None, database_url="sqlite://", key_passphrase="x", worker_enabled=False)
    ).openapi()
    schemas = doc["components"]["schemas"]
    checked = 0
    for model in vars(models).values():
        name = getattr(model, "schema_name", "")
        if not name:
            continue
        fields = {f.alias or n for n, f in model.model_fields.items()}
        schema = schemas[name]
        # Nothing the client reads is missing from the API; everything the API always sends
        # is read (optional report details are kept as extras).
        assert fields <= set(schema["properties"]), name
        assert set(schema.get("required", ())) <= fields, name
        checked += 1
    assert checked >= 20


def test_the_readme_example_runs(app: Any, sessions: Any, tmp_path: Any) -> None:
    """README "From Python": submitted, delivered and acknowledged, against the demo province."""
    import contextlib
    import io
    import json
    import re

    from app.core.db import unit_of_work
    from app.demo import seed
    from tests.conftest import REPO

    with unit_of_work(sessions) as s:
        result = seed(s, app.state.hub.custody)
    keys = tmp_path / "demo-keys.json"
    keys.write_text(json.dumps(result.api_keys))
    text = (REPO / "README.md").read_text()
    example = re.search(r"### From Python.+?```python\n(.+?)```", text, re.S)
    assert example is not None
    code = example.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    server = MockAxisServer.start(app)
    try:
        code = code.replace('"var/demo-keys.json"', repr(str(keys))).replace(
            '"http://127.0.0.1:8080"', repr(server.url)
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        server.stop()
    assert out.getvalue().strip() == "acknowledged"
