"""Signature checks for a standalone mock axis: trust what a hub publishes at /pki/*."""

from __future__ import annotations

import threading
import time

import httpx

from app.signing import TrustStore, validate_bytes
from app.signing.pki import load_pem_certificates


class HubTrustVerifier:
    """Fetches the hub's CA bundle and CRLs (refreshed every minute) and validates with them."""

    def __init__(self, hub_url: str, refresh_seconds: float = 60.0) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._store: TrustStore | None = None
        self._fetched = 0.0

    def _trust(self) -> TrustStore:
        with self._lock:
            if self._store is None or time.monotonic() - self._fetched > self.refresh_seconds:
                bundle = httpx.get(f"{self.hub_url}/pki/ca", timeout=10).content
                crls = [
                    httpx.get(f"{self.hub_url}/pki/crl", timeout=10).content,
                    httpx.get(f"{self.hub_url}/pki/crl/root", timeout=10).content,
                ]
                certs = load_pem_certificates(bundle)
                roots = [c for c in certs if c.subject == c.issuer]
                others = [c for c in certs if c.subject != c.issuer]
                self._store = TrustStore(anchors=roots, intermediates=others, crls=crls)
                self._fetched = time.monotonic()
            return self._store

    def __call__(self, data: bytes, sender: str) -> bool:
        return validate_bytes(data, expected_organ_id=sender, trust=self._trust()).passed
