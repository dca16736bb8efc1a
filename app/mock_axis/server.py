"""The mock national axis: a separate ASGI app for tests, demos and ``lienthong mock-vpcp``.

It implements the five operations with the axis's authentication (SPEC section 7), keeps
everything it receives, and can inject faults. Protocol requests that fail authentication get
HTTP 401 with a FAIL answer; business refusals get HTTP 200 with a FAIL answer (as the axis does).

Faults (``PUT /_mock/faults``) apply to the five protocol operations only, never to ``/_mock``:

* latency: the answer is delayed by ``latency_ms``;
* error: half of the time an HTTP 503 with a plain-text body, otherwise HTTP 200
  ``{"status": "FAIL", "ErrorCode": "503"}``; nothing is processed;
* reset: the request is read, then the TCP connection is aborted with SO_LINGER 0, so the
  client gets a real RST and no answer (httpx raises ReadError; on a platform where the
  socket option cannot be set, the connection is just closed and httpx raises
  RemoteProtocolError). This needs the raw uvicorn connection, which the app reaches through
  the ``send`` callable uvicorn hands it; under any other server the fallback starts an answer
  that promises a body and then stops, which servers also answer by closing the connection;
* lose-after-accept: a valid sendEdoc is answered OK with a DocId and then forgotten.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.connectors.vpcp.auth import (
    DEFAULT_MAX_SKEW,
    AuthenticatedRequest,
    AxisAuthError,
    authenticate,
)
from app.connectors.vpcp.protocol import (
    ERROR_AUTH,
    ERROR_BAD_REQUEST,
    ERROR_UNAVAILABLE,
    OPERATIONS,
    AxisError,
    Clock,
    MessageType,
)
from app.mock_axis.operations import fail, handle_operation, ok
from app.mock_axis.state import (
    AxisState,
    FaultConfig,
    FaultInjector,
    SignatureVerifier,
    SystemConfig,
    load_systems,
    parse_systems,
)

__all__ = [
    "EXAMPLE_SYSTEMS",
    "FaultConfig",
    "MockAxisApp",
    "MockAxisServer",
    "SystemConfig",
    "create_mock_app",
    "load_systems",
    "parse_systems",
    "run_mock",
]

logger = logging.getLogger(__name__)

_LOSE_KEY = "lienthong.mock.lose_after_accept"
_PROTOCOL_PATHS = frozenset("/" + op for op in OPERATIONS)


class InjectRequest(BaseModel):
    """``POST /_mock/send``: a message as if ``from_system`` had sent it through the axis."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_system: str
    edxml_base64: str
    to: list[str] = Field(min_length=1)
    messagetype: MessageType = "edoc"
    from_organ: str | None = Field(default=None, alias="from")


class MockAxisApp(FastAPI):
    """FastAPI app that also sees the raw ASGI ``send``, which the reset fault needs."""

    def __init__(self, state: AxisState, faults: FaultInjector, max_skew: timedelta) -> None:
        super().__init__(
            title="Mock VPCP axis",
            description="Mock of the national document-interchange axis (Lienthong tests)",
            version="1",
            docs_url="/_mock/docs",
            redoc_url=None,
            openapi_url="/_mock/openapi.json",
        )
        self.axis_state = state
        self.faults = faults
        self.max_skew = max_skew

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in _PROTOCOL_PATHS:
            decision = self.faults.draw()
            if decision.latency_ms:
                await asyncio.sleep(decision.latency_ms / 1000)
            if decision.reset:
                await _drop_connection(receive, send)
                return
            if decision.error == "http_503":
                response: PlainTextResponse | JSONResponse = PlainTextResponse(
                    "Service Unavailable (injected fault)", status_code=503
                )
                await response(scope, receive, send)
                return
            if decision.error == "fail_answer":
                answer = fail(ERROR_UNAVAILABLE, "temporarily unavailable (injected fault)")
                await JSONResponse(answer)(scope, receive, send)
                return
            if decision.lose_after_accept:
                scope[_LOSE_KEY] = True
        await super().__call__(scope, receive, send)


def _find_transport(send: Send) -> Any | None:
    """uvicorn's ``send`` is a bound method of its request cycle, which holds the transport."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return None
    return transport


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Read the request, then abort the TCP connection without answering (reset fault)."""
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more_body = bool(message.get("more_body", False))
    transport = _find_transport(send)
    if transport is None:
        logger.warning("reset fault: raw transport unavailable; closing mid-answer instead")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1000")],
            }
        )
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Wait until uvicorn has seen the connection go, so it does not try to answer a 500.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2):
            while (await receive())["type"] != "http.disconnect":
                pass


