"""An axis in memory for unit tests of the hub: the mock's own code, minus HTTP."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from app.connectors.vpcp.auth import AxisAuthError, authenticate, build_headers
from app.connectors.vpcp.client import ConnectorBase, check_answer
from app.connectors.vpcp.protocol import ERROR_AUTH, ERROR_UNAVAILABLE, AxisError, Clock
from app.mock_axis.operations import handle_operation
from app.mock_axis.state import (
    AxisState,
    FaultConfig,
    FaultInjector,
    SignatureVerifier,
    SystemConfig,
)


class InMemoryAxis:
    """A whole axis in memory, with several systems, for unit tests of the hub.

    ``connector(system_id)`` gives one system's view (an AxisConnector). Requests go through
    the same header signing, verification and operation code as the mock, so refusals,
    statuses and error codes are identical; faults behave like the mock's too.
    """

    def __init__(
        self,
        systems: Sequence[SystemConfig],
        verify_signature: SignatureVerifier | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.state = AxisState(systems, verify_signature, clock)
        self.faults = FaultInjector()

    def connector(self, system_id: str, secret: str | None = None) -> InMemoryAxisConnector:
        """A connector for ``system_id``; ``secret`` defaults to the configured one."""
        if secret is None:
            secret = self.state.secret_for(system_id) or ""
        return InMemoryAxisConnector(self, system_id, secret)

    def set_faults(self, config: FaultConfig) -> None:
        self.faults.configure(config)

    def clear_faults(self) -> None:
        self.faults.clear()

    def messages(self) -> list[dict[str, object]]:
        """Same content as the mock's ``GET /_mock/messages``."""
        return self.state.snapshot()

    def reset(self) -> None:
        self.state.clear()
        self.faults.clear()


class InMemoryAxisConnector(ConnectorBase):
    """One system's connection to an InMemoryAxis."""

    def __init__(self, axis: InMemoryAxis, system_id: str, secret: str) -> None:
        self.axis = axis
        self.system_id = system_id
        self._secret = secret

    def __repr__(self) -> str:
        return f"InMemoryAxisConnector(system_id={self.system_id!r})"

    def _call(self, operation: str, params: Mapping[str, str], body: bytes) -> dict[str, Any]:
        state = self.axis.state
        decision = self.axis.faults.draw()
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        if decision.reset:
            raise AxisError(f"{operation}: connection reset (injected fault)", retryable=True)
        if decision.error == "http_503":
            raise AxisError(f"{operation}: HTTP 503", retryable=True, http_status=503)
        if decision.error == "fail_answer":
            return check_answer(
                operation,
                {"status": "FAIL", "ErrorCode": ERROR_UNAVAILABLE, "ErrorDesc": "injected fault"},
            )
        now = state.clock()
        headers = build_headers(self.system_id, self._secret, params, now)
        try:
            request = authenticate(headers, state.secret_for, now)
        except AxisAuthError as exc:
            raise AxisError(
                f"{operation}: HTTP 401: {exc.reason}",
                retryable=False,
                error_code=ERROR_AUTH,
                http_status=401,
            ) from exc
        answer = handle_operation(
            state, operation, request, body, lose_after_accept=decision.lose_after_accept
        )
        return check_answer(operation, answer)
