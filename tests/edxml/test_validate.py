"""validate_message: every problem at once, and the POST /edxml/validate summary."""

from __future__ import annotations

import pytest
from lxml import etree

from app.edxml import (
    INVALID,
    MALFORMED,
    EdxmlError,
    build_document,
    build_document_tree,
    build_status,
    message_summary,
    outcome_summary,
    parse_message,
    validate_message,
)
from app.edxml.schema import NS
from tests.edxml.factory import MAX_BYTES, document_bytes, line_of, make_document, make_status

BASE = document_bytes()


def test_collects_all_element_errors_with_lines() -> None:
    data = (
        BASE.replace(
            "<edXML:Subject>V/v triển khai liên thông văn bản điện tử</edXML:Subject>".encode(), b""
        )
        .replace(b"000.00.02.H39", b"bad id", 1)
        .replace(b"<edXML:Place>Long An<", b"<edXML:Place>" + b"x" * 151 + b"<", 1)
        .replace(b"<edXML:DueDate>2026/12/31<", b"<edXML:DueDate>31/12/2026<", 1)
    )
    outcome = validate_message(data, max_bytes=MAX_BYTES)
    assert not outcome.valid
    assert outcome.kind == "document"
    assert outcome.parsed is None
    details = {e.detail.split(":")[0].split(" is ")[0]: e for e in outcome.errors}
    assert set(details) == {
        "MessageHeader/Subject",
        "MessageHeader/To[2]/OrganId",
        "MessageHeader/PromulgationInfo/Place",
        "MessageHeader/DueDate",
    }
    assert all(e.code == INVALID and e.status == 422 for e in outcome.errors)
    assert details["MessageHeader/To[2]/OrganId"].line == line_of(data, b"bad id")
    assert details["MessageHeader/DueDate"].line == line_of(data, b"<edXML:DueDate>")
    assert [e.line for e in outcome.errors] == sorted(e.line or 0 for e in outcome.errors)

    summary = outcome_summary(outcome)
    assert summary["valid"] is False
    assert summary["message_type"] == "document"
    assert len(summary["errors"]) == 4
    assert set(summary["errors"][0]) == {"code", "detail", "line", "column"}

    with pytest.raises(EdxmlError) as info:
        parse_message(data, max_bytes=MAX_BYTES)
    assert len(info.value.errors) == 4
    assert info.value.detail == outcome.errors[0].detail


def test_malformed_outcome_has_position() -> None:
    outcome = validate_message(
        b'<?xml version="1.0"?>\n<edXML>\n  <a>\n</edXML>', max_bytes=MAX_BYTES
    )
    assert [e.code for e in outcome.errors] == [MALFORMED]
    assert outcome.errors[0].line == 4
    assert outcome.errors[0].column is not None
    assert outcome_summary(outcome)["errors"][0]["line"] == 4


def test_summary_of_built_document() -> None:
    parsed = parse_message(BASE, max_bytes=MAX_BYTES)
    summary = message_summary(parsed)
    assert summary == outcome_summary(validate_message(BASE, max_bytes=MAX_BYTES))
    assert summary["document_id"] == "000.00.00.H39,2026/11/26,123/UBND-NC"
    assert summary["to"] == ["000.00.01.H39", "000.00.02.H39"]
    assert summary["attachments"][0]["size"] == len(make_document().attachments[0].data)


def test_summary_of_status() -> None:
    summary = message_summary(parse_message(build_status(make_status()), max_bytes=MAX_BYTES))
    assert summary["message_type"] == "status"
    assert summary["status_code"] == "03"
    assert summary["business_type"] is None
    assert summary["document_id"] == "000.00.00.H39,2026/11/26,123/UBND-NC"


def test_status_with_attachment_refused() -> None:
    data = build_status(make_status()).replace(
        b"</edXML>", b"<AttachmentEncoded><Attachment/></AttachmentEncoded></edXML>"
    )
    outcome = validate_message(data, max_bytes=MAX_BYTES)
    assert outcome.kind == "status"
    assert any("no attachments" in e.detail for e in outcome.errors)