def create_mock_app(
    systems: Sequence[SystemConfig],
    verify_signature: SignatureVerifier | None = None,
    *,
    clock: Clock | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> MockAxisApp:
    """Build the mock axis for these systems.

    ``verify_signature(edxml, sender_organ_id)`` is called on every accepted message and its
    result recorded as ``signature_valid`` (None when no verifier is given). ``clock`` is the
    mock's notion of now (timestamps are checked against it).
    """
    state = AxisState(systems, verify_signature, clock)
    app = MockAxisApp(state, FaultInjector(), max_skew)
    _add_protocol_routes(app)
    _add_admin_routes(app)
    return app


def _add_protocol_routes(app: MockAxisApp) -> None:
    state = app.axis_state

    def make_handler(operation: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            try:
                body = await request.body()
            except ClientDisconnect:  # e.g. the client gave up during injected latency
                return Response(status_code=499)
            try:
                auth: AuthenticatedRequest = authenticate(
                    request.headers, state.secret_for, state.clock(), app.max_skew
                )
            except AxisAuthError as exc:
                logger.info("%s refused: %s", operation, exc.reason)
                return JSONResponse(fail(ERROR_AUTH, exc.reason), status_code=401)
            lose = bool(request.scope.get(_LOSE_KEY, False))
            answer = await run_in_threadpool(
                handle_operation, state, operation, auth, body, lose_after_accept=lose
            )
            return JSONResponse(answer)

        handler.__name__ = operation
        return handler

    for operation in OPERATIONS:
        methods = ["POST", "GET"] if operation == "getAgenciesList" else ["POST"]
        app.add_api_route(f"/{operation}", make_handler(operation), methods=methods)


def _add_admin_routes(app: MockAxisApp) -> None:
    state = app.axis_state
    faults = app.faults

    @app.get("/_mock/messages")
    def list_messages() -> list[dict[str, object]]:
        """Everything the mock holds, with per-recipient-system status."""
        return state.snapshot()

    @app.delete("/_mock/messages")
    def clear_messages() -> dict[str, object]:
        return {"status": "OK", "deleted": state.clear()}

    @app.get("/_mock/faults")
    def get_faults() -> FaultConfig:
        return faults.config

    @app.put("/_mock/faults")
    def put_faults(config: FaultConfig) -> FaultConfig:
        faults.configure(config)
        logger.info("faults set: %s", config.model_dump())
        return config

    @app.delete("/_mock/faults")
    def clear_faults() -> FaultConfig:
        faults.clear()
        return faults.config

    @app.get("/_mock/systems")
    def list_systems() -> list[dict[str, object]]:
        """The connected systems, without their secrets."""
        return [
            {"systemid": s.systemid, "name": s.name, "organ_ids": list(s.organ_ids)}
            for s in state.systems.values()
        ]

    @app.post("/_mock/send")
    async def inject(payload: InjectRequest) -> JSONResponse:
        """Queue a message as if another connected system had sent it (demos, tests)."""
        system = state.systems.get(payload.from_system)
        if system is None:
            return JSONResponse(
                fail(ERROR_BAD_REQUEST, f"unknown system {payload.from_system!r}"),
                status_code=400,
            )
        try:
            edxml = base64.b64decode(payload.edxml_base64, validate=True)
        except (binascii.Error, ValueError):
            return JSONResponse(
                fail(ERROR_BAD_REQUEST, "edxml_base64 is not base64"), status_code=400
            )
        try:
            doc_id = await run_in_threadpool(
                state.send,
                system.systemid,
                edxml,
                from_organ=payload.from_organ or _first_exact(system),
                to=payload.to,
                message_type=payload.messagetype,
            )
        except AxisError as exc:
            return JSONResponse(
                fail(exc.error_code or ERROR_BAD_REQUEST, exc.message), status_code=400
            )
        return JSONResponse(ok(DocId=doc_id))


def _first_exact(system: SystemConfig) -> str:
    exact = [organ for organ in system.organ_ids if not organ.startswith("*.")]
    return exact[0] if exact else ""


EXAMPLE_SYSTEMS = Path(__file__).with_name("example_systems.json")
"""A systems file for demos and docker-compose (secrets are placeholders)."""


# --- running it -----------------------------------------------------------------------------


def with_secrets(systems: list[SystemConfig], secrets: dict[str, str]) -> list[SystemConfig]:
    """The systems with some secrets replaced; an unknown systemid is an error."""
    unknown = set(secrets) - {s.systemid for s in systems}
    if unknown:
        raise ValueError(f"no system {', '.join(sorted(unknown))} in the systems file")
    return [
        s.model_copy(update={"secret": secrets[s.systemid]}) if s.systemid in secrets else s
        for s in systems
    ]


def run_mock(
    systems_file: str | Path,
    host: str = "127.0.0.1",
    port: int = 8090,
    *,
    verify_signature: SignatureVerifier | None = None,
    log_level: str = "info",
    secrets: dict[str, str] | None = None,
) -> None:
    """Serve the mock axis until interrupted (``lienthong mock-vpcp``).

    `secrets` replaces the file's secret of those systems (the file's are placeholders).
    """
    from app.core.logging import configure_logging

    app = create_mock_app(with_secrets(load_systems(systems_file), secrets or {}), verify_signature)
    configure_logging(log_level.upper())
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None)


@dataclass
class MockAxisServer:
    """The mock (or any ASGI app) served by uvicorn in a background thread, for tests.

    ``MockAxisServer.start(app)`` binds the socket itself (port 0 = any free port), so there is
    no race for the port; ``url`` is ready to use once ``start`` returns.
    """

    app: Any
    server: Any
    thread: threading.Thread
    url: str

    @classmethod
    def start(
        cls,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 10.0,
        log_level: str = "warning",
        json_logs: bool = False,
    ) -> MockAxisServer:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        # json_logs: uvicorn configures no logging of its own, its lines reach the process's
        # JSON handler (`serve`'s embedded mock); otherwise uvicorn's default configuration.
        extra: dict[str, Any] = {"log_config": None} if json_logs else {}
        config = uvicorn.Config(app, log_level=log_level, lifespan="off", **extra)
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="mock-axis", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the mock axis server did not start")
            time.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        return cls(app=app, server=server, thread=thread, url=f"http://{url_host}:{bound_port}")

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
