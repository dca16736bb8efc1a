"""URLs written in certificates cannot aim the hub at its own network (SSRF, SPEC 5.1).

- Without REVOCATION_ALLOW_PRIVATE every fetch (first hop and each redirect) refuses a host
  that is, or resolves to, a loopback, private, link-local, unique-local, multicast,
  unspecified or reserved address, before any request: the loopback server below records every
  hit and gets none. A refused fetch is no answer (TRY_LATER), counted in /metrics.
- Revocation data is fetched only for certificates chained by verified signatures of CA
  certificates to a configured anchor: a certificate outside any anchor, or one "issued" by an
  end-entity key, makes the hub fetch nothing it names; caIssuers fetches are bounded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from ipaddress import ip_address
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from app.core import addresses
from app.core.config import Settings
from app.revocation.fetch import AddressRefused, Fetched, Fetcher, FetchError, Request
from app.revocation.service import MAX_CA_FETCHES
from app.signing.xmldsig import Signer
from tests.conftest import World
from tests.outside_pki import RevocationServer, Served
from tests.revocation.conftest import Outside, submit

TIMEOUT = 5.0
PUBLIC = "93.184.216.34"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The hub as deployed: private addresses refused (the outside CA's server is on loopback,
    so every fetch from it is refused unless a test allows it)."""
    settings.revocation_allow_private = False
    return settings


@pytest.fixture
def server(revocation_server: RevocationServer) -> RevocationServer:
    """The loopback server with one route, `/hit`, and no hits yet."""
    with revocation_server.lock:
        revocation_server.routes.clear()
        revocation_server.routes["/hit"] = lambda _: Served(b"internal secret")
    revocation_server.reset_counts()
    return revocation_server


def _port(server: RevocationServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _private_urls(server: RevocationServer) -> list[str]:
    port = _port(server)
    return [
        f"{server.url}/hit",
        f"http://localhost:{port}/hit",  # a name that resolves to loopback
        f"http://[::1]:{port}/hit",
        f"http://[::ffff:127.0.0.1]:{port}/hit",
        f"http://0.0.0.0:{port}/hit",
        "http://10.1.2.3/sub.crl",
        "http://192.168.1.1/sub.crl",
        "http://100.64.0.1/sub.crl",  # shared address space (CGNAT)
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00::1]/sub.crl",  # unique-local
        "http://[fe80::1]/sub.crl",
        "http://224.0.0.1/sub.crl",
        "http://240.0.0.1/sub.crl",  # reserved
    ]


def _fetch(fetcher: Fetcher, url: str) -> Fetched:
    return fetcher.fetch_all([Request("crl", url)])[0]


# -- the fetcher ---------------------------------------------------------------------------


def test_private_and_reserved_addresses_are_refused_before_any_request(
    server: RevocationServer,
) -> None:
    fetcher = Fetcher(TIMEOUT)
    for url in _private_urls(server):
        done = _fetch(fetcher, url)
        assert done.refused and done.der is None, url
        assert done.error is not None and "refused" in done.error and url in done.error
    assert server.fetches() == 0


def test_the_setting_allows_them(server: RevocationServer) -> None:
    assert _fetch(Fetcher(TIMEOUT, allow_private=True), f"{server.url}/hit").der == (
        b"internal secret"
    )
    allowed = Fetcher(TIMEOUT, allowed_hosts=["127.0.0.1"])
    assert _fetch(allowed, f"{server.url}/hit").der == b"internal secret"
    assert _fetch(allowed, f"http://localhost:{_port(server)}/hit").refused
    assert server.hits["/hit"] == 2


@pytest.mark.parametrize("target", ["localhost", "[::1]", "169.254.169.254", "10.0.0.1"])
def test_a_redirect_to_a_private_address_is_refused(server: RevocationServer, target: str) -> None:
    """The first hop is allowed (REVOCATION_ALLOWED_HOSTS); the redirect is checked again."""
    location = f"http://{target}:{_port(server)}/hit"
    server.routes["/r"] = lambda _: Served(status=302, headers={"Location": location})
    done = _fetch(Fetcher(TIMEOUT, allowed_hosts=["127.0.0.1"]), f"{server.url}/r")
    assert done.refused and done.error is not None and location in done.error
    assert server.hits["/r"] == 1 and server.hits["/hit"] == 0


def test_a_name_is_pinned_to_the_address_that_was_checked(monkeypatch: Any) -> None:
    """DNS rebinding: the connection goes to the address checked, not to a second lookup."""
    monkeypatch.setattr(addresses, "resolve", lambda host, port: [ip_address(PUBLIC)])
    fetcher = Fetcher(TIMEOUT)
    url, headers, extensions = asyncio.run(fetcher._route("http://crl.example/sub.crl"))
    assert (url, headers, extensions) == (f"http://{PUBLIC}/sub.crl", {"Host": "crl.example"}, {})
    url, headers, extensions = asyncio.run(fetcher._route("https://ocsp.example:8443/q"))
    assert url == f"https://{PUBLIC}:8443/q"
    assert headers == {"Host": "ocsp.example:8443"}
    assert extensions == {"sni_hostname": "ocsp.example"}  # the certificate is checked for it


def test_a_name_with_any_private_address_is_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(
        addresses, "resolve", lambda host, port: [ip_address(PUBLIC), ip_address("127.0.0.1")]
    )
    with pytest.raises(AddressRefused, match="resolves to the private or reserved address"):
        asyncio.run(Fetcher(TIMEOUT)._route("http://crl.example/sub.crl"))


