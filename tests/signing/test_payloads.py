"""Large attachment texts detached from the tree are passed explicitly to sign, verify and
serialise; the bytes and digests are those of the whole document."""

from __future__ import annotations

import io
import os

import pytest
from lxml import etree

from app.edxml import serialize, serialize_to
from app.edxml.payloads import LARGE, detach_payloads
from app.signing import TrustStore, validate
from app.signing.xmldsig import c14n_digest, parse_document, sign_tree

from .conftest import SENDER, Pki, make_edxml


def _large_tree() -> etree._Element:
    return parse_document(make_edxml(attachment=os.urandom(LARGE)))


def test_signed_with_detached_payloads_is_the_same_document(demo_pki: Pki) -> None:
    root = _large_tree()
    whole_digest = c14n_digest(root, "sha256")
    with detach_payloads(root, restore=False) as payloads:
        assert len(payloads) == 1
        assert c14n_digest(root, "sha256", payloads) == whole_digest
        sign_tree(root, demo_pki.parties["rsa"].signer, payloads)
        report = validate(root, expected_organ_id=SENDER, trust=demo_pki.trust(), payloads=payloads)
        out = io.BytesIO()
        serialize_to(root, out, payloads)
    assert report.passed, report.errors
    # What was written is the whole signed document: parsed again, with nothing detached, it
    # verifies and carries the payload (not a marker).
    again = parse_document(out.getvalue())
    assert b"LIENTHONGPAYLOAD" not in out.getvalue()
    assert validate(again, expected_organ_id=SENDER, trust=demo_pki.trust()).passed
    assert serialize(again) == out.getvalue()


def test_a_tree_without_its_payloads_does_not_verify(demo_pki: Pki) -> None:
    """Nothing is looked up behind the caller's back: forgetting the payloads gives the digest
    of the markers, which the signature does not cover."""
    root = _large_tree()
    sign_tree(root, demo_pki.parties["rsa"].signer)
    trust: TrustStore = demo_pki.trust()
    with detach_payloads(root) as payloads:
        assert validate(root, expected_organ_id=SENDER, trust=trust, payloads=payloads).passed
        forgotten = validate(root, expected_organ_id=SENDER, trust=trust)
    assert forgotten.sub_indication == "HASH_FAILURE"
    # Restored afterwards: the tree verifies on its own again.
    assert validate(root, expected_organ_id=SENDER, trust=trust).passed


def test_payloads_of_another_tree_are_refused() -> None:
    first, second = _large_tree(), _large_tree()
    with detach_payloads(first) as payloads, pytest.raises(ValueError, match="another tree"):
        serialize_to(second, io.BytesIO(), payloads)
