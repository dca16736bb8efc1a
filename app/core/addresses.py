"""Which network addresses the hub may send a request to, when the URL came from outside.

Two callers take URLs they do not control: push webhooks (an admin-set URL,
WEBHOOK_ALLOW_PRIVATE) and revocation fetching (URLs written in certificates,
REVOCATION_ALLOW_PRIVATE). Without a check either turns the hub into a probe of its own network
(`http://127.0.0.1:5432/`, `http://169.254.169.254/`). The check resolves the host once and the
request then connects to the address that was checked (`pin`: Host header and TLS server name
kept), so a DNS answer that changes between check and connection (DNS rebinding) cannot aim it
inward.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import httpx

IPAddress = IPv4Address | IPv6Address


def is_private(address: IPAddress) -> bool:
    """Loopback, link-local, private, unique-local, shared (CGNAT), reserved, multicast or
    unspecified: anything not globally routable."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def literal(host: str) -> IPAddress | None:
    """The address a URL's host spells, or None for a name."""
    try:
        return ip_address(host.strip("[]"))
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


def port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def pin(url: httpx.URL, address: IPAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request to `url` sent to `address`: the URL to connect to, the headers to add (Host)
    and the httpx extensions (the TLS server name, which the certificate is verified against)."""
    target = url.copy_with(host=str(address))
    headers = {"Host": url.netloc.decode("ascii")}
    extensions: dict[str, Any] = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return str(target), headers, extensions
