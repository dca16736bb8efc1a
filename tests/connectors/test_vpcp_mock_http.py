"""The mock axis over real HTTP: authentication refusals built by hand, the admin interface,
latency, and how the mock is configured and started."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.connectors.vpcp.auth import AXIS_TZ, build_headers, file_hash
from app.connectors.vpcp.client import HttpAxisConnector
from app.connectors.vpcp.protocol import AxisError
from app.mock_axis.server import (
    EXAMPLE_SYSTEMS,
    MockAxisApp,
    MockAxisServer,
    create_mock_app,
    load_systems,
    run_mock,
)

from .conftest import HUB, SIGNED_MARKER, SYSTEMS, VPCP, sample_edxml

H39, G22 = "000.00.00.H39", "000.00.00.G22"


@pytest.fixture
def client(mock_url: str, http_transport: httpx.HTTPTransport) -> httpx.Client:
    """A bare HTTP client, for requests the connector would never send."""
    return httpx.Client(base_url=mock_url, transport=http_transport, timeout=10)


def send_headers(
    body: bytes,
    *,
    system_id: str = HUB.systemid,
    secret: str = HUB.secret,
    now: datetime | None = None,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    params = {
        "from": H39,
        "to": json.dumps([G22]),
        "servicetype": "eDoc",
        "messagetype": "edoc",
        "hash-file": file_hash(body),
        **(overrides or {}),
    }
    headers = build_headers(system_id, secret, params, now)
    headers["Content-Type"] = "application/octet-stream"
    return headers


def post_send(client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post("/sendEdoc", content=body, headers=headers)


def held(client: httpx.Client) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.get("/_mock/messages").json()
    return result


def assert_refused(response: httpx.Response, status_code: int = 401) -> str:
    assert response.status_code == status_code
    body = response.json()
    assert body["status"] == "FAIL"
    assert body["ErrorCode"] != "0"
    return str(body["ErrorDesc"])


# --- authentication over the wire ----------------------------------------------------------


def test_hand_built_request_is_accepted(client: httpx.Client) -> None:
    body = b"<edXML>hand built</edXML>"
    response = post_send(client, body, send_headers(body))
    assert response.status_code == 200
    assert response.json()["status"] == "OK"
    assert response.json()["ErrorCode"] == "0"
    assert [m["docId"] for m in held(client)] == [response.json()["DocId"]]


def test_wrong_secret_is_refused(client: httpx.Client) -> None:
    body = b"<edXML/>"
    desc = assert_refused(post_send(client, body, send_headers(body, secret="guessed")))
    assert "hash-header" in desc
    assert held(client) == []


def test_stale_timestamp_is_refused(client: httpx.Client) -> None:
    body = b"<edXML/>"
    stale = datetime.now(AXIS_TZ) - timedelta(minutes=6)
    assert "window" in assert_refused(post_send(client, body, send_headers(body, now=stale)))
    recent = datetime.now(AXIS_TZ) - timedelta(minutes=4)
    assert post_send(client, body, send_headers(body, now=recent)).status_code == 200


def test_future_timestamp_is_refused(client: httpx.Client) -> None:
    body = b"<edXML/>"
    ahead = datetime.now(AXIS_TZ) + timedelta(minutes=6)
    assert "window" in assert_refused(post_send(client, body, send_headers(body, now=ahead)))


def test_named_header_altered_after_signing_is_refused(client: httpx.Client) -> None:
    body = b"<edXML/>"
    headers = send_headers(body)
    headers["XroadVnpt-messagetype"] = "status"  # the JSON still says edoc
    assert "differs" in assert_refused(post_send(client, body, headers))
    assert held(client) == []


def test_unknown_systemid_is_refused(client: httpx.Client) -> None:
    body = b"<edXML/>"
    headers = send_headers(body, system_id="intruder", secret="whatever")
    assert assert_refused(post_send(client, body, headers)) == "unknown systemid"


def test_body_not_matching_hash_file_is_refused(client: httpx.Client) -> None:
    signed_for = b"<edXML>original</edXML>"
    response = post_send(client, b"<edXML>tampered</edXML>", send_headers(signed_for))
    desc = assert_refused(response, status_code=200)
    assert "hash-file" in desc
    assert held(client) == []


def test_padded_and_unpadded_hash_file_are_both_accepted(client: httpx.Client) -> None:
    body = next(
        str(n).encode()
        for n in range(1000)
        if hashlib.sha256(str(n).encode()).hexdigest().startswith("0")
    )
    padded = hashlib.sha256(body).hexdigest()
    for claimed in (padded, padded.lstrip("0")):
        response = post_send(client, body, send_headers(body, overrides={"hash-file": claimed}))
        assert response.json()["status"] == "OK", claimed
    assert len(held(client)) == 2


def test_missing_authentication_is_refused(client: httpx.Client) -> None:
    assert "missing" in assert_refused(client.post("/getAgenciesList"))


def test_operation_parameters_must_be_signed(client: httpx.Client) -> None:
    body = b"<edXML/>"
    params = {"to": json.dumps([G22]), "messagetype": "edoc", "hash-file": file_hash(body)}
    headers = build_headers(HUB.systemid, HUB.secret, params)
    headers["XroadVnpt-from"] = H39  # present, but not covered by the signature
    response = post_send(client, body, headers)
    assert "'from'" in assert_refused(response, status_code=200)
    assert response.json()["ErrorCode"] == "400"


def test_from_of_another_system_is_refused(client: httpx.Client) -> None:
    body = b"<edXML/>"
    headers = send_headers(body, overrides={"from": G22})
    assert response_code(post_send(client, body, headers)) == "403"


def response_code(response: httpx.Response) -> str:
    assert response.status_code == 200
    assert response.json()["status"] == "FAIL"
    return str(response.json()["ErrorCode"])


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to": "000.00.00.G22"}, "400"),  # not a JSON array
        ({"to": "[]"}, "400"),
        ({"messagetype": "fax"}, "400"),
        ({"servicetype": "eMail"}, "400"),
        ({"to": '["000.00.00.Q00"]'}, "422"),
    ],
)
def test_malformed_send_parameters(
    client: httpx.Client, overrides: dict[str, str], code: str
) -> None:
    body = b"<edXML/>"
    assert response_code(post_send(client, body, send_headers(body, overrides=overrides))) == code
    assert held(client) == []


def test_vietnamese_parameter_values_pass_authentication(client: httpx.Client) -> None:
    headers = build_headers(VPCP.systemid, VPCP.secret, {"note": "Văn bản hỏa tốc, Ủy ban"})
    response = client.post("/getAgenciesList", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "OK"


def test_non_ascii_secret_signs_over_http(mock_url: str) -> None:
    assert "đ" in HUB.secret.lower()  # the HMAC key is UTF-8 with a non-ASCII letter
    with HttpAxisConnector(mock_url, HUB.systemid, HUB.secret) as hub:
        assert len(hub.get_agencies()) == 5


# --- admin interface ------------------------------------------------------------------------


def test_messages_view_has_the_documented_fields(client: httpx.Client) -> None:
    body = b"<edXML/>" + SIGNED_MARKER
    doc_id = post_send(client, body, send_headers(body)).json()["DocId"]
    [message] = held(client)
    assert message["docId"] == doc_id
    assert message["from"] == H39
    assert message["from_system"] == HUB.systemid
    assert message["to"] == [G22]
    assert message["messagetype"] == "edoc"
    assert message["signature_valid"] is True
    assert message["status"] == {VPCP.systemid: "initial"}
    assert datetime.fromisoformat(message["created_time"]).utcoffset() == timedelta(hours=7)
    assert message["size"] == len(body)


def test_delete_messages_resets(client: httpx.Client) -> None:
    body = b"<edXML/>"
    post_send(client, body, send_headers(body))
    assert client.delete("/_mock/messages").json()["deleted"] == 1
    assert held(client) == []


def test_inject_message_as_another_system(client: httpx.Client, mock_url: str) -> None:
    document = "<edXML>Công văn từ Bộ Tài chính</edXML>".encode()
    response = client.post(
        "/_mock/send",
        json={
            "from_system": "btc",
            "edxml_base64": base64.b64encode(document).decode(),
            "to": [H39],
            "messagetype": "status",
        },
    )
    assert response.status_code == 200
    doc_id = response.json()["DocId"]
    with HttpAxisConnector(mock_url, HUB.systemid, HUB.secret) as hub:
        [item] = hub.get_received_list("status")
        assert (item.doc_id, item.from_organ) == (doc_id, "000.00.00.G12")
        assert hub.get_edoc(doc_id) == document
        assert hub.get_received_list("edoc") == []
    assert held(client)[0]["signature_valid"] is False


@pytest.mark.parametrize(
    ("payload", "status_code"),
    [
        ({"from_system": "nobody", "edxml_base64": "PHgvPg==", "to": [H39]}, 400),
        ({"from_system": "btc", "edxml_base64": "!!", "to": [H39]}, 400),
        ({"from_system": "btc", "edxml_base64": "PHgvPg==", "to": ["000.00.00.Q00"]}, 400),
        ({"from_system": "btc", "edxml_base64": "PHgvPg==", "to": [H39], "from": H39}, 400),
        ({"from_system": "btc", "edxml_base64": "PHgvPg==", "to": []}, 422),
    ],
)
def test_inject_refusals(client: httpx.Client, payload: dict[str, Any], status_code: int) -> None:
    assert client.post("/_mock/send", json=payload).status_code == status_code
    assert held(client) == []


def test_faults_configuration_round_trip_and_validation(client: httpx.Client) -> None:
    config = {
        "error_rate": 0.25,
        "latency_ms": 10,
        "reset_rate": 0.0,
        "lose_after_accept_rate": 0.5,
        "seed": 9,
    }
    assert client.put("/_mock/faults", json=config).json() == config
    assert client.get("/_mock/faults").json() == config
    assert client.put("/_mock/faults", json={"error_rate": 1.5}).status_code == 422
    assert client.put("/_mock/faults", json={"typo_rate": 1}).status_code == 422
    cleared = client.delete("/_mock/faults").json()
    assert cleared["error_rate"] == 0 and cleared["lose_after_accept_rate"] == 0


def test_faults_spare_the_admin_interface(client: httpx.Client) -> None:
    client.put("/_mock/faults", json={"error_rate": 1, "reset_rate": 1})
    assert client.get("/_mock/messages").status_code == 200
    assert client.get("/_mock/systems").json()[0]["systemid"] == HUB.systemid
    assert "secret" not in client.get("/_mock/systems").json()[0]


def test_latency_fault_delays_the_answer_past_a_client_timeout(
    mock_url: str, client: httpx.Client
) -> None:
    client.put("/_mock/faults", json={"latency_ms": 1500, "seed": 1})
    impatient = HttpAxisConnector(mock_url, VPCP.systemid, VPCP.secret, timeout=0.2)
    with impatient, pytest.raises(AxisError) as caught:
        impatient.get_agencies()
    assert caught.value.retryable is True
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    client.put("/_mock/faults", json={"latency_ms": 50, "seed": 1})
    with HttpAxisConnector(mock_url, VPCP.systemid, VPCP.secret, timeout=10) as patient:
        assert len(patient.get_agencies()) == 5


def test_agencies_list_also_answers_get(client: httpx.Client) -> None:
    headers = build_headers(VPCP.systemid, VPCP.secret, {})
    body = client.get("/getAgenciesList", headers=headers).json()
    assert body["status"] == "OK"
    assert {a["code"] for a in body["data"]} >= {H39, G22}


# --- configuration and startup ----------------------------------------------------------------


def write_systems(path: Path, systems: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(systems, ensure_ascii=False), encoding="utf-8")
    return path


def test_load_systems_reads_the_documented_file(tmp_path: Path) -> None:
    file = write_systems(
        tmp_path / "systems.json",
        [
            {
                "systemid": "hub",
                "secret": "s",
                "organ_ids": ["000.00.00.H39"],
                "name": "tỉnh Long An",
            }
        ],
    )
    [system] = load_systems(file)
    assert (system.systemid, system.secret, system.organ_ids, system.name) == (
        "hub",
        "s",
        ("000.00.00.H39",),
        "tỉnh Long An",
    )


@pytest.mark.parametrize(
    "systems",
    [
        [
            {"systemid": "a", "secret": "s", "organ_ids": ["X"]},
            {"systemid": "a", "secret": "t", "organ_ids": ["Y"]},
        ],
        [{"systemid": "a", "secret": "", "organ_ids": ["X"]}],
        [{"systemid": "a", "secret": "s", "organ_ids": []}],
        [{"secret": "s", "organ_ids": ["X"]}],
    ],
)
def test_load_systems_refuses_bad_files(tmp_path: Path, systems: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError):
        load_systems(write_systems(tmp_path / "systems.json", systems))


def test_run_mock_serves_the_systems_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_systems(
        tmp_path / "systems.json",
        [
            {
                "systemid": "hub",
                "secret": "s",
                "organ_ids": ["000.00.00.H39"],
                "name": "tỉnh Long An",
            }
        ],
    )
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append((app, kwargs)))
    run_mock(file, "0.0.0.0", 9911)
    [(app, kwargs)] = calls
    assert isinstance(app, MockAxisApp)
    assert list(app.axis_state.systems) == ["hub"]
    assert (kwargs["host"], kwargs["port"]) == ("0.0.0.0", 9911)


@pytest.fixture
def unverified_server() -> Iterator[MockAxisServer]:
    with MockAxisServer.start(create_mock_app(SYSTEMS)) as server:
        yield server


def test_without_a_verifier_signature_valid_is_null(unverified_server: MockAxisServer) -> None:
    with HttpAxisConnector(unverified_server.url, HUB.systemid, HUB.secret) as hub:
        hub.send_edoc(b"<edXML/>" + SIGNED_MARKER, from_organ=H39, to=[G22], message_type="edoc")
    [message] = httpx.get(f"{unverified_server.url}/_mock/messages").json()
    assert message["signature_valid"] is None


def test_a_crashing_verifier_records_invalid_instead_of_losing() -> None:
    def broken(edxml: bytes, organ: str) -> bool:
        raise RuntimeError("verifier bug")

    with MockAxisServer.start(create_mock_app(SYSTEMS, broken)) as server:
        with HttpAxisConnector(server.url, HUB.systemid, HUB.secret) as hub:
            doc_id = hub.send_edoc(b"<edXML/>", from_organ=H39, to=[G22], message_type="edoc")
        [message] = httpx.get(f"{server.url}/_mock/messages").json()
    assert (message["docId"], message["signature_valid"]) == (doc_id, False)


def test_repeated_parameter_header_is_refused_over_http(client: httpx.Client) -> None:
    headers = build_headers(VPCP.systemid, VPCP.secret, {"docId": "d-1"})
    response = client.post("/getEdoc", headers=[*headers.items(), ("XroadVnpt-docId", "d-2")])
    assert "more than once" in assert_refused(response)


def test_concurrent_senders_lose_nothing(mock_url: str, client: httpx.Client) -> None:
    """One connector shared by several threads (as the delivery worker does)."""
    with HttpAxisConnector(mock_url, HUB.systemid, HUB.secret) as hub:

        def send(n: int) -> str:
            body = f"<edXML>{n}</edXML>".encode()
            return hub.send_edoc(body, from_organ=H39, to=[G22], message_type="edoc")

        with ThreadPoolExecutor(max_workers=8) as pool:
            doc_ids = list(pool.map(send, range(60)))
    assert len(set(doc_ids)) == 60
    assert {m["docId"] for m in held(client)} == set(doc_ids)
    with HttpAxisConnector(mock_url, VPCP.systemid, VPCP.secret) as vpcp:
        items = vpcp.get_received_list("edoc")
        assert {i.doc_id for i in items} == set(doc_ids)
        bodies = {vpcp.get_edoc(i.doc_id) for i in items}
    assert bodies == {f"<edXML>{n}</edXML>".encode() for n in range(60)}


def test_example_systems_file_is_valid() -> None:
    systems = load_systems(EXAMPLE_SYSTEMS)
    assert len({s.systemid for s in systems}) == len(systems) >= 2
    served = [organ for s in systems for organ in s.organ_ids]
    assert "000.00.00.G22" in served


def test_a_large_document_round_trips(mock_url: str) -> None:
    document = sample_edxml() + bytes(range(256)) * 16_384  # ~4 MiB, not UTF-8
    with (
        HttpAxisConnector(mock_url, HUB.systemid, HUB.secret) as hub,
        HttpAxisConnector(mock_url, VPCP.systemid, VPCP.secret) as vpcp,
    ):
        doc_id = hub.send_edoc(document, from_organ=H39, to=[G22], message_type="edoc")
        assert vpcp.get_edoc(doc_id) == document
