"""From the axis, the SDK's placeholder Signature is no signature (SPEC section 3, issue 16):
the document is unsigned input from the axis, so it is quarantined and answered 02."""

from __future__ import annotations

from typing import Any

import pytest

from app.edxml import parse_message, serialize
from app.signing.xmldsig import sign_tree
from app.worker import Worker
from tests.conftest import PkiMaterial, World
from tests.delivery.conftest import HUB, OTHER, VPCP, connector
from tests.delivery.test_worker import drain, signer_for
from tests.edxml.sdk import SdkAttachment, SdkDocument, sdk_document, sdk_status, small_pdf

pytestmark = pytest.mark.rolled_back


@pytest.fixture
def worker(app: Any, axis: str) -> Worker:
    return Worker(app.state.hub, app.state.sessionmaker, axis=connector(axis, HUB))


def test_sdk_document_with_only_the_placeholder_is_quarantined_as_unsigned(
    client, world: World, sessions, worker: Worker, axis: str
) -> None:
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


def test_status_from_the_axis_naming_the_delivered_document_id_reaches_the_sender(
    client, world: World, sessions, worker: Worker, axis: str, pki_material: PkiMaterial
) -> None:
    """The id the axis recipient read in the package (the hub filled it in) is accepted back,
    also with its date written yyyy-MM-dd as one C# client does."""
    sdk = SdkDocument(
        world.OWN, [world.EXTERNAL], attachments=[SdkAttachment("a.pdf", small_pdf())]
    )
    r = client.post(
        "/api/v1/documents",
        content=sdk_document(sdk),
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 202, r.text
    doc = r.json()
    drain(worker, sessions)
    held = connector(axis, VPCP).get_received_list("edoc")
    assert len(held) == 1
    read = parse_message(connector(axis, VPCP).get_edoc(held[0].doc_id), max_bytes=10**7).document
    assert read is not None and read.document_id == doc["document_id"]
    assert read.document_id is not None  # for mypy: implied by the equality above

    c_sharp_form = read.document_id.replace("2026/11/26", "2026-11-26")
    assert c_sharp_form != read.document_id
    status = parse_message(
        sdk_status(
            from_organ=world.EXTERNAL,
            response_to=world.OWN,
            document_id=c_sharp_form,
            code=doc["code"],
        ),
        max_bytes=10**6,
    ).root
    sign_tree(status, signer_for(pki_material, world.EXTERNAL))
    connector(axis, VPCP).send_edoc(
        serialize(status), from_organ=world.EXTERNAL, to=[world.OWN], message_type="status"
    )
    drain(worker, sessions)
    view = client.get(f"/api/v1/documents/{doc['id']}", headers=world.auth("system")).json()
    assert [d["status_code"] for d in view["deliveries"]] == ["03"]
