"""The TSA client (SPEC 5.2): a timestamp token over each signature the hub makes or accepts.

Without TSA_URL the hub's own TSA answers in process (no HTTP to ourselves: one ECDSA
signature, well under a millisecond), so the request path gets its token at once. With
TSA_URL the request path never waits on the network: the document is stored with its
timestamp pending and the worker fetches the token (`app.documents.timestamps`), over httpx
with FETCH_TIMEOUT and the response capped at `MAX_RESPONSE_BYTES`, and verifies it in full
before it is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.keys.caches import SigningUnavailable
from app.keys.custody import KeyCustody
from app.signing.report import TimestampToken
from app.signing.timestamps import (
    MAX_RESPONSE_BYTES,
    TimestampError,
    build_request,
    parse_response,
    token_certificates,
    verify_token,
)
from app.signing.trust import TrustStore

TrustFor = Callable[[Sequence[bytes]], TrustStore]
"""The trust store to verify a token with, given the certificates it carries (the caller adds
revocation data from the network for a TSA under an outside CA, `app.revocation`)."""


class TimestampUnavailable(Exception):
    """No token now (the TSA did not answer, or answered something unusable); try later."""


class TimestampClient:
    """Gets tokens from the configured TSA; one per process (the hub holds it)."""

    def __init__(self, custody: KeyCustody, url: str | None, timeout: float) -> None:
        self._custody = custody
        self.url = url
        self._timeout = timeout

    @classmethod
    def from_settings(cls, custody: KeyCustody, settings: Settings) -> TimestampClient:
        return cls(custody, settings.tsa_url, settings.fetch_timeout)

    @property
    def in_process(self) -> bool:
        """True when the hub's own TSA answers (TSA_URL unset): cheap enough for a request."""
        return self.url is None

    @property
    def name(self) -> str:
        return self.url or "in-process"

    def stamp(
        self, session: Session, imprint: bytes, *, trust_for: TrustFor | None = None
    ) -> TimestampToken:
        """A token over `imprint`, from the hub's TSA in process or from TSA_URL over HTTP
        (the latter only in the worker), verified with `trust_for` (default: the hub's own
        trust store). Raises TimestampUnavailable."""
        if self.url is None:
            try:
                return self._custody.timestamp_authority(session).stamp(imprint)
            except (SigningUnavailable, ValueError) as exc:  # no TSA yet: the worker retries
                raise TimestampUnavailable(str(exc)) from exc
        return self._fetch(session, self.url, imprint, trust_for)

    def query(self, session: Session, request: bytes) -> bytes:
        """One raw RFC 3161 exchange (DER TimeStampReq in, DER TimeStampResp out): the
        `Timestamper` that `sign_pdf=true` embeds in a PAdES signature (B-LT)."""
        if self.url is None:
            try:
                return self._custody.timestamp_authority(session).respond(request)
            except (SigningUnavailable, ValueError) as exc:
                raise TimestampUnavailable(str(exc)) from exc
        return self._post(self.url, request)

    def _post(self, url: str, request: bytes) -> bytes:
        try:
            with (
                httpx.Client(timeout=self._timeout, follow_redirects=False) as http,
                http.stream(
                    "POST",
                    url,
                    content=request,
                    headers={"Content-Type": "application/timestamp-query"},
                ) as response,
            ):
                if response.status_code != 200:
                    raise TimestampUnavailable(f"the TSA answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise TimestampUnavailable(
                            f"the TSA's answer exceeds {MAX_RESPONSE_BYTES} bytes"
                        )
        except httpx.HTTPError as exc:
            raise TimestampUnavailable(f"the TSA did not answer: {type(exc).__name__}") from exc
        return bytes(body)

    def _fetch(
        self, session: Session, url: str, imprint: bytes, trust_for: TrustFor | None
    ) -> TimestampToken:
        request, nonce = build_request(imprint)
        body = self._post(url, request)
        try:
            token_der = parse_response(body, imprint=imprint, nonce=nonce)
            trust = (
                trust_for(token_certificates(token_der))
                if trust_for is not None
                else self._custody.trust_store(session)
            )
            return verify_token(token_der, imprint, trust)
        except TimestampError as exc:
            raise TimestampUnavailable(f"{exc.code}: {exc}") from exc
