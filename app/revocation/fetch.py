"""Fetching revocation data and certificates from the URLs a certificate names (SPEC 5.1).

The limits are the point of this module: http and https only; at most `MAX_REDIRECTS`
redirects, each to the scheme the request started with; one deadline (FETCH_TIMEOUT) for a
whole fetch, redirects and body included, so a server that trickles bytes cannot hold us past
it; bodies are streamed and reading stops one byte past the cap of their kind. Several fetches
run concurrently on one private event loop (`fetch_all`), so a path of three certificates costs
one deadline, not three.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

import certifi
import httpx

Kind = Literal["crl", "ocsp", "cert"]

MAX_REDIRECTS = 3
CAPS: dict[Kind, int] = {
    "crl": 10 * 1024 * 1024,
    "ocsp": 64 * 1024,
    "cert": 1024 * 1024,  # a caIssuers certificate or PKCS#7 bundle (not named by the SPEC)
}
"""The most bytes read for an answer of each kind (SPEC 5.1: 10 MiB per CRL, 64 KiB per OCSP
answer)."""
_SCHEMES = frozenset({"http", "https"})
_ACCEPT: dict[Kind, str] = {
    "crl": "application/pkix-crl, application/octet-stream",
    "ocsp": "application/ocsp-response",
    "cert": "application/pkix-cert, application/pkcs7-mime, application/octet-stream",
}


class FetchError(Exception):
    """A fetch that gave no usable bytes; the message says why (for logs and reports)."""


@dataclass(frozen=True, slots=True)
class Request:
    kind: Kind
    url: str
    body: bytes | None = None
    """An OCSP request (DER), POSTed; None means GET."""


@dataclass(frozen=True, slots=True)
class Fetched:
    request: Request
    der: bytes | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.der is not None


def check_url(url: str) -> None:
    """Raise FetchError unless `url` is an absolute http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES:
        raise FetchError(f"{url!r}: only http and https URLs are fetched")
    if not parts.hostname:
        raise FetchError(f"{url!r}: no host")


class Fetcher:
    """Fetches within the limits; `timeout` is FETCH_TIMEOUT (seconds, whole fetch)."""

    def __init__(self, timeout: float = 5.0, *, verify_tls: bool = True) -> None:
        self.timeout = timeout
        self.verify_tls = verify_tls

    def fetch_all(self, requests: Sequence[Request]) -> list[Fetched]:
        """Fetch concurrently; each answer within its own deadline, in the order asked."""
        if not requests:
            return []
        return _run(self._fetch_all(requests))

    def fetch(self, request: Request) -> bytes:
        """One fetch; raises FetchError."""
        done = self.fetch_all([request])[0]
        if done.der is None:
            raise FetchError(done.error or "failed")
        return done.der

    async def _fetch_all(self, requests: Sequence[Request]) -> list[Fetched]:
        timeout = httpx.Timeout(self.timeout)
        verify: ssl.SSLContext | bool = _ssl_context() if self.verify_tls else False
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, verify=verify, trust_env=False
        ) as client:
            return list(await asyncio.gather(*(self._one(client, r) for r in requests)))

    async def _one(self, client: httpx.AsyncClient, request: Request) -> Fetched:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                der = await self._follow(client, request)
        except TimeoutError:
            return Fetched(
                request,
                None,
                f"{request.url}: no answer within {self.timeout:g} s",
                _since(started),
            )
        except FetchError as exc:
            return Fetched(request, None, str(exc), _since(started))
        except httpx.HTTPError as exc:
            return Fetched(
                request, None, f"{request.url}: {type(exc).__name__}: {exc}", _since(started)
            )
        return Fetched(request, der, None, _since(started))

    async def _follow(self, client: httpx.AsyncClient, request: Request) -> bytes:
        url = request.url
        check_url(url)
        scheme = urlsplit(url).scheme.lower()
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept": _ACCEPT[request.kind], "Accept-Encoding": "identity"}
            if request.body is not None:
                headers["Content-Type"] = "application/ocsp-request"
            req = client.build_request(
                "GET" if request.body is None else "POST",
                url,
                content=request.body,
                headers=headers,
            )
            response = await client.send(req, stream=True)
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    target = urljoin(url, location)
                    check_url(target)
                    if urlsplit(target).scheme.lower() != scheme:
                        raise FetchError(f"{url}: redirect to another scheme ({target!r}) refused")
                    url = target
                    continue
                if response.status_code != 200:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                return await _read_capped(response, CAPS[request.kind], url)
            finally:
                await response.aclose()
        raise FetchError(f"{request.url}: more than {MAX_REDIRECTS} redirects")


async def _read_capped(response: httpx.Response, cap: int, url: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise FetchError(f"{url}: {declared} bytes announced, more than the cap of {cap}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded: a compressed bomb meets the cap too
        size += len(chunk)
        if size > cap:
            raise FetchError(f"{url}: more than the cap of {cap} bytes; reading stopped")
        chunks.append(chunk)
    return b"".join(chunks)


def _since(started: float) -> float:
    return time.monotonic() - started


_SSL: ssl.SSLContext | None = None
_SSL_LOCK = threading.Lock()


def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process (building one costs ~60 ms: the CA bundle is parsed)."""
    global _SSL
    with _SSL_LOCK:
        if _SSL is None:
            _SSL = ssl.create_default_context(cafile=certifi.where())
        return _SSL


_T = TypeVar("_T")
_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run on a private event loop, also when the caller's thread runs one already."""
    global _EXECUTOR
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    if _EXECUTOR is None:
        _EXECUTOR = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="lienthong-revocation"
        )
    return _EXECUTOR.submit(asyncio.run, coro).result()
