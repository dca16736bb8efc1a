"""Push delivery with Standard Webhooks headers (webhook-id, -timestamp, -signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, as the Standard Webhooks spec says."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/xml",
    }


def verify(secret: str, received: dict[str, str], body: bytes, *, tolerance: int = 300) -> bool:
    """What a receiving QLVB system does (used by tests and documented for integrators)."""
    try:
        ts = int(received["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = sign(secret, received.get("webhook-id", ""), ts, body).split(",", 1)[1]
    return any(
        hmac.compare_digest(expected, sig.split(",", 1)[1])
        for sig in received.get("webhook-signature", "").split()
        if sig.startswith("v1,")
    )
