"""The hub's own signatures: a full validation on a sample, the same report in between."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from app.documents.selfcheck import SelfCheck
from app.edxml import EdxmlDocument, build_document_tree
from app.signing import TrustStore, pki, validate
from app.signing.xmldsig import Signer, sign_tree
from tests.factories import document_json

ORGAN = "000.00.02.H39"


def _pki() -> tuple[Signer, TrustStore, TrustStore]:
    now = dt.datetime.now(dt.UTC)
    root_key, root_cert = pki.create_root_ca("Test Root CA")
    ca_key, ca_cert = pki.create_issuing_ca(root_key, root_cert, "Test Issuing CA")
    key, cert = pki.issue_org_certificate(ca_key, ca_cert, ORGAN, "Sở Nội vụ")
    crls = [
        pki.build_crl(k, c, [], now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
        for k, c in ((root_key, root_cert), (ca_key, ca_cert))
    ]
    revoked = pki.build_crl(
        ca_key,
        ca_cert,
        [(cert.serial_number, now - dt.timedelta(hours=2))],
        now - dt.timedelta(hours=1),
        now + dt.timedelta(days=1),
    )
    return (
        Signer(key, cert, [ca_cert]),
        TrustStore([root_cert], [ca_cert], crls),
        TrustStore([root_cert], [ca_cert], [crls[0], revoked]),
    )


def _signed(signer: Signer, n: int) -> etree._Element:
    root = build_document_tree(
        EdxmlDocument.model_validate(document_json(ORGAN, ["000.00.03.H39"], number=str(n)))
    )
    sign_tree(root, signer)
    return root


def test_the_hubs_signature_is_validated_on_a_sample_with_the_same_report() -> None:
    signer, trust, _ = _pki()
    check = SelfCheck(every=3)
    reports = []
    for n in range(6):
        at = dt.datetime.now(dt.UTC)
        root = _signed(signer, n)
        got = check.report(root, signer, organ_id=ORGAN, trust=trust, at=at, payloads=None)
        full = validate(root, expected_organ_id=ORGAN, trust=trust, at=at)
        assert got.passed and full.passed
        assert got.signed_by == full.signed_by and got.chain == full.chain
        assert got.best_signature_time == at
        assert got.claimed_signing_time == full.claimed_signing_time
        reports.append(got)
    assert check.full == 2  # the first, then every third (a self-check of the signing code)


def test_a_new_trust_store_validates_again_and_a_failure_is_never_reused() -> None:
    signer, trust, revoked = _pki()
    check = SelfCheck(every=1000)
    at = dt.datetime.now(dt.UTC)
    assert check.report(
        _signed(signer, 1), signer, organ_id=ORGAN, trust=trust, at=at, payloads=None
    ).passed
    assert check.full == 1
    # The signer's certificate revoked: the trust store is rebuilt, so the template is not used.
    for n in (2, 3):
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        got = check.report(
            _signed(signer, n), signer, organ_id=ORGAN, trust=revoked, at=later, payloads=None
        )
        assert not got.passed
    assert check.full == 3
