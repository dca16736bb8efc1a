"""The limits of fetching (SPEC 5.1), against the loopback server: schemes, redirects, caps,
deadline. Each refusal is a FetchError naming the reason; nothing waits past FETCH_TIMEOUT."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.revocation.fetch import CAPS, Fetcher, FetchError, Request
from app.signing.report import RevocationEvidence
from tests.outside_pki import RevocationServer, Served

TIMEOUT = 5.0
"""Generous where the deadline is not the point (the machine may be busy)."""
SHORT = 0.5


@pytest.fixture
def server(revocation_server: RevocationServer) -> RevocationServer:
    with revocation_server.lock:
        revocation_server.routes.clear()
    revocation_server.reset_counts()
    return revocation_server


def _redirect(target: str) -> Callable[[bytes], Served]:
    return lambda _: Served(status=302, headers={"Location": target})


def redirect_chain(server: RevocationServer, hops: int) -> str:
    server.routes["/final"] = lambda _: Served(b"the answer")
    for i in range(hops):
        target = "/final" if i == hops - 1 else f"/hop{i + 1}"
        server.routes[f"/hop{i}"] = _redirect(target)
    return f"{server.url}/hop0"


def test_up_to_three_redirects_are_followed(server: RevocationServer) -> None:
    url = redirect_chain(server, 3)
    assert Fetcher(TIMEOUT, allow_private=True).fetch(Request("crl", url)) == b"the answer"


def test_a_fourth_redirect_is_refused(server: RevocationServer) -> None:
    url = redirect_chain(server, 4)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        Fetcher(TIMEOUT, allow_private=True).fetch(Request("crl", url))
    assert server.hits["/final"] == 0


@pytest.mark.parametrize("target", ["https://127.0.0.1/x.crl", "file:///etc/passwd", "ftp://h/x"])
def test_a_redirect_to_another_scheme_is_refused(server: RevocationServer, target: str) -> None:
    server.routes["/r"] = lambda _: Served(status=301, headers={"Location": target})
    with pytest.raises(FetchError, match=r"scheme|only http and https"):
        Fetcher(TIMEOUT, allow_private=True).fetch(Request("crl", f"{server.url}/r"))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x.crl", "ldap://h/cn=x", "http:///nohost"]
)
def test_only_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchError, match=r"only http and https|no host"):
        Fetcher(TIMEOUT, allow_private=True).fetch(Request("crl", url))


def test_an_ocsp_answer_over_64_kib_is_refused_while_streaming(server: RevocationServer) -> None:
    server.routes["/ocsp"] = lambda _: Served(iter([b"\0" * 1024] * 100))  # no Content-Length
    with pytest.raises(FetchError, match=f"more than the cap of {CAPS['ocsp']} bytes"):
        Fetcher(TIMEOUT, allow_private=True).fetch(
            Request("ocsp", f"{server.url}/ocsp", b"request")
        )
    assert CAPS["ocsp"] == 64 * 1024


def test_a_crl_announced_over_10_mib_is_refused_before_reading(server: RevocationServer) -> None:
    server.routes["/big.crl"] = lambda _: Served(b"\0" * (20 * 1024 * 1024))
    with pytest.raises(FetchError, match="20971520 bytes announced"):
        Fetcher(TIMEOUT, allow_private=True).fetch(Request("crl", f"{server.url}/big.crl"))
    assert CAPS["crl"] == 10 * 1024 * 1024


def test_a_server_that_never_answers_is_left_at_the_deadline(server: RevocationServer) -> None:
    server.routes["/ocsp"] = lambda _: Served(stall=True)
    with pytest.raises(FetchError, match=r"no answer within 0\.5 s"):
        Fetcher(SHORT, allow_private=True).fetch(Request("ocsp", f"{server.url}/ocsp", b"request"))


def test_a_trickling_server_is_left_at_the_deadline(server: RevocationServer) -> None:
    server.routes["/sub.crl"] = lambda _: Served(b"x" * 10_000, trickle=0.02)
    with pytest.raises(FetchError, match=r"no answer within 0\.5 s"):
        Fetcher(SHORT, allow_private=True).fetch(Request("crl", f"{server.url}/sub.crl"))
    assert 0 < server.sent["/sub.crl"] < 10_000


def test_an_error_status_is_no_answer(server: RevocationServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        Fetcher(TIMEOUT, allow_private=True).fetch(Request("crl", f"{server.url}/missing.crl"))


def test_several_fetches_answer_in_the_order_asked(server: RevocationServer) -> None:
    server.routes["/a"] = lambda _: Served(b"a")
    server.routes["/b"] = lambda _: Served(stall=True)
    done = Fetcher(SHORT, allow_private=True).fetch_all(
        [Request("crl", f"{server.url}/a"), Request("crl", f"{server.url}/b")]
    )
    assert [d.der for d in done] == [b"a", None]
    assert done[1].error is not None and "no answer within" in done[1].error


def test_evidence_reads_back_reports_written_before_urls_were_kept() -> None:
    old = RevocationEvidence.from_dict({"type": "crl", "der": "AAE="})
    assert old == RevocationEvidence("crl", b"\0\1")
    assert old.to_dict()["url"] is None and len(old.to_dict()["sha256"] or "") == 64
