"""The API's front gate: authenticate from the headers, then rate-limit, before any body is read.

FastAPI reads a route's JSON body before it runs the route's dependencies, and `capped_body`
streams an edXML body to disk; either way an unauthenticated client could make the hub take
in 60 MB before its 401. This ASGI middleware runs first for every `/api/v1` request (all of
them need a key): no key, an unknown or revoked key, or a key over its rate answers at once
with problem+json and the body is never received. The principal it found is left in the
request's state, so `get_principal` does not look the key up a second time.

A key's principal is reused for AUTH_CACHE_SECONDS (at most 1 s; `PrincipalCache`), so a
burst of requests with one key costs one lookup; a revocation acts within that second, and at
once in the process that revoked. When the entry has expired, the requests that arrive while
one of them looks the key up wait for its answer instead of each looking it up (`_Lookup`):
under load every request in flight would otherwise miss at once, once a second.

The rate limit is a token bucket per API key (keyed by the key's hash), held in this
process: with several API processes each allows the configured rate.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from anyio import Event, to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from app.clients.service import Principal, PrincipalCache, authenticate
from app.core.db import read_first
from app.core.errors import PROBLEM_JSON, AuthMissing, HubError
from app.core.security import hash_api_key


class RateLimited(HubError):
    status, code, title = 429, "rate.limited", "Too many requests"


class RateLimiter:
    """Token buckets: `per_minute` requests a minute per key, bursts up to `per_minute`.

    Buckets exist only for keys that authenticated, so their number is bounded by the clients.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if the request may pass, else the seconds until a token is available."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate


def bearer_token(headers: Headers) -> str | None:
    header = headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class _Lookup:
    """A key being looked up: later requests with the key wait for its principal."""

    def __init__(self) -> None:
        self.done = Event()
        self.principal: Principal | None = None
        self.waiting = 0


class Gate:
    """Pure ASGI middleware for the paths under `prefix` (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        sessions: Callable[[], sessionmaker[Session]],
        limiter: RateLimiter,
        principals: PrincipalCache | None = None,
    ) -> None:
        self.app = app
        self.principals = principals or PrincipalCache(0)
        self.prefix = prefix.rstrip("/") + "/"
        self.sessions = sessions
        self.limiter = limiter
        self._lookups: dict[str, _Lookup] = {}  # touched on the event loop only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        session = self.sessions()()
        try:
            try:
                principal = await self._admit(scope, session)
            except HubError as exc:
                await self._refuse(exc, scope, receive, send)
                return
            # The request goes on with this session (its one session: `get_session`).
            state = scope.setdefault("state", {})
            state["principal"], state["session"] = principal, session
            await self.app(scope, receive, send)
        finally:
            # A no-op when the request's dependency already closed it (no thread hop then);
            # after a refusal it rolls back the read transaction, which is database I/O: off
            # the event loop.
            if session.in_transaction():
                await to_thread.run_sync(session.close)
            else:
                session.close()

    async def _admit(self, scope: Scope, session: Session) -> Any:
        token = bearer_token(Headers(scope=scope))
        if token is None:
            raise AuthMissing("send Authorization: Bearer <api key>")

        def lookup() -> Principal:
            return authenticate(session, token)

        read_first(session)  # reads only: no SQLite write lock while authenticating
        key_hash = hash_api_key(token)
        principal = self.principals.get(key_hash)
        if principal is None and self.principals.ttl > 0:
            running = self._lookups.get(key_hash)
            if running is not None:  # a request is looking the key up: its answer serves
                running.waiting += 1
                await running.done.wait()
                principal = running.principal
        if principal is None:  # none was running (or it failed, or nothing is cached)
            mine = _Lookup()
            self._lookups.setdefault(key_hash, mine)  # unless another began meanwhile
            try:
                principal = await to_thread.run_sync(lookup)
                self.principals.put(key_hash, principal)
                mine.principal = principal
            finally:
                if self._lookups.get(key_hash) is mine:
                    del self._lookups[key_hash]
                mine.done.set()
        wait = self.limiter.take(key_hash)
        if wait > 0:
            raise RateLimited(
                f"more than {self.limiter.per_minute} requests a minute with this API key",
                extra={"retry_after": math.ceil(wait)},
            )
        return principal

    @staticmethod
    async def _refuse(exc: HubError, scope: Scope, receive: Receive, send: Send) -> None:
        _match_route(scope)
        headers: dict[str, str] = {"Connection": "close"} if _has_body(scope) else {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.status == 429:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        response = JSONResponse(
            exc.problem(instance=str(scope.get("path"))),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
            headers=headers,
        )
        await response(scope, receive, send)


class _Template:
    """Stands in for the matched route in `scope["route"]`: the metrics read its `path`."""

    def __init__(self, path: str) -> None:
        self.path = path


def _match_route(scope: Scope) -> None:
    """Record the route template a refused request was for, so metrics and logs label it by
    template (the router, which normally does this, is never reached). The templates come
    from the OpenAPI document, built once per application."""
    app = scope.get("app")
    if app is None or not hasattr(app, "openapi"):
        return
    table: list[tuple[re.Pattern[str], _Template]] | None = getattr(
        app.state, "route_templates", None
    )
    if table is None:
        paths = app.openapi().get("paths", {})
        table = [(compile_path(path)[0], _Template(path)) for path in paths]
        app.state.route_templates = table
    path = str(scope.get("path", ""))
    for regex, template in table:
        if regex.match(path):
            scope["route"] = template
            return


def _has_body(scope: Scope) -> bool:
    """A body was announced: the connection is closed after the refusal rather than drained."""
    headers = Headers(scope=scope)
    length = headers.get("content-length")
    return bool(headers.get("transfer-encoding")) or (length is not None and length != "0")
