"""Shared vocabulary of the axis protocol: value types, error codes and the one error class.

Kept apart from the HTTP client and the mock so that both (and the in-memory fake) describe
results and failures identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

MessageType = Literal["edoc", "status"]
AckStatus = Literal["done", "fail", "processing"]
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageType)
ACK_STATUSES: tuple[str, ...] = get_args(AckStatus)
SERVICE_TYPE = "eDoc"
# Status of a received item that its recipient has not acknowledged at all yet.
STATUS_INITIAL = "initial"

Clock = Callable[[], datetime]
"""What the client signs its headers with and the axis checks skew against (tests fix it)."""

OPERATIONS = ("sendEdoc", "getReceivedEdocList", "getEdoc", "updateStatus", "getAgenciesList")

# ``ErrorCode`` values the mock answers with. They mirror HTTP status codes so that a log line
# is self-explanatory; the real axis may use other codes (see TRANSIENT_ERROR_CODES).
ERROR_OK = "0"
ERROR_BAD_REQUEST = "400"  # a parameter is missing or malformed, or the body fails hash-file
ERROR_AUTH = "401"  # authentication failed (always HTTP 401)
ERROR_FORBIDDEN = "403"  # `from` is not an organ served by the calling system
ERROR_UNKNOWN_DOC = "404"  # no such docId for this system
ERROR_CONFLICT = "409"  # the item is already done
ERROR_UNKNOWN_RECIPIENT = "422"  # a code in `to` is served by no system
ERROR_UNAVAILABLE = "503"  # temporary failure: try again later

# A FAIL answer is worth retrying only when its ErrorCode says the failure was temporary; any
# other FAIL is a business refusal that will be answered the same way next time.
TRANSIENT_ERROR_CODES = frozenset({"429", "500", "502", "503", "504"})


class AxisError(Exception):
    """An axis operation did not succeed.

    ``retryable`` tells the delivery worker whether the same request may succeed later
    (network trouble, timeouts, 5xx, 429, temporary FAIL) or never will (401, unknown recipient,
    malformed request). ``error_code`` is the answer's ErrorCode when there was one.
    """

    def __init__(
        self,
        message: str,
        retryable: bool,
        *,
        error_code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.error_code = error_code
        self.http_status = http_status

    def __repr__(self) -> str:
        return (
            f"AxisError({self.message!r}, retryable={self.retryable}, "
            f"error_code={self.error_code!r}, http_status={self.http_status!r})"
        )


@dataclass(frozen=True)
class ReceivedItem:
    """One entry of ``getReceivedEdocList``: something waiting for this system.

    ``created_time`` is kept as the axis wrote it (the mock: ISO 8601 with +07:00) because the
    real axis's format is not documented; ``doc_id`` is what identifies the item.
    """

    doc_id: str
    from_organ: str
    to: tuple[str, ...]
    message_type: MessageType
    status: str
    created_time: str


@dataclass(frozen=True)
class Agency:
    """One organization the axis knows, and the connected system that serves it."""

    code: str
    name: str
    systemid: str
