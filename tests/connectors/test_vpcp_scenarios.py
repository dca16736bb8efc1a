"""Scenarios every AxisConnector must pass identically: over real HTTP against the mock, and
against InMemoryAxis (the ``harness`` fixture runs each test once per implementation)."""

from __future__ import annotations

import httpx
import pytest

from app.connectors.vpcp.client import AxisConnector
from app.connectors.vpcp.protocol import AxisError

from .conftest import HUB, MINISTRY, SIGNED_MARKER, VPCP, AxisHarness, sample_edxml

H39 = "000.00.00.H39"
G22 = "000.00.00.G22"
G12 = "000.00.00.G12"
G12_TAX = "000.01.00.G12"


def send(connector: AxisConnector, body: bytes, to: list[str], kind: str = "edoc") -> str:
    assert kind in ("edoc", "status")
    return connector.send_edoc(
        body, from_organ=H39, to=to, message_type="edoc" if kind == "edoc" else "status"
    )


def test_end_to_end_send_list_get_ack(harness: AxisHarness) -> None:
    hub, vpcp = harness.connector(HUB), harness.connector(VPCP)
    document = sample_edxml() + SIGNED_MARKER

    doc_id = send(hub, document, [G22])

    [item] = vpcp.get_received_list("edoc")
    assert item.doc_id == doc_id
    assert (item.from_organ, item.to, item.message_type) == (H39, (G22,), "edoc")
    assert item.status == "initial"
    assert item.created_time.endswith("+07:00")
    assert vpcp.get_edoc(doc_id) == document

    vpcp.update_status(doc_id, "processing")
    assert [i.status for i in vpcp.get_received_list("edoc")] == ["processing"]

    vpcp.update_status(doc_id, "done")
    assert vpcp.get_received_list("edoc") == []
    assert vpcp.get_edoc(doc_id) == document  # a crash after `done` can still re-fetch

    [held] = harness.messages()
    assert held["docId"] == doc_id
    assert held["from"] == H39 and held["to"] == [G22] and held["messagetype"] == "edoc"
    assert held["status"] == {"vpcp": "done"}
    assert held["signature_valid"] is True


def test_binary_body_and_failed_signature_recorded(harness: AxisHarness) -> None:
    hub, vpcp = harness.connector(HUB), harness.connector(VPCP)
    body = bytes(range(256)) * 40  # not UTF-8, with NULs: must come back byte for byte
    doc_id = send(hub, body, [G22])
    assert vpcp.get_edoc(doc_id) == body
    assert harness.messages()[0]["signature_valid"] is False


def test_fan_out_one_item_per_system_with_independent_status(harness: AxisHarness) -> None:
    hub, vpcp, ministry = (harness.connector(s) for s in (HUB, VPCP, MINISTRY))
    # Two of the codes are served by the ministry's system: it still gets a single item.
    doc_id = send(hub, b"<edXML/>", [G22, G12, G12_TAX])

    assert [i.doc_id for i in vpcp.get_received_list("edoc")] == [doc_id]
    assert [i.doc_id for i in ministry.get_received_list("edoc")] == [doc_id]
    assert hub.get_received_list("edoc") == []  # the sender serves none of the codes

    ministry.update_status(doc_id, "done")
    assert ministry.get_received_list("edoc") == []
    assert [i.doc_id for i in vpcp.get_received_list("edoc")] == [doc_id]
    assert harness.messages()[0]["status"] == {"vpcp": "initial", "btc": "done"}


def test_unknown_recipient_is_refused_and_nothing_is_queued(harness: AxisHarness) -> None:
    hub, vpcp = harness.connector(HUB), harness.connector(VPCP)
    with pytest.raises(AxisError) as caught:
        send(hub, b"<edXML/>", [G22, "000.00.00.Z99"])
    assert caught.value.retryable is False
    assert caught.value.error_code not in (None, "0")
    assert "000.00.00.Z99" in caught.value.message
    assert harness.messages() == []
    assert vpcp.get_received_list("edoc") == []


def test_documents_and_status_messages_are_listed_separately(harness: AxisHarness) -> None:
    hub, vpcp = harness.connector(HUB), harness.connector(VPCP)
    edoc_id = send(hub, b"<edXML>document</edXML>", [G22], "edoc")
    status_id = send(hub, b"<edXML>status 03</edXML>", [G22], "status")

    assert [(i.doc_id, i.message_type) for i in vpcp.get_received_list("edoc")] == [
        (edoc_id, "edoc")
    ]
    assert [(i.doc_id, i.message_type) for i in vpcp.get_received_list("status")] == [
        (status_id, "status")
    ]
    vpcp.update_status(status_id, "done")
    assert vpcp.get_received_list("status") == []
    assert [i.doc_id for i in vpcp.get_received_list("edoc")] == [edoc_id]


def test_from_must_be_served_by_the_caller(harness: AxisHarness) -> None:
    vpcp = harness.connector(VPCP)
    with pytest.raises(AxisError) as caught:
        vpcp.send_edoc(b"<edXML/>", from_organ=H39, to=[G12], message_type="edoc")
    assert caught.value.retryable is False
    assert caught.value.error_code == "403"
    assert harness.messages() == []


