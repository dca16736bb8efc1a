"""Certificates whose issuers publish their CRLs into the trust store (the hub's own CAs) ask
nothing of the network: their material is empty at once; the same certificates under a store
without those CRLs are asked for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from cryptography.hazmat.primitives import serialization

from app.revocation.fetch import Fetched, Fetcher, Request
from app.revocation.service import Revocation
from app.signing import TrustStore, pki

pytestmark = pytest.mark.rolled_back

DER = serialization.Encoding.DER
URL = "http://ca.invalid"


class Recording(Fetcher):
    """Answers every request with a failure and records it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def fetch_all(self, requests: Sequence[Request]) -> list[Fetched]:
        self.asked += [r.url for r in requests]
        return [Fetched(r, None, f"{r.url}: down", 0.0) for r in requests]


def test_local_issuers_need_nothing_and_others_are_asked(sessions) -> None:
    now = dt.datetime.now(dt.UTC)
    root_key, root = pki.create_root_ca("Root", key_size=2048)
    ca_key, ca = pki.create_issuing_ca(root_key, root, "Issuing")
    _, leaf = pki.issue_org_certificate(
        ca_key, ca, "000.00.02.H39", "Sở", crl_url=f"{URL}/ca.crl", ocsp_url=f"{URL}/ocsp"
    )
    crls = [
        pki.build_crl(root_key, root, [], now, now + dt.timedelta(days=1)),
        pki.build_crl(ca_key, ca, [], now, now + dt.timedelta(days=1)),
    ]
    certs = [leaf.public_bytes(DER), ca.public_bytes(DER)]
    fetcher = Recording()
    revocation = Revocation(fetcher=fetcher)
    own = TrustStore([root], [ca], crls)
    with sessions() as s:
        for _ in range(2):  # the plan built, then the plan memoised
            store, material = revocation.trust_store(s, own, certs)
            assert store is own and material.empty and not material.problems
            assert material.identity == () and dict(material.sources) == {}
        assert fetcher.asked == [] and revocation.fetches == 0

        # The issuing CA's CRL not in the store: the leaf's status is asked for.
        only_root = TrustStore([root], [ca], crls[:1])
        store, material = revocation.trust_store(s, only_root, certs)
        assert store is only_root and material.empty
        assert fetcher.asked == [f"{URL}/ocsp", f"{URL}/ca.crl"]
        assert any("down" in p for p in material.problems)
