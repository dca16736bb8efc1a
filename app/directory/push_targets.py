"""Where push webhooks may go: public addresses only, unless WEBHOOK_ALLOW_PRIVATE.

Without this an admin-set push URL (or a compromised admin key) turns the worker into a probe
of the hub's own network: `http://127.0.0.1:5432/`, `http://169.254.169.254/` (cloud
metadata), and `last_error` reports what answered. The URL is checked when it is registered,
and again at every send on the addresses resolved at that moment; the request then connects
to the checked address itself (`app.core.addresses`, shared with revocation fetching), so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.core.addresses import is_private, literal, pin, port_of, resolve
from app.core.errors import HubError


class PushTargetRefused(HubError):
    status, code, title = 422, "organization.push_url_refused", "Push URL refused"


class PushTargetUnresolved(Exception):
    """The push URL's host does not resolve now (retry later)."""


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
    address = literal(parsed.host)
    if address is not None:
        if is_private(address):
            raise PushTargetRefused(_REFUSED.format(what="points to"))
        return
    try:
        addresses = resolve(parsed.host, port_of(parsed))
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
    address = literal(parsed.host)
    if address is not None:
        if is_private(address):
            raise PushTargetRefused(_REFUSED.format(what="points to"))
        return url, {}, {}
    try:
        addresses = resolve(parsed.host, port_of(parsed))
    except OSError as exc:
        raise PushTargetUnresolved("the push URL's host does not resolve") from exc
    if not addresses or any(is_private(a) for a in addresses):
        raise PushTargetRefused(_REFUSED.format(what="resolves to"))
    return pin(parsed, addresses[0])


def describe_failure(exc: httpx.HTTPError) -> str:
    """What `last_error` says about a failed push: the kind of failure, never the library's
    message (which would tell a port scanner which services answer inside the network)."""
    if isinstance(exc, httpx.TimeoutException):
        return "webhook not reachable: timed out"
    if isinstance(exc, httpx.ConnectError):
        return "webhook not reachable: connection refused or failed"
    return "webhook not reachable: the request failed"
