"""Checking a push delivery from the hub (Standard Webhooks, HMAC-SHA256).

The hub POSTs the signed edXML with `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the base64 part of the
organization's `whsec_…` secret). Verify before reading the body; answer 2xx only after the
document is stored; deduplicate on `webhook-id` (delivery is at least once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from lienthong_client.errors import LienthongError

SECRET_PREFIX = "whsec_"


class WebhookVerificationError(LienthongError):
    """The request did not come from the hub (or is too old to accept)."""


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value the hub sends for this message."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> str:
    """Check a push delivery; returns its `webhook-id` (the delivery id, for deduplication).

    `headers` may be any mapping (case-insensitive ones such as Starlette's or httpx's, or a
    plain dict with lower-case names). Raises WebhookVerificationError when the signature does
    not match or the timestamp is more than `tolerance` seconds away from `now`.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_ts = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not raw_ts or not signatures:
        raise WebhookVerificationError("webhook-id, webhook-timestamp and webhook-signature needed")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far from now (replayed?)")
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, value):
            return msg_id
    raise WebhookVerificationError("no webhook-signature matches")