def test_business_spelling_and_whitespace_tolerated() -> None:
    """Bkav's `Business` spelling, fully-prefixed root, blank optional elements, comments."""
    data = (
        BASE.replace(b"Bussiness", b"Business")
        .replace(b"<edXML xmlns=", b'<edXML:edXML xmlns:edXML="' + NS.encode() + b'" xmlns=', 1)
        .replace(b"</edXML>\n", b"</edXML:edXML>\n")
        .replace(
            b"<edXML:SteeringType>0</edXML:SteeringType>",
            b"<edXML:SteeringType>  </edXML:SteeringType>",
        )
        .replace(b"<edXML:Paper>0</edXML:Paper>", b"<edXML:Paper/><!-- note -->")
    )
    assert b"<edXML:Business>" in data and data.count(b"<edXML:edXML ") == 1
    doc = parse_message(data, max_bytes=MAX_BYTES).document
    assert doc is not None
    assert doc.business.business_doc_reason == "Văn bản điện tử mới"
    assert doc.steering_type is None
    assert doc.business.paper is None


def test_empty_business_doc_type_means_new() -> None:
    data = BASE.replace(
        b"<edXML:BussinessDocType>0</edXML:BussinessDocType>",
        b"<edXML:BussinessDocType></edXML:BussinessDocType>",
    )
    doc = parse_message(data, max_bytes=MAX_BYTES).document
    assert doc is not None and doc.business_type == 0


def test_response_for_accepts_both_date_forms() -> None:
    from app.edxml import Business, ResponseFor

    doc = make_document(
        business=Business(business_doc_type=1),
        response_for=[
            ResponseFor(document_id="X,2026/01/01,1/A", promulgation_date="2026-01-01"),
            ResponseFor(document_id="X,2026/01/02,2/A", promulgation_date="2026/01/02"),
        ],
    )
    parsed = parse_message(build_document(doc), max_bytes=MAX_BYTES).document
    assert parsed is not None
    assert [r.promulgation_date for r in parsed.response_for] == ["2026-01-01", "2026/01/02"]


def test_elements_in_any_order() -> None:
    """Real files differ in order (the revocation sample has ResponseFor before SteeringType)."""
    subject = "<edXML:Subject>V/v triển khai liên thông văn bản điện tử</edXML:Subject>".encode()
    data = BASE.replace(subject, b"", 1).replace(b"<edXML:From>", subject + b"<edXML:From>", 1)
    doc = parse_message(data, max_bytes=MAX_BYTES).document
    assert doc is not None and doc.subject == "V/v triển khai liên thông văn bản điện tử"
    assert build_document(doc) == BASE


def test_tree_shape_matches_samples() -> None:
    """Default namespace on the root, `edXML:` inside the envelope, unprefixed attachments."""
    root = build_document_tree(make_document())
    assert root.prefix is None
    envelope = root[0]
    assert envelope.prefix == "edXML"
    assert [etree.QName(c).localname for c in envelope] == ["edXMLHeader", "edXMLBody"]
    header = envelope[0]
    assert [etree.QName(c).localname for c in header] == ["MessageHeader", "TraceHeaderList"]
    order = [etree.QName(c).localname for c in header[0]]
    assert order == [
        "From", "To", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType",
        "Subject", "Content", "SignerInfo", "DueDate", "OtherInfo", "SteeringType", "ToPlaces",
    ]  # fmt: skip
    encoded = root[1]
    assert encoded.prefix is None and encoded[0][-1].prefix == "edXML"
    assert BASE.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="')
    assert b"<edXML:Bussiness>" in BASE and b"<edXML:BussinessDocType>0<" in BASE


def test_tree_serialises_to_build_output() -> None:
    """The signer may serialise the tree itself: same bytes as build_document, no re-indent."""
    root = build_document_tree(make_document())
    assert etree.tostring(root, encoding="UTF-8") in BASE


def test_attachments_outside_namespace_are_named() -> None:
    """A fully prefixed file whose AttachmentEncoded lost the default namespace."""
    data = BASE.replace(b"<AttachmentEncoded>", b'<AttachmentEncoded xmlns="">', 1)
    outcome = validate_message(data, max_bytes=MAX_BYTES)
    assert any(
        e.detail.startswith("edXML/AttachmentEncoded is not in the edXML namespace")
        for e in outcome.errors
    )