def test_a_name_that_does_not_resolve_is_no_answer(monkeypatch: Any) -> None:
    def fail(host: str, port: int) -> list[Any]:
        raise OSError("no such host")

    monkeypatch.setattr(addresses, "resolve", fail)
    done = _fetch(Fetcher(TIMEOUT), "http://crl.example/sub.crl")
    assert not done.refused and done.error is not None and "does not resolve" in done.error
    with pytest.raises(FetchError, match="does not resolve"):
        Fetcher(TIMEOUT).fetch(Request("crl", "http://crl.example/sub.crl"))


def test_a_resolver_that_never_answers_is_left_at_the_deadline(monkeypatch: Any) -> None:
    """Names are resolved on threads of their own: the fetch ends at its deadline, not when
    the lookup does (this test would hang otherwise)."""
    release = threading.Event()

    def stuck(host: str, port: int) -> list[Any]:
        release.wait()
        raise OSError("released")

    monkeypatch.setattr(addresses, "resolve", stuck)
    try:
        done = _fetch(Fetcher(0.5), "http://crl.example/sub.crl")
    finally:
        release.set()
    assert done.error is not None and "no answer within 0.5 s" in done.error


# -- the hub: private URLs in a chained certificate -----------------------------------------


def _metric(client: Any, kind: str, reason: str) -> float:
    text = client.get("/metrics").text
    name = f'lienthong_revocation_fetch_failures_total{{kind="{kind}",reason="{reason}"}}'
    match = re.search(re.escape(name) + r" ([0-9.e+-]+)", text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize(
    "target",
    ["{server}", "http://localhost:{port}", "http://[::1]:{port}", "http://10.0.0.7"],
)
def test_a_chained_certificate_naming_private_urls_is_try_later(
    target: str, client: Any, world: World, outside: Outside
) -> None:
    base = target.format(server=outside.server.url, port=_port(outside.server))
    leaf = outside.pki.leaf(World.OWN, ocsp_url=f"{base}/ocsp", crl_url=f"{base}/sub.crl")
    before = _metric(client, "ocsp", "refused")
    r = submit(client, world, outside.pki.signer(leaf))
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "signature.try_later"
    assert outside.server.fetches() == 0
    assert _metric(client, "ocsp", "refused") == before + 1


def test_a_private_caissuers_url_is_not_fetched(
    client: Any, world: World, outside: Outside
) -> None:
    leaf = outside.pki.leaf(World.OWN, ca_issuers="http://169.254.169.254/sub.cer")
    r = submit(client, world, outside.pki.signer(leaf, with_intermediate=False))
    assert r.status_code == 422, r.text
    assert outside.server.fetches() == 0


# -- the hub: only chained certificates get revocation fetches ------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    issuer_name: x509.Name,
    issuer_key: Any,
    key: Any,
    *,
    ca: bool,
    urls: str,
    ca_issuers: tuple[str, ...] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    aia = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{urls}/ocsp")
        ),
        *(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
            )
            for u in ca_issuers
        ),
    ]
    cdp = x509.DistributionPoint(
        [x509.UniformResourceIdentifier(f"{urls}/sub.crl")], None, None, None
    )
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.AuthorityInformationAccess(aia), critical=False)
        .add_extension(x509.CRLDistributionPoints([cdp]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture
def allow_private(settings: Settings) -> Settings:
    """Private addresses allowed: only the chaining rule stands between a KeyInfo and a fetch."""
    settings.revocation_allow_private = True
    return settings


def test_a_certificate_under_no_anchor_triggers_no_fetch(
    allow_private: Settings, client: Any, world: World, outside: Outside
) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(
        "Stranger CA", _name("Stranger CA"), ca_key, ca_key, ca=True, urls=outside.server.url
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("Stranger", ca.subject, ca_key, key, ca=False, urls=outside.server.url)
    r = submit(client, world, Signer(key, leaf, [ca]))
    assert r.status_code == 422, r.text
    assert outside.server.fetches() == 0


def test_an_end_entity_key_cannot_vouch_for_a_certificate(
    allow_private: Settings, client: Any, world: World, outside: Outside
) -> None:
    """A holder of a good certificate "issues" one with its own key, naming other URLs: its
    own certificate's status may be asked, never the URLs of the one it made."""
    pki = outside.pki
    holder = pki.leaf(World.OWN)
    key = ec.generate_private_key(ec.SECP256R1())
    forged = _cert(
        "Forged", holder.subject, pki.leaf_key, key, ca=False, urls=f"{outside.server.url}/evil"
    )
    r = submit(client, world, Signer(key, forged, [holder, pki.sub.cert]))
    assert r.status_code == 422, r.text
    assert outside.server.hits["/evil/ocsp"] == 0 and outside.server.hits["/evil/sub.crl"] == 0


def test_caissuers_fetches_are_bounded(
    allow_private: Settings, client: Any, world: World, outside: Outside
) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    urls = tuple(f"{outside.server.url}/ca{i}.cer" for i in range(6))
    leaf = _cert(
        "Stranger",
        _name("Nobody's CA"),
        ca_key,
        key,
        ca=False,
        urls=outside.server.url,
        ca_issuers=urls,
    )
    r = submit(client, world, Signer(key, leaf, []))
    assert r.status_code == 422, r.text
    assert outside.server.fetches() == MAX_CA_FETCHES
    assert outside.server.hits["/ocsp"] == 0 and outside.server.hits["/sub.crl"] == 0
