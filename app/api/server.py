"""How `lienthong serve` runs uvicorn: bounded connections, idle and header timeouts.

What is bounded (settings in brackets):
- idle keep-alive connections are closed after HTTP_KEEP_ALIVE seconds (uvicorn's
  timeout_keep_alive);
- a request's header block must arrive within HTTP_HEADER_TIMEOUT seconds of the connection
  opening or of the previous response (uvicorn has no such timeout: `HeaderTimeoutH11` adds
  it), so slowloris connections that trickle headers are closed;
- a header block larger than 64 KiB is refused with h11 (h11_max_incomplete_event_size;
  httptools applies llhttp's own header limits);
- at most HTTP_MAX_CONNECTIONS connections and tasks at once; beyond that uvicorn answers
  503 at once (limit_concurrency).
What is not: a slow request *body* (a 70 MB upload on a slow link is legitimate), and the
time a handler takes. Behind a reverse proxy, set its client body timeout as well.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.core.config import Settings, get_settings

MAX_HEADER_BYTES = 64 * 1024


class _HeaderDeadline:
    """A deadline for each request's header block, armed when the connection opens and after
    each response; when it passes while the connection is still waiting for a complete
    header block (no request in progress, pipelined ones included), the connection is
    closed. Mixed into uvicorn's protocols, which have no such timeout."""

    #: Seconds; None reads HTTP_HEADER_TIMEOUT (each `serve --workers` process reads it).
    header_timeout: float | None = None
    _header_deadline: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def _awaiting_headers(self) -> bool:
        raise NotImplementedError

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        if self.transport.is_closing():
            return
        seconds = self.header_timeout
        if seconds is None:
            seconds = get_settings().http_header_timeout
        self._header_deadline = self.loop.call_later(seconds, self._header_deadline_passed)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_deadline_passed(self) -> None:
        self._header_deadline = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()

    # The deadline is armed when a connection opens and after each response, and dropped with
    # the connection; each calls on to uvicorn's protocol (next in the MRO).

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)  # type: ignore[misc]


class HeaderTimeoutH11(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline."""

    def _awaiting_headers(self) -> bool:
        # h11 stays IDLE until it holds a complete header block for the next request.
        return self.conn.their_state is h11.IDLE


def _httptools_protocol() -> type[Any] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class HeaderTimeoutHttpTools(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol (the faster parser, used when installed) with the
        header deadline."""

        def _awaiting_headers(self) -> bool:
            # A complete header block makes a new cycle (even when it is queued behind a
            # running one), so a finished or absent cycle means none is complete yet.
            return self.cycle is None or self.cycle.response_complete

    return HeaderTimeoutHttpTools


#: The protocol `serve` uses: httptools when installed (uvicorn's own default), else h11.
HeaderTimeoutHttpTools = _httptools_protocol()
PROTOCOL: type[Any] = HeaderTimeoutHttpTools or HeaderTimeoutH11


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments `serve` gives uvicorn.run (see the module docstring)."""
    return {
        "http": "app.api.server:PROTOCOL",  # a string: `--workers` processes import it
        "timeout_keep_alive": settings.http_keep_alive,
        "limit_concurrency": settings.http_max_connections or None,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # uvicorn configures no logging of its own: its loggers reach the root's JSON handler
        # (app.core.logging), so every line a process writes is one JSON object.
        "log_config": None,
    }