def test_items_of_other_systems_are_invisible(harness: AxisHarness) -> None:
    hub, vpcp, ministry = (harness.connector(s) for s in (HUB, VPCP, MINISTRY))
    doc_id = send(hub, b"<edXML/>", [G22])
    for operation in (
        lambda: ministry.get_edoc(doc_id),
        lambda: ministry.update_status(doc_id, "done"),
    ):
        with pytest.raises(AxisError) as caught:
            operation()
        assert (caught.value.retryable, caught.value.error_code) == (False, "404")
    with pytest.raises(AxisError) as unknown:
        vpcp.get_edoc("no-such-doc")
    assert unknown.value.error_code == "404"
    assert [i.doc_id for i in vpcp.get_received_list("edoc")] == [doc_id]


def test_done_is_final(harness: AxisHarness) -> None:
    hub, vpcp = harness.connector(HUB), harness.connector(VPCP)
    doc_id = send(hub, b"<edXML/>", [G22])
    vpcp.update_status(doc_id, "fail")
    assert [i.status for i in vpcp.get_received_list("edoc")] == ["fail"]
    vpcp.update_status(doc_id, "done")
    vpcp.update_status(doc_id, "done")  # idempotent
    with pytest.raises(AxisError) as caught:
        vpcp.update_status(doc_id, "processing")
    assert caught.value.retryable is False
    assert harness.messages()[0]["status"] == {"vpcp": "done"}


def test_agencies_list_every_served_organ(harness: AxisHarness) -> None:
    agencies = {(a.code, a.name, a.systemid) for a in harness.connector(VPCP).get_agencies()}
    assert agencies == {
        ("000.00.00.H39", "Trục liên thông tỉnh Long An", "lienthong-longan"),
        ("000.00.01.H39", "Trục liên thông tỉnh Long An", "lienthong-longan"),
        (G22, "Văn phòng Chính phủ", "vpcp"),
        (G12, "Bộ Tài chính", "btc"),
        (G12_TAX, "Tổng cục Thuế", "btc"),
    }


def test_wrong_secret_is_not_retryable(harness: AxisHarness) -> None:
    impostor = harness.connector(HUB, secret="not-the-secret")
    with pytest.raises(AxisError) as caught:
        send(impostor, b"<edXML/>", [G22])
    assert (caught.value.retryable, caught.value.error_code) == (False, "401")
    assert harness.messages() == []


def test_error_fault_is_retryable(harness: AxisHarness) -> None:
    hub = harness.connector(HUB)
    harness.set_faults(error_rate=1, seed=11)
    errors = []
    for _ in range(8):
        with pytest.raises(AxisError) as caught:
            send(hub, b"<edXML/>", [G22])
        errors.append(caught.value)
    assert all(e.retryable for e in errors)
    # Both shapes of error occur: an HTTP 503 and a FAIL answer with a transient ErrorCode.
    assert {e.http_status == 503 for e in errors} == {True, False}
    assert all(e.error_code == "503" for e in errors if e.http_status != 503)
    harness.set_faults()
    assert harness.messages() == []
    send(hub, b"<edXML/>", [G22])
    assert len(harness.messages()) == 1


def test_reset_fault_is_retryable_connection_error(harness: AxisHarness) -> None:
    hub = harness.connector(HUB)
    harness.set_faults(reset_rate=1, seed=3)
    with pytest.raises(AxisError) as caught:
        send(hub, b"<edXML/>" * 1000, [G22])
    assert caught.value.retryable is True
    assert caught.value.http_status is None
    if harness.kind == "http":
        assert isinstance(caught.value.__cause__, (httpx.ReadError, httpx.RemoteProtocolError))
    harness.set_faults()
    assert harness.messages() == []
    send(hub, b"<edXML/>", [G22])  # the connector recovers on a fresh connection
    assert len(harness.messages()) == 1


def test_lose_after_accept_answers_ok_and_forgets(harness: AxisHarness) -> None:
    hub, vpcp = harness.connector(HUB), harness.connector(VPCP)
    harness.set_faults(lose_after_accept_rate=1, seed=5)
    doc_id = send(hub, b"<edXML/>", [G22])
    assert doc_id
    assert harness.messages() == []
    assert vpcp.get_received_list("edoc") == []
    # Validation still happens first: an unknown recipient is refused, not "lost".
    with pytest.raises(AxisError):
        send(hub, b"<edXML/>", ["000.00.00.Z99"])


def test_seeded_faults_are_reproducible(harness: AxisHarness) -> None:
    hub = harness.connector(HUB)

    def outcomes() -> list[str]:
        harness.set_faults(error_rate=0.5, seed=2026)
        result = []
        for _ in range(16):
            try:
                hub.get_agencies()
                result.append("ok")
            except AxisError as exc:
                result.append(f"error:{exc.http_status}:{exc.error_code}")
        return result

    first, second = outcomes(), outcomes()
    assert first == second
    assert "ok" in first and any(o.startswith("error") for o in first)
