"""Connector to the national document-interchange axis (VPCP) and its mock (SPEC section 7).

Import the hub-facing pieces from here; ``app.connectors.vpcp.mock`` (which needs FastAPI and
uvicorn) is imported only by whoever runs the mock.
"""

from app.connectors.vpcp.auth import (
    AuthenticatedRequest,
    AxisAuthError,
    authenticate,
    build_headers,
    verify_headers,
)
from app.connectors.vpcp.client import (
    AxisConnector,
    HttpAxisConnector,
    InMemoryAxis,
    InMemoryAxisConnector,
)
from app.connectors.vpcp.protocol import (
    AckStatus,
    Agency,
    AxisError,
    MessageType,
    ReceivedItem,
)
from app.connectors.vpcp.state import FaultConfig, SignatureVerifier, SystemConfig, load_systems

__all__ = [
    "AckStatus",
    "Agency",
    "AuthenticatedRequest",
    "AxisAuthError",
    "AxisConnector",
    "AxisError",
    "FaultConfig",
    "HttpAxisConnector",
    "InMemoryAxis",
    "InMemoryAxisConnector",
    "MessageType",
    "ReceivedItem",
    "SignatureVerifier",
    "SystemConfig",
    "authenticate",
    "build_headers",
    "load_systems",
    "verify_headers",
]
