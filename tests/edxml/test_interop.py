"""What the SDK writes, read and prepared by the pure codec (SPEC section 3, issue 16)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from lxml import etree

from app.edxml import (
    add_trace_header,
    fill_document_id,
    parse_message,
    prepare_package,
    serialize,
    strip_placeholder_signature,
)
from app.edxml.interop import (
    CONTENT_TYPE_MAGIC,
    DOCUMENT_ID_MISSING,
    MANIFEST_CONTENT_TYPE,
    PLACEHOLDER_SIGNATURE,
    content_type_warning,
    magic_head,
    names_document,
    placeholder_removed,
)
from tests.edxml.factory import MAX_BYTES, SAMPLES, needs_samples
from tests.edxml.sdk import NS, SdkAttachment, SdkDocument, sdk_document, small_pdf

DS = "http://www.w3.org/2000/09/xmldsig#"
FROM, TO = "000.00.02.H39", "000.00.03.H39"
PDF = small_pdf()


def _sdk(**kwargs: object) -> bytes:
    fields: dict[str, object] = {"attachments": [SdkAttachment("15-UBND-VP.pdf", PDF)]}
    fields.update(kwargs)
    return sdk_document(SdkDocument(FROM, [TO], **fields))  # type: ignore[arg-type]


def _shape(element: etree._Element) -> list[tuple[str, str | None]]:
    return [(etree.QName(e).localname, e.get("Algorithm")) for e in element.iter()]


@needs_samples
def test_the_fixture_writes_the_placeholder_exactly_as_the_sdk_sample() -> None:
    sample = parse_message((SAMPLES / "edoc_new.edxml").read_bytes(), max_bytes=MAX_BYTES).root
    ours = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    theirs = sample.find(f".//{{{NS}}}Signature")
    mine = ours.find(f".//{{{NS}}}Signature")
    assert theirs is not None and mine is not None
    assert _shape(mine) == _shape(theirs)
    # and the Manifest says zip while the sample's attachment payload is what the SDK chose
    assert sample.findtext(f".//{{{NS}}}Reference/{{{NS}}}ContentType") == "application/zip"


def test_sdk_document_parses_with_the_attachments_own_content_type() -> None:
    parsed = parse_message(_sdk(), max_bytes=MAX_BYTES)
    att = parsed.attachments[0]
    assert att.content_type == "application/pdf" and att.data == PDF
    assert [w.code for w in parsed.warnings] == [MANIFEST_CONTENT_TYPE]
    assert "application/zip" in parsed.warnings[0].detail
    assert parsed.document is not None and parsed.document.document_id is None


def test_strip_placeholder_signature() -> None:
    root = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    assert strip_placeholder_signature(root) is True
    assert next(root.iter("{*}Signature"), None) is None
    assert strip_placeholder_signature(root) is False
    # what is left is still a well-formed, valid document
    assert parse_message(serialize(root), max_bytes=MAX_BYTES).document is not None


def test_placeholder_beside_an_xmldsig_signature_is_left_for_the_strict_check() -> None:
    root = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    header = root.find(f".//{{{NS}}}edXMLHeader")
    assert header is not None
    etree.SubElement(header, f"{{{DS}}}Signature")
    assert strip_placeholder_signature(root) is False
    assert len(list(root.iter("{*}Signature"))) == 2


def test_fill_document_id_after_the_last_to() -> None:
    root = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    assert fill_document_id(root, "X,2026/11/26,15/UBND-VP") is True
    header = root.find(f".//{{{NS}}}MessageHeader")
    assert header is not None
    names = [etree.QName(e).localname for e in header]
    assert names[names.index("To") + 1] == "DocumentId"
    parsed = parse_message(serialize(root), max_bytes=MAX_BYTES)
    assert parsed.document is not None and parsed.document.document_id == "X,2026/11/26,15/UBND-VP"
    assert fill_document_id(root, "OTHER") is False  # one already there is kept


def test_fill_document_id_fills_a_blank_element() -> None:
    data = _sdk(document_id="PLACEHOLDER").replace(
        b"<edXML:DocumentId>PLACEHOLDER</edXML:DocumentId>",
        b"<edXML:DocumentId> </edXML:DocumentId>",
    )
    root = parse_message(data, max_bytes=MAX_BYTES).root
    assert fill_document_id(root, "Y") is True
    doc = parse_message(serialize(root), max_bytes=MAX_BYTES).document
    assert doc is not None and doc.document_id == "Y"


def test_add_trace_header_after_the_senders_and_before_bussiness() -> None:
    root = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    add_trace_header(root, "000.00.00.H39", datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC))
    trace_list = root.find(f".//{{{NS}}}TraceHeaderList")
    assert trace_list is not None
    assert [etree.QName(e).localname for e in trace_list] == [
        "TraceHeader",
        "TraceHeader",
        "Bussiness",
    ]
    doc = parse_message(serialize(root), max_bytes=MAX_BYTES).document
    assert doc is not None
    assert [(t.organ_id, t.timestamp) for t in doc.trace_headers] == [
        (FROM, datetime(2026, 11, 26, 8, 15, 0)),
        ("000.00.00.H39", datetime(2026, 11, 26, 8, 2, 3)),  # local time, UTC+7
    ]
    assert doc.business.staff_info is not None  # Bussiness read as before


def test_add_trace_header_creates_the_list() -> None:
    data = _sdk()
    start = data.index(b"      <edXML:TraceHeaderList>")
    end = data.index(b"</edXML:TraceHeaderList>\n") + len(b"</edXML:TraceHeaderList>\n")
    root = parse_message(data[:start] + data[end:], max_bytes=MAX_BYTES).root
    add_trace_header(root, "000.00.00.H39", datetime(2026, 11, 26, 3, 0, 0, tzinfo=UTC))
    header = root.find(f".//{{{NS}}}edXMLHeader")
    assert header is not None
    assert [etree.QName(e).localname for e in header][:2] == ["MessageHeader", "TraceHeaderList"]
    doc = parse_message(serialize(root), max_bytes=MAX_BYTES).document
    assert doc is not None
    assert [(t.organ_id, t.timestamp) for t in doc.trace_headers] == [
        ("000.00.00.H39", datetime(2026, 11, 26, 10, 0, 0))
    ]


def test_prepare_package_for_unsigned_input() -> None:
    root = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    warnings = prepare_package(
        root,
        document_id="X,2026/11/26,15/UBND-VP",
        hub_organ_id="000.00.00.H39",
        when=datetime(2026, 11, 26, 1, 0, 0, tzinfo=UTC),
    )
    assert [w.code for w in warnings] == [PLACEHOLDER_SIGNATURE]
    doc = parse_message(serialize(root), max_bytes=MAX_BYTES).document
    assert doc is not None and doc.document_id == "X,2026/11/26,15/UBND-VP"
    assert doc.trace_headers[-1].organ_id == "000.00.00.H39"


def test_prepare_package_leaves_a_signed_package_alone() -> None:
    root = parse_message(_sdk(placeholder_signature=False), max_bytes=MAX_BYTES).root
    header = root.find(f".//{{{NS}}}edXMLHeader")
    assert header is not None
    etree.SubElement(header, f"{{{DS}}}Signature")
    before = etree.tostring(root)
    warnings = prepare_package(
        root,
        document_id="X,2026/11/26,15/UBND-VP",
        hub_organ_id="000.00.00.H39",
        when=datetime(2026, 11, 26, 1, 0, 0, tzinfo=UTC),
    )
    assert etree.tostring(root) == before
    assert [w.code for w in warnings] == [DOCUMENT_ID_MISSING]
    assert "X,2026/11/26,15/UBND-VP" in warnings[0].detail


@pytest.mark.parametrize(
    ("content_type", "head", "warned"),
    [
        ("application/pdf", b"%PDF-1.7", False),
        ("application/pdf", b"PK\x03\x04\x14\x00", True),
        ("application/zip", b"PK\x03\x04\x14\x00", False),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04",
            False,
        ),
        ("application/vnd.oasis.opendocument.text", b"PK\x03\x04", False),
        ("application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", False),
        ("application/vnd.ms-excel", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", False),
        ("application/msword", b"PK\x03\x04", True),
        ("application/zip", b"%PDF-1.4", True),
        ("application/pdf; name=a.pdf", b"%PDF-1.4", False),
        ("image/png", b"%PDF-1.4", True),  # the bytes say PDF
        ("text/plain", b"hello", False),  # neither side is known
        ("application/octet-stream", b"%PDF-1.4", False),  # promises nothing
        (None, b"%PDF-1.4", False),
        ("application/pdf", b"", True),  # empty is not a PDF
    ],
)
def test_content_type_against_magic(content_type: str | None, head: bytes, warned: bool) -> None:
    warning = content_type_warning("cid:1", content_type, head)
    assert (warning is not None) == warned
    if warning is not None:
        assert warning.code == CONTENT_TYPE_MAGIC and "cid:1" in warning.detail


def test_magic_head_reads_wrapped_base64() -> None:
    text = base64.encodebytes(PDF).decode()  # 76-character lines
    assert magic_head(text) == PDF[:8]
    assert magic_head("  \n" + text) == PDF[:8]
    assert magic_head("") == b""


def test_parser_warns_when_the_attachments_bytes_contradict_its_type() -> None:
    data = _sdk(attachments=[SdkAttachment("a.pdf", b"PK\x03\x04" + bytes(60))])
    parsed = parse_message(data, max_bytes=MAX_BYTES)
    assert [w.code for w in parsed.warnings] == [MANIFEST_CONTENT_TYPE, CONTENT_TYPE_MAGIC]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("000.00.02.H39,2026/11/26,15/UBND-VP", True),
        ("000.00.02.H39,2026-11-26,15/UBND-VP", True),  # the C# client's date form
        ("000.00.02.H39,2026-11-27,15/UBND-VP", False),
        ("000.00.02.H39,26/11/2026,15/UBND-VP", False),
        ("000.00.02.H39,2026/11/26,16/UBND-VP", False),
        ("0198f0c2-6a1e-7c4e-9d1a-2b3c4d5e6f70", False),
        (None, False),
    ],
)
def test_names_document(given: str | None, named: bool) -> None:
    assert names_document(given, "000.00.02.H39,2026/11/26,15/UBND-VP") is named


def _infoset(root: etree._Element) -> list[tuple[object, ...]]:
    return [(e.tag, e.text, e.tail, dict(e.attrib.items())) for e in root.iter()]


def test_placeholder_removed_only_while_the_block_runs() -> None:
    root = parse_message(_sdk(), max_bytes=MAX_BYTES).root
    before = _infoset(root)
    with placeholder_removed(root) as noted:
        assert next(root.iter("{*}Signature"), None) is None
        assert [w.code for w in noted] == [PLACEHOLDER_SIGNATURE]
    assert _infoset(root) == before  # same elements, namespaces, text, places
    unsigned = parse_message(_sdk(placeholder_signature=False), max_bytes=MAX_BYTES).root
    with placeholder_removed(unsigned) as noted:
        assert noted == []
