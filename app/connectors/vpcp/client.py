"""Connectors to the national axis: the interface the hub codes against, and its HTTP client.

:class:`HttpAxisConnector` speaks the axis's REST interface as the VNPT SDK does (it works
unchanged against the real axis and the mock). The in-memory fake for unit tests,
``app.mock_axis.memory.InMemoryAxis``, builds on :class:`ConnectorBase` with the mock's code.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import httpx

from app.connectors.vpcp.auth import build_headers, file_hash
from app.connectors.vpcp.protocol import (
    SERVICE_TYPE,
    TRANSIENT_ERROR_CODES,
    AckStatus,
    Agency,
    AxisError,
    Clock,
    MessageType,
    ReceivedItem,
)

logger = logging.getLogger(__name__)


@runtime_checkable
class AxisConnector(Protocol):
    """What the hub needs from the axis. Every method raises AxisError on failure."""

    def send_edoc(
        self, edxml: bytes, *, from_organ: str, to: Sequence[str], message_type: MessageType
    ) -> str:
        """Hand a document or status message to the axis; returns the axis DocId."""
        ...

    def get_received_list(self, message_type: MessageType) -> list[ReceivedItem]:
        """Items waiting for this system that it has not marked done."""
        ...

    def get_edoc(self, doc_id: str) -> bytes:
        """The edXML of a received item."""
        ...

    def update_status(self, doc_id: str, status: AckStatus) -> None:
        """Acknowledge a received item; ``done`` removes it from the list."""
        ...

    def get_agencies(self) -> list[Agency]:
        """The organizations the axis knows."""
        ...


# --- shared request/answer handling -------------------------------------------------------


def _send_params(from_organ: str, to: Sequence[str], message_type: MessageType) -> dict[str, str]:
    return {
        "from": from_organ,
        "to": json.dumps(list(to), ensure_ascii=False, separators=(",", ":")),
        "servicetype": SERVICE_TYPE,
        "messagetype": message_type,
    }


def check_answer(operation: str, answer: object, http_status: int | None = None) -> dict[str, Any]:
    """Turn an answer's JSON into its fields, or an AxisError saying whether to retry."""
    if not isinstance(answer, dict):
        raise AxisError(
            f"{operation}: answer is not a JSON object", retryable=True, http_status=http_status
        )
    status = answer.get("status")
    if status == "OK":
        return answer
    if status == "FAIL":
        code = str(answer.get("ErrorCode", ""))
        desc = str(answer.get("ErrorDesc", "") or "FAIL")
        raise AxisError(
            f"{operation}: {desc} (ErrorCode {code})",
            retryable=code in TRANSIENT_ERROR_CODES,
            error_code=code,
            http_status=http_status,
        )
    raise AxisError(
        f"{operation}: answer has no OK/FAIL status", retryable=True, http_status=http_status
    )


def _parse_to(value: object) -> tuple[str, ...]:
    """``to`` of a received item: a JSON array, JSON array text, or comma-separated codes."""
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return tuple(str(v) for v in parsed)
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return ()


def _parse_received(data: object, requested: MessageType) -> list[ReceivedItem]:
    if not isinstance(data, list):
        raise AxisError("getReceivedEdocList: `data` is not a list", retryable=True)
    items: list[ReceivedItem] = []
    for entry in data:
        if not isinstance(entry, dict) or not entry.get("docId"):
            raise AxisError("getReceivedEdocList: an item has no docId", retryable=True)
        kind = entry.get("messageType", entry.get("messagetype"))
        message_type: MessageType = kind if kind in ("edoc", "status") else requested
        items.append(
            ReceivedItem(
                doc_id=str(entry["docId"]),
                from_organ=str(entry.get("from", "")),
                to=_parse_to(entry.get("to")),
                message_type=message_type,
                status=str(entry.get("status", "")),
                created_time=str(entry.get("created_time", "")),
            )
        )
    return items


def _parse_edoc(data: object) -> bytes:
    if not isinstance(data, str):
        raise AxisError("getEdoc: `data` is not base64 text", retryable=True)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AxisError("getEdoc: `data` is not valid base64", retryable=True) from exc


