"""HttpAxisConnector against scripted answers (httpx.MockTransport): request shape, answer
parsing, and which failures are worth retrying."""

from __future__ import annotations

import base64
import hashlib
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from app.connectors.vpcp.auth import authenticate
from app.connectors.vpcp.client import AxisConnector, HttpAxisConnector
from app.connectors.vpcp.protocol import AxisError
from app.mock_axis.memory import InMemoryAxis

from .conftest import SYSTEMS

Handler = Callable[[httpx.Request], httpx.Response]


def connector(
    handler: Handler, base_url: str = "https://axis.test/XrdAdapter/"
) -> HttpAxisConnector:
    return HttpAxisConnector(base_url, "sys-a", "secret-a", 5.0, httpx.MockTransport(handler))


def answer(status_code: int = 200, **body: object) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status_code, json=body)

    return handler


def test_both_implementations_satisfy_the_protocol() -> None:
    assert isinstance(connector(answer()), AxisConnector)
    assert isinstance(InMemoryAxis(SYSTEMS).connector("vpcp"), AxisConnector)


def test_send_edoc_request_is_what_the_sdk_sends() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "DocId": "D-1"})

    body = "<edXML>Về việc</edXML>".encode()
    doc_id = connector(handler).send_edoc(
        body,
        from_organ="000.00.00.H39",
        to=["000.00.00.G22", "000.00.00.G12"],
        message_type="status",
    )

    assert doc_id == "D-1"
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://axis.test/XrdAdapter/sendEdoc"
    assert request.content == body
    assert request.headers["content-type"] == "application/octet-stream"
    assert request.headers["user-agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert request.headers["xroadvnpt-version"] == "3.0.201608"
    auth = authenticate(request.headers, {"sys-a": "secret-a"}.get)
    assert auth.system_id == "sys-a"
    assert auth.params == {
        "from": "000.00.00.H39",
        "to": '["000.00.00.G22","000.00.00.G12"]',
        "servicetype": "eDoc",
        "messagetype": "status",
        "hash-file": hashlib.sha256(body).hexdigest().lstrip("0"),
    }


def test_clock_sets_the_signed_timestamp() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "data": []})

    fixed = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    client = HttpAxisConnector(
        "http://axis.test",
        "sys-a",
        "secret-a",
        transport=httpx.MockTransport(handler),
        clock=lambda: fixed,
    )
    client.get_agencies()
    assert seen[0].headers["xroadvnpt-timestamp"] == "02012026T100405+0006"
    assert str(seen[0].url) == "http://axis.test/getAgenciesList"


def test_other_operations_send_their_parameters() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        auth = authenticate(request.headers, {"sys-a": "secret-a"}.get)
        seen.append({"op": request.url.path.rsplit("/", 1)[1], **auth.params})
        data: object = base64.b64encode(b"<x/>").decode() if "getEdoc" in request.url.path else []
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "data": data})

    client = connector(handler)
    assert client.get_received_list("status") == []
    assert client.get_edoc("D-9") == b"<x/>"
    client.update_status("D-9", "fail")
    assert seen == [
        {"op": "getReceivedEdocList", "servicetype": "eDoc", "messagetype": "status"},
        {"op": "getEdoc", "docId": "D-9"},
        {"op": "updateStatus", "docId": "D-9", "status": "fail"},
    ]


def test_received_list_parsing_is_lenient_about_to() -> None:
    data = [
        {
            "docId": "1",
            "from": "A",
            "to": ["B", "C"],
            "messageType": "edoc",
            "status": "initial",
            "created_time": "t1",
        },
        {"docId": 2, "from": "A", "to": '["B"]', "status": "processing"},
        {"docId": "3", "from": "A", "to": "B, C"},
    ]
    items = connector(answer(status="OK", ErrorCode="0", data=data)).get_received_list("edoc")
    assert [(i.doc_id, i.to, i.message_type, i.status) for i in items] == [
        ("1", ("B", "C"), "edoc", "initial"),
        ("2", ("B",), "edoc", "processing"),
        ("3", ("B", "C"), "edoc", ""),
    ]
    assert items[0].created_time == "t1"


