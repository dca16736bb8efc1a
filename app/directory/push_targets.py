"""Where push webhooks may go: public addresses only, unless WEBHOOK_ALLOW_PRIVATE.

Without this an admin-set push URL (or a compromised admin key) turns the worker into a probe
of the hub's own network: `http://127.0.0.1:5432/`, `http://169.254.169.254/` (cloud
metadata), and `last_error` reports what answered. The URL is checked when it is registered,
and again at every send on the addresses resolved at that moment; the request then connects
to the checked address itself (Host header and TLS server name kept), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import httpx

from app.core.errors import HubError

IPAddress = IPv4Address | IPv6Address


class PushTargetRefused(HubError):
    status, code, title = 422, "organization.push_url_refused", "Push URL refused"


class PushTargetUnresolved(Exception):
    """The push URL's host does not resolve now (retry later)."""


def is_private(address: IPAddress) -> bool:
    """Loopback, link-local, private, shared (CGNAT), reserved, multicast or unspecified."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to now (OSError when it does not)."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


_REFUSED = (
    "the push URL {what} a loopback, link-local or private address; "
    "set WEBHOOK_ALLOW_PRIVATE only if such receivers are intended"
)


def check_push_url(url: str, *, allow_private: bool) -> None:
    """At registration: refuse a URL whose host is, or now resolves to, a private address.

    A host that does not resolve yet is accepted: it is checked again at every send.
    """
    if allow_private:
        return
    parsed = httpx.URL(url)
    literal = _literal(parsed.host)
    if literal is not None:
        if is_private(literal):
            raise PushTargetRefused(_REFUSED.format(what="points to"))
        return
    try:
        addresses = resolve(parsed.host, _port(parsed))
    except OSError:
        return
    if any(is_private(a) for a in addresses):
        raise PushTargetRefused(_REFUSED.format(what="resolves to"))


def pinned(url: str, *, allow_private: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
    """At send time: the URL to connect to, extra headers and httpx extensions.

    The host is replaced by an address checked now; `Host` and the TLS server name (which the
    certificate is verified against) stay the original host's. With WEBHOOK_ALLOW_PRIVATE the
    URL is used as it is.
    """
    if allow_private:
        return url, {}, {}
    parsed = httpx.URL(url)
    literal = _literal(parsed.host)
    if literal is not None:
        if is_private(literal):
            raise PushTargetRefused(_REFUSED.format(what="points to"))
        return url, {}, {}
    try:
        addresses = resolve(parsed.host, _port(parsed))
    except OSError as exc:
        raise PushTargetUnresolved("the push URL's host does not resolve") from exc
    if not addresses or any(is_private(a) for a in addresses):
        raise PushTargetRefused(_REFUSED.format(what="resolves to"))
    target = parsed.copy_with(host=str(addresses[0]))
    headers = {"Host": parsed.netloc.decode("ascii")}
    extensions: dict[str, Any] = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return str(target), headers, extensions


def describe_failure(exc: httpx.HTTPError) -> str:
    """What `last_error` says about a failed push: the kind of failure, never the library's
    message (which would tell a port scanner which services answer inside the network)."""
    if isinstance(exc, httpx.TimeoutException):
        return "webhook not reachable: timed out"
    if isinstance(exc, httpx.ConnectError):
        return "webhook not reachable: connection refused or failed"
    return "webhook not reachable: the request failed"
