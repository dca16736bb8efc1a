"""Request ids, metrics and the request log line, as a plain ASGI middleware.

Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`) runs the rest of the app in a
second task and passes the response through memory streams: measurable on every request of
a hub that must accept hundreds a second. This one only wraps `send`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var
from app.core.metrics import Metrics

log = logging.getLogger("app.http")


def route_template(scope: Scope, api_prefix: str) -> str:
    """The matched route's template (bounded label cardinality), never the raw path."""
    path = getattr(scope.get("route"), "path", None)
    if path is None:
        return "unmatched"
    if scope["path"].startswith(api_prefix) and not str(path).startswith(api_prefix):
        return api_prefix + str(path)
    return str(path)


class Observe:
    """Give each HTTP request an id (`x-request-id`, taken from the client or made), count
    and time it by route template, and log one line when its response has been sent."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, api_prefix: str) -> None:
        self.app, self.metrics, self.api_prefix = app, metrics, api_prefix
        # The metrics' children by label values (bounded: route templates × statuses), so a
        # request does not look them up through prometheus_client's lock each time.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 32 random hex digits, as uuid4().hex without the UUID object (a third of the cost).
        rid = Headers(scope=scope).get("x-request-id") or os.urandom(16).hex()
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = [500]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = rid
                # No response (edXML, attachments, problems) may be sniffed into another type.
                headers.setdefault("x-content-type-options", "nosniff")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._record(scope, status[0], time.perf_counter() - started)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = route_template(scope, self.api_prefix)
        method = scope["method"]
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if not log.isEnabledFor(logging.INFO):
            return
        principal: Any = scope.get("state", {}).get("principal")
        log.info(
            "request",
            extra={
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "client_id": getattr(principal, "client_id", None),
            },
        )
