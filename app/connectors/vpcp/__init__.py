"""Connector to the national document-interchange axis (VPCP) (SPEC section 7).

Import the hub-facing pieces from here. The mock axis, its in-memory fake and its demo live in
``app.mock_axis``, which production code never imports.
"""

from app.connectors.vpcp.auth import (
    AuthenticatedRequest,
    AxisAuthError,
    authenticate,
    build_headers,
    verify_headers,
)
from app.connectors.vpcp.client import AxisConnector, HttpAxisConnector
from app.connectors.vpcp.protocol import (
    AckStatus,
    Agency,
    AxisError,
    Clock,
    MessageType,
    ReceivedItem,
)

__all__ = [
    "AckStatus",
    "Agency",
    "AuthenticatedRequest",
    "AxisAuthError",
    "AxisConnector",
    "AxisError",
    "Clock",
    "HttpAxisConnector",
    "MessageType",
    "ReceivedItem",
    "authenticate",
    "build_headers",
    "verify_headers",
]
