"""From the axis, the SDK's placeholder Signature is no signature (SPEC section 3, issue 16):
the document is unsigned input from the axis, so it is quarantined and answered 02."""

from __future__ import annotations

from typing import Any

import pytest

from app.edxml import parse_message
from app.worker import Worker
from tests.conftest import World
from tests.delivery.conftest import HUB, OTHER, connector
from tests.delivery.test_worker import drain
from tests.edxml.sdk import SdkAttachment, SdkDocument, sdk_document, small_pdf


@pytest.fixture
def worker(app: Any, axis: str) -> Worker:
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis, HUB))


def test_sdk_document_with_only_the_placeholder_is_quarantined_as_unsigned(
    client, world: World, sessions, worker: Worker, axis: str
) -> None:  # type: ignore[no-untyped-def]
    sdk = SdkDocument(
        world.OTHER_PROVINCE,
        [world.OWN],
        document_id=f"{world.OTHER_PROVINCE},2026/11/26,15/UBND-VP",
        attachments=[SdkAttachment("15-UBND-VP.pdf", small_pdf())],
    )
    connector(axis, OTHER).send_edoc(
        sdk_document(sdk), from_organ=world.OTHER_PROVINCE, to=[world.OWN], message_type="edoc"
    )
    drain(worker, sessions)

    inbox = client.get(
        "/api/v1/inbox", params={"organ_id": world.OWN}, headers=world.auth("system")
    ).json()["items"]
    assert inbox == []
    held = client.get(
        "/api/v1/audit/signatures",
        params={"indication": "NO_SIGNATURE_FOUND"},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert [a["from"] for a in held] == [world.OTHER_PROVINCE]
    failed = client.get(
        "/api/v1/audit/signatures",
        params={"indication": "TOTAL_FAILED"},
        headers=world.auth("auditor"),
    ).json()["items"]
    assert failed == []  # not a FORMAT_FAILURE any more: it is unsigned
    report = client.get(
        f"/api/v1/documents/{held[0]['document']}/validation", headers=world.auth("auditor")
    ).json()["report"]
    assert report["indication"] == "NO_SIGNATURE_FOUND"
    assert "edxml.placeholder_signature" in {w["code"] for w in report["warnings"]}

    kept = client.get(
        f"/api/v1/documents/{held[0]['document']}/edxml", headers=world.auth("auditor")
    )
    assert b"MIIFqTCCBJG" in kept.content  # the quarantined copy is what the sender wrote

    back = connector(axis, OTHER).get_received_list("status")
    assert len(back) == 1
    status = parse_message(connector(axis, OTHER).get_edoc(back[0].doc_id), max_bytes=10**6).status
    assert status is not None and status.status_code == "02"
    assert status.response_for.document_id == sdk.document_id
