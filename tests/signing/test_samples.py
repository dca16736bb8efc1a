"""Real-world input: the SDK samples' placeholder signatures, and arbitrary damage, never crash."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from app.signing import (
    INDETERMINATE,
    NO_SIGNATURE_FOUND,
    TOTAL_FAILED,
    TOTAL_PASSED,
    TrustStore,
    pki,
    validate,
    validate_bytes,
)
from app.signing.xmldsig import DS_NS, Signer, find_signatures, parse_document, sign_tree

from .conftest import SAMPLES, SENDER, Pki

SAMPLE_FILES = sorted(SAMPLES.glob("*.edxml")) if SAMPLES.is_dir() else []
needs_samples = pytest.mark.skipif(not SAMPLE_FILES, reason=f"{SAMPLES} not present")


def _sender(root: etree._Element) -> str:
    found = root.xpath("string(//*[local-name()='From']/*[local-name()='OrganId'])")
    assert isinstance(found, str)
    return found.strip()


@needs_samples
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_files_do_not_pass_and_do_not_raise(path: Path, trust: TrustStore) -> None:
    root = parse_document(path.read_bytes())
    report = validate(root, expected_organ_id=_sender(root), trust=trust)
    assert report.indication != TOTAL_PASSED
    if find_signatures(root):
        # The placeholder <Signature> is in the edXML namespace, not XML-DSig's.
        assert (report.indication, report.sub_indication) == (TOTAL_FAILED, "FORMAT_FAILURE")
        assert report.errors[0].code == "format.namespace"
    else:
        assert report.indication == NO_SIGNATURE_FOUND
    report.to_dict()


@needs_samples
def test_placeholder_moved_into_the_xmldsig_namespace(trust: TrustStore) -> None:
    """The same placeholder as if a sender had got the namespace right: still refused."""
    root = parse_document((SAMPLES / "edoc_new.edxml").read_bytes())
    for element in find_signatures(root)[0].iter():
        element.tag = f"{{{DS_NS}}}{etree.QName(element).localname}"
    etree.cleanup_namespaces(root)
    report = validate(root, expected_organ_id=_sender(root), trust=trust)
    assert (report.indication, report.sub_indication) == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert report.errors[0].code == "format.c14n"


@needs_samples
def test_re_signed_sample_passes(demo_pki: Pki) -> None:
    root = parse_document((SAMPLES / "edoc_new.edxml").read_bytes())
    placeholder = find_signatures(root)[0]
    placeholder.getparent().remove(placeholder)  # type: ignore[union-attr]
    sender = _sender(root)
    key, cert = pki.issue_org_certificate(
        demo_pki.ca_key, demo_pki.ca, sender, "UBND xã Hòa Tiến", key_type="ec"
    )
    sign_tree(root, Signer(key, cert, [demo_pki.ca]))
    data = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    report = validate_bytes(data, expected_organ_id=sender, trust=demo_pki.trust())
    assert report.passed, report.to_dict()


def test_unparseable_input_is_a_format_failure(trust: TrustStore) -> None:
    report = validate_bytes(b"<edXML><unclosed>", expected_organ_id=SENDER, trust=trust)
    assert (report.indication, report.sub_indication) == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert report.errors[0].code == "format.xml"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), count=st.integers(1, 4))
def test_damaged_documents_never_raise_and_never_pass_changed(
    signed_rsa: bytes, trust: TrustStore, seed: int, count: int
) -> None:
    original = signed_rsa
    rng = random.Random(seed)
    data = bytearray(original)
    for _ in range(count):
        data[rng.randrange(len(data))] = rng.randrange(256)
    report = validate_bytes(bytes(data), expected_organ_id=SENDER, trust=trust)
    assert report.indication in {TOTAL_PASSED, TOTAL_FAILED, INDETERMINATE, NO_SIGNATURE_FOUND}
    if report.passed:
        # Only changes that do not alter what the signature covers may keep it valid: the
        # document without its Signature (enveloped). KeyInfo is not covered, so a damaged copy
        # of an intermediate the trust store already holds can pass, as it should.
        assert _covered(bytes(data)) == _covered(original)


def _covered(data: bytes) -> bytes:
    root = parse_document(data)
    for signature in find_signatures(root):
        signature.getparent().remove(signature)  # type: ignore[union-attr]
    return etree.tostring(root, method="c14n", exclusive=True)
