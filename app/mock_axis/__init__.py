"""The mock national axis (SPEC section 7): its ASGI app, an in-memory fake, and the demo.

Only the command line, the demo and tests import this package; production code reaches the
axis through ``app.connectors.vpcp`` (a contract in pyproject.toml keeps it so).
"""

from app.mock_axis.memory import InMemoryAxis, InMemoryAxisConnector
from app.mock_axis.state import FaultConfig, SignatureVerifier, SystemConfig, load_systems

__all__ = [
    "FaultConfig",
    "InMemoryAxis",
    "InMemoryAxisConnector",
    "SignatureVerifier",
    "SystemConfig",
    "load_systems",
]