@pytest.mark.parametrize(
    ("status_code", "body", "retryable"),
    [
        (401, {"status": "FAIL", "ErrorCode": "401", "ErrorDesc": "bad signature"}, False),
        (403, None, False),
        (400, None, False),
        (404, None, False),
        (408, None, True),
        (429, None, True),
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (504, None, True),
        (200, {"status": "FAIL", "ErrorCode": "422", "ErrorDesc": "unknown recipient"}, False),
        (200, {"status": "FAIL", "ErrorCode": "400", "ErrorDesc": "bad"}, False),
        (200, {"status": "FAIL", "ErrorCode": "503", "ErrorDesc": "busy"}, True),
        (200, {"ErrorCode": "0"}, True),  # no status: a garbled answer
        (200, ["not", "an", "object"], True),
        (200, {"status": "OK", "ErrorCode": "0"}, True),  # OK without DocId
    ],
)
def test_answers_map_to_retryable_or_not(status_code: int, body: object, retryable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status_code, text="<html>proxy says no</html>")
        return httpx.Response(status_code, json=body)

    with pytest.raises(AxisError) as caught:
        connector(handler).send_edoc(b"x", from_organ="A", to=["B"], message_type="edoc")
    assert caught.value.retryable is retryable
    if status_code != 200:
        assert caught.value.http_status == status_code
    if body is None:
        assert caught.value.error_code is None
    if isinstance(body, dict) and "ErrorCode" in body and body.get("status") == "FAIL":
        assert caught.value.error_code == body["ErrorCode"]


def test_non_json_success_answer_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>gateway</html>")

    with pytest.raises(AxisError) as caught:
        connector(handler).get_agencies()
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        httpx.WriteError("broken pipe"),
        httpx.DecodingError("bad gzip"),
    ],
)
def test_transport_failures_are_retryable(exception: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    with pytest.raises(AxisError) as caught:
        connector(handler).get_received_list("edoc")
    assert caught.value.retryable is True
    assert caught.value.__cause__ is exception


def test_connection_refused_on_a_real_socket_is_retryable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    client = HttpAxisConnector(f"http://127.0.0.1:{port}", "sys-a", "secret-a", timeout=2)
    with client, pytest.raises(AxisError) as caught:
        client.get_agencies()
    assert caught.value.retryable is True
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_bad_url_is_not_retryable() -> None:
    client = HttpAxisConnector("ftp://axis.test", "sys-a", "secret-a")
    with client, pytest.raises(AxisError) as caught:
        client.get_agencies()
    assert caught.value.retryable is False


@pytest.mark.parametrize("data", ["***not base64***", 42, None])
def test_get_edoc_with_garbled_data_is_retryable(data: object) -> None:
    with pytest.raises(AxisError) as caught:
        connector(answer(status="OK", ErrorCode="0", data=data)).get_edoc("D-1")
    assert caught.value.retryable is True


def test_agencies_are_parsed_and_entries_without_code_skipped() -> None:
    data = [
        {"code": "000.00.00.G22", "name": "Văn phòng Chính phủ", "systemid": "vpcp"},
        {"name": "no code"},
        {"code": "000.00.00.H39"},
    ]
    agencies = connector(answer(status="OK", ErrorCode="0", data=data)).get_agencies()
    assert [(a.code, a.name, a.systemid) for a in agencies] == [
        ("000.00.00.G22", "Văn phòng Chính phủ", "vpcp"),
        ("000.00.00.H39", "", ""),
    ]


def test_error_message_carries_the_axis_description() -> None:
    handler = answer(
        401, status="FAIL", ErrorCode="401", ErrorDesc="timestamp outside the allowed window"
    )
    with pytest.raises(AxisError) as caught:
        connector(handler).get_agencies()
    assert "timestamp outside the allowed window" in str(caught.value)
    assert caught.value.error_code == "401"
    assert "retryable=False" in repr(caught.value)
