"""Fetching revocation data and certificates from the URLs a certificate names (SPEC 5.1).

The limits are the point of this module: http and https only; at most `MAX_REDIRECTS`
redirects, each to the scheme the request started with; one deadline (FETCH_TIMEOUT) for a
whole fetch, redirects and body included, so a server that trickles bytes cannot hold us past
it; bodies are streamed and reading stops one byte past the cap of their kind. Several fetches
run concurrently on one private event loop (`fetch_all`), so a path of three certificates costs
one deadline, not three.

The URLs come from certificates, which anyone can write: every hop (the first request and each
redirect) is resolved and refused when its host is, or resolves to, a loopback, private,
link-local, unique-local, multicast, unspecified or reserved address (`app.core.addresses`),
unless REVOCATION_ALLOW_PRIVATE or the host is in REVOCATION_ALLOWED_HOSTS; the request then
connects to the address that was checked, so DNS rebinding cannot aim it inward.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

import certifi
import httpx

from app.core import addresses

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


class AddressRefused(FetchError):
    """The URL's host is, or resolves to, an address the hub does not fetch from."""


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
    refused: bool = False
    """No request was sent: the address was refused (`AddressRefused`)."""

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
    """Fetches within the limits; `timeout` is FETCH_TIMEOUT (seconds, whole fetch);
    `allow_private` is REVOCATION_ALLOW_PRIVATE, `allowed_hosts` REVOCATION_ALLOWED_HOSTS (hosts,
    as written in URLs, that may be on private addresses)."""

    def __init__(
        self,
        timeout: float = 5.0,
        *,
        verify_tls: bool = True,
        allow_private: bool = False,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(h.strip().strip("[]").lower() for h in allowed_hosts)

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
        except AddressRefused as exc:
            return Fetched(request, None, str(exc), _since(started), refused=True)
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
            target, host, extensions = await self._route(url)
            headers = {"Accept": _ACCEPT[request.kind], "Accept-Encoding": "identity"} | host
            if request.body is not None:
                headers["Content-Type"] = "application/ocsp-request"
            req = client.build_request(
                "GET" if request.body is None else "POST",
                target,
                content=request.body,
                headers=headers,
                extensions=extensions,
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

    async def _route(self, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """Where one hop connects: the URL itself when private addresses are allowed (or its
        host is), else the URL pinned to an address checked now (AddressRefused if any address
        the host has is private: a name that resolves both ways is not trusted either)."""
        parsed = httpx.URL(url)
        host = parsed.host.lower()
        if self.allow_private or host in self.allowed_hosts:
            return url, {}, {}
        address = addresses.literal(host)
        if address is None:
            loop = asyncio.get_running_loop()
            try:
                found = await loop.run_in_executor(
                    _resolver(), addresses.resolve, host, addresses.port_of(parsed)
                )
            except OSError as exc:
                raise FetchError(f"{url}: the host does not resolve ({exc})") from exc
            if not found:
                raise FetchError(f"{url}: the host does not resolve")
            refused = [a for a in found if addresses.is_private(a)]
            if refused:
                raise AddressRefused(
                    f"{url}: refused, the host resolves to the private or reserved address "
                    f"{refused[0]} (REVOCATION_ALLOW_PRIVATE, REVOCATION_ALLOWED_HOSTS)"
                )
            address = found[0]
        elif addresses.is_private(address):
            raise AddressRefused(
                f"{url}: refused, {address} is a private or reserved address "
                "(REVOCATION_ALLOW_PRIVATE, REVOCATION_ALLOWED_HOSTS)"
            )
        return addresses.pin(parsed, address)


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
_RESOLVER: concurrent.futures.ThreadPoolExecutor | None = None


def _resolver() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that resolve hosts: not the event loop's default executor, which
    `asyncio.run` waits for at the end, so a DNS server that never answers cannot hold a fetch
    past its deadline."""
    global _RESOLVER
    with _SSL_LOCK:
        if _RESOLVER is None:
            _RESOLVER = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="lienthong-resolve"
            )
        return _RESOLVER


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