def _parse_agencies(data: object) -> list[Agency]:
    if not isinstance(data, list):
        raise AxisError("getAgenciesList: `data` is not a list", retryable=True)
    return [
        Agency(
            code=str(entry["code"]),
            name=str(entry.get("name", "")),
            systemid=str(entry.get("systemid", "")),
        )
        for entry in data
        if isinstance(entry, dict) and entry.get("code")
    ]


class ConnectorBase:
    """The operations in terms of one primitive, ``_call``, that each transport provides."""

    def _call(self, operation: str, params: Mapping[str, str], body: bytes) -> dict[str, Any]:
        raise NotImplementedError

    def send_edoc(
        self, edxml: bytes, *, from_organ: str, to: Sequence[str], message_type: MessageType
    ) -> str:
        params = _send_params(from_organ, to, message_type)
        params["hash-file"] = file_hash(edxml)
        answer = self._call("sendEdoc", params, edxml)
        doc_id = answer.get("DocId")
        if not doc_id:
            raise AxisError("sendEdoc: OK answer without DocId", retryable=True)
        return str(doc_id)

    def get_received_list(self, message_type: MessageType) -> list[ReceivedItem]:
        params = {"servicetype": SERVICE_TYPE, "messagetype": message_type}
        answer = self._call("getReceivedEdocList", params, b"")
        return _parse_received(answer.get("data", []), message_type)

    def get_edoc(self, doc_id: str) -> bytes:
        return _parse_edoc(self._call("getEdoc", {"docId": doc_id}, b"").get("data"))

    def update_status(self, doc_id: str, status: AckStatus) -> None:
        self._call("updateStatus", {"docId": doc_id, "status": status}, b"")

    def get_agencies(self) -> list[Agency]:
        return _parse_agencies(self._call("getAgenciesList", {}, b"").get("data", []))


# --- over HTTP --------------------------------------------------------------------------------


class HttpAxisConnector(ConnectorBase):
    """The axis over HTTP(S), one sync ``httpx.Client`` (thread-safe, connection pooling).

    ``base_url`` is the axis endpoint (``VPCP_URL``); operations are POSTed to
    ``<base_url>/<operation>``. ``transport`` lets tests plug an httpx transport in.
    """

    def __init__(
        self,
        base_url: str,
        system_id: str,
        secret: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpAxisConnector({self.base_url!r}, system_id={self.system_id!r})"

    def _call(self, operation: str, params: Mapping[str, str], body: bytes) -> dict[str, Any]:
        now: datetime | None = self._clock() if self._clock else None
        headers = build_headers(self.system_id, self._secret, params, now)
        if operation == "sendEdoc":
            headers["Content-Type"] = "application/octet-stream"
        url = f"{self.base_url}/{operation}"
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise AxisError(f"{operation}: timed out ({exc!r})", retryable=True) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise AxisError(f"{operation}: bad axis URL {url!r}", retryable=False) from exc
        except httpx.TransportError as exc:
            raise AxisError(f"{operation}: connection failed ({exc!r})", retryable=True) from exc
        except httpx.RequestError as exc:  # e.g. a garbled compressed answer
            raise AxisError(f"{operation}: unreadable answer ({exc!r})", retryable=True) from exc
        return self._interpret(operation, response)

    @staticmethod
    def _interpret(operation: str, response: httpx.Response) -> dict[str, Any]:
        code = response.status_code
        try:
            answer: object = response.json()
        except ValueError:
            answer = None
        if 200 <= code < 300:
            return check_answer(operation, answer, code)
        desc = ""
        if isinstance(answer, dict):
            desc = f": {answer.get('ErrorDesc', '')} (ErrorCode {answer.get('ErrorCode', '')})"
        retryable = code in (408, 429) or code >= 500
        error_code = None
        if isinstance(answer, dict) and answer.get("ErrorCode") is not None:
            error_code = str(answer["ErrorCode"])
        raise AxisError(
            f"{operation}: HTTP {code}{desc}",
            retryable=retryable,
            error_code=error_code,
            http_status=code,
        )
