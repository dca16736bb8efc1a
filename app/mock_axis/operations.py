"""The five axis operations as transport-free functions: signed parameters in, answer JSON out.

The mock ASGI app calls :func:`handle_operation` after authenticating an HTTP request; the
in-memory fake calls it after authenticating the same headers in-process. Business refusals
become ``{"status": "FAIL", ...}`` answers here, so both paths answer identically.
"""

from __future__ import annotations

import base64
from typing import Any

from app.connectors.vpcp.auth import AuthenticatedRequest, file_hash_matches
from app.connectors.vpcp.protocol import (
    ERROR_BAD_REQUEST,
    ERROR_OK,
    OPERATIONS,
    SERVICE_TYPE,
    AxisError,
)
from app.mock_axis.state import AxisState, check_message_type, parse_to

Answer = dict[str, Any]


def ok(**fields: Any) -> Answer:
    return {"status": "OK", "ErrorCode": ERROR_OK, "ErrorDesc": "", **fields}


def fail(code: str, description: str) -> Answer:
    return {"status": "FAIL", "ErrorCode": code, "ErrorDesc": description}


def _required(request: AuthenticatedRequest, name: str) -> str:
    value = request.param(name)
    if value is None or value == "":
        raise AxisError(
            f"missing signed parameter {name!r}", retryable=False, error_code=ERROR_BAD_REQUEST
        )
    return value


def handle_operation(
    state: AxisState,
    operation: str,
    request: AuthenticatedRequest,
    body: bytes,
    *,
    lose_after_accept: bool = False,
) -> Answer:
    """Run one operation for an authenticated caller; never raises for a business refusal."""
    try:
        return _dispatch(state, operation, request, body, lose_after_accept)
    except AxisError as exc:
        return fail(exc.error_code or ERROR_BAD_REQUEST, exc.message)


def _dispatch(
    state: AxisState,
    operation: str,
    request: AuthenticatedRequest,
    body: bytes,
    lose_after_accept: bool,
) -> Answer:
    caller = request.system_id
    service_type = request.param("servicetype")
    if service_type is not None and service_type != SERVICE_TYPE:
        raise AxisError(
            f"servicetype must be {SERVICE_TYPE}", retryable=False, error_code=ERROR_BAD_REQUEST
        )
    if operation == "sendEdoc":
        claimed = _required(request, "hash-file")
        if not file_hash_matches(body, claimed):
            raise AxisError(
                "body does not match hash-file", retryable=False, error_code=ERROR_BAD_REQUEST
            )
        doc_id = state.send(
            caller,
            body,
            from_organ=_required(request, "from"),
            to=parse_to(_required(request, "to")),
            message_type=_required(request, "messagetype"),
            lose=lose_after_accept,
        )
        return ok(DocId=doc_id)
    if operation == "getReceivedEdocList":
        kind = check_message_type(request.param("messagetype") or "edoc")
        return ok(
            data=[
                {
                    "docId": item.doc_id,
                    "serviceType": SERVICE_TYPE,
                    "messageType": item.message_type,
                    "from": item.from_organ,
                    "to": list(item.to),
                    "status": item.status,
                    "status_desc": item.status,
                    "created_time": item.created_time,
                }
                for item in state.received(caller, kind)
            ]
        )
    if operation == "getEdoc":
        edxml = state.get(caller, _required(request, "docId"))
        return ok(data=base64.b64encode(edxml).decode("ascii"))
    if operation == "updateStatus":
        state.update_status(caller, _required(request, "docId"), _required(request, "status"))
        return ok()
    if operation == "getAgenciesList":
        return ok(
            data=[
                {"code": a.code, "name": a.name, "systemid": a.systemid} for a in state.agencies()
            ]
        )
    raise AxisError(
        f"unknown operation {operation!r} (known: {', '.join(OPERATIONS)})",
        retryable=False,
        error_code=ERROR_BAD_REQUEST,
    )
