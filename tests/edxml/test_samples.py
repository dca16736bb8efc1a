"""The national axis SDK's sample files parse into the values a person reads in them."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest

from app.edxml import (
    INVALID,
    MALFORMED,
    build_document,
    build_status,
    message_summary,
    parse_file,
    parse_message,
    validate_message,
)
from tests.edxml.factory import MAX_BYTES, SAMPLES, needs_samples

pytestmark = needs_samples

STATUS_FILES = {
    "01": "status_01_arrived.edxml",
    "02": "status_02_rejected.edxml",
    "03": "status_03_accepted.edxml",
    "04": "status_04_assigned.edxml",
    "05": "status_05_processing.edxml",
    "06": "status_06_completed.edxml",
}


def _read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_new_document_fields() -> None:
    parsed = parse_message(_read("edoc_new.edxml"), max_bytes=MAX_BYTES)
    assert parsed.kind == "document"
    doc = parsed.document
    assert doc is not None
    assert doc.from_.organ_id == "000.00.00.A80"
    assert doc.from_.organ_name == "UBND xã Hòa Tiến - UBND huyện Hòa Vang - Thành phố Đà Nẵng"
    assert [o.organ_id for o in doc.to] == ["28.22.H17"]
    assert doc.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert doc.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert doc.code.code_number == "74fass22"
    assert doc.code.code_notation == "VPCP-TTĐT"
    assert doc.promulgation_info.place == "Hà Nội"
    assert doc.promulgation_info.promulgation_date == date(2019, 1, 16)
    assert doc.due_date == date(2018, 9, 28)
    assert doc.other_info is not None
    assert doc.other_info.appendixes == [
        "Công văn về việc kết nối, liên thông phần mềm quản lý văn bản"
    ]
    assert doc.to_places == ["Cac bo va co quan ngang bo", "Uy ban nhan dan cac tinh, TP"]
    assert doc.trace_headers[0].organ_id == "000.00.00.G22"
    assert doc.trace_headers[0].timestamp == datetime(2018, 9, 28, 0, 0, 0)
    assert doc.business_type == 0
    assert doc.business.business_doc_reason == "Văn bản điện tử mới"
    assert doc.business.staff_info is not None
    assert doc.business.staff_info.staff == "Nguyễn Thị Ngọc Trâm"
    # The placeholder Signature is left in the tree for the signing module, not interpreted.
    header = parsed.root[0][0]
    assert header[-1].tag.endswith("}Signature")


@pytest.mark.parametrize("name", ["edoc_new.edxml", "edoc_revocation.edxml"])
def test_attachment_is_a_zip(name: str) -> None:
    parsed = parse_message(_read(name), max_bytes=MAX_BYTES)
    assert len(parsed.attachments) == 1
    att = parsed.attachments[0]
    assert att.content_id == "cid:209"
    assert att.name == "1896_QD-TTg_m_294779.doc"
    assert att.content_type == "application/zip"
    data = att.data
    assert data.startswith(b"PK")
    assert att.size == len(data) == 270823
    assert b"".join(att.iter_chunks(chunk_chars=4096)) == data
    entries = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert len(entries) == 1 and entries[0].endswith(".edxml")


def test_revocation_is_type_1_with_its_target() -> None:
    parsed = parse_message(_read("edoc_revocation.edxml"), max_bytes=MAX_BYTES)
    doc = parsed.document
    assert doc is not None
    assert doc.business_type == 1
    assert doc.business.business_doc_reason == "Thu hồi văn bản điện tử"
    assert doc.business.document_id is None
    assert [o.organ_id for o in doc.to] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert len(doc.response_for) == 1
    target = doc.response_for[0]
    assert target.organ_id == "000.00.00.H14"
    assert target.code == "267/VPCP-TTĐT"
    assert target.document_id == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"
    assert target.promulgation_date == "2018/09/28"


@pytest.mark.parametrize(("code", "name"), sorted(STATUS_FILES.items()))
def test_status_samples(code: str, name: str) -> None:
    parsed = parse_message(_read(name), max_bytes=MAX_BYTES)
    assert parsed.kind == "status"
    assert parsed.document is None
    status = parsed.status
    assert status is not None
    assert status.status_code == code
    assert status.from_.organ_id == "000.00.00.H41"
    assert status.from_.organ_name == "UBND Tỉnh Nghệ An"
    assert status.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert status.staff_info is not None and status.staff_info.email == "ngoctram@nghean.vn"
    assert status.timestamp == datetime(2015, 9, 20, 11, 8, 36)
    summary = message_summary(parsed)
    assert summary["message_type"] == "status"
    assert summary["status_code"] == code
    assert summary["to"] == ["000.00.00.G22"]


def test_summary_of_new_document() -> None:
    summary = message_summary(parse_message(_read("edoc_new.edxml"), max_bytes=MAX_BYTES))
    assert summary == {
        "valid": True,
        "message_type": "document",
        "business_type": 0,
        "document_id": "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "from": "000.00.00.A80",
        "to": ["28.22.H17"],
        "status_code": None,
        "attachments": [
            {
                "content_id": "cid:209",
                "name": "1896_QD-TTg_m_294779.doc",
                "content_type": "application/zip",
                "size": 270823,
            }
        ],
        "errors": [],
        "warnings": [],  # the sample declares zip and carries a zip
    }


@pytest.mark.parametrize(
    "name", ["edoc_new.edxml", "edoc_revocation.edxml", *STATUS_FILES.values()]
)
def test_samples_rebuild_stably(name: str) -> None:
    """Re-building a sample gives edXML that parses to the same message and rebuilds
    byte-for-byte."""
    parsed = parse_message(_read(name), max_bytes=MAX_BYTES)
    if parsed.document is not None:
        first = build_document(parsed.document)
        again = parse_message(first, max_bytes=MAX_BYTES)
        assert again.document == parsed.document
        assert again.document is not None
        assert build_document(again.document) == first
    else:
        assert parsed.status is not None
        first = build_status(parsed.status)
        again = parse_message(first, max_bytes=MAX_BYTES)
        assert again.status == parsed.status
        assert again.status is not None
        assert build_status(again.status) == first


def test_parse_file_equals_parse_message() -> None:
    path = SAMPLES / "edoc_revocation.edxml"
    from_file = parse_file(path, max_bytes=MAX_BYTES)
    from_bytes = parse_message(path.read_bytes(), max_bytes=MAX_BYTES)
    assert from_file.document == from_bytes.document


def _nested_sample() -> bytes:
    """The ZIP inside edoc_new holds another edXML: the SDK's own production test file."""
    parsed = parse_message(_read("edoc_new.edxml"), max_bytes=MAX_BYTES)
    archive = zipfile.ZipFile(io.BytesIO(parsed.attachment_bytes("cid:209")))
    return archive.read(archive.namelist()[0])


def test_nested_sample_has_unbound_prefixes() -> None:
    """Real traffic: `xlink:href` without a declaration is not namespace-well-formed."""
    outcome = validate_message(_nested_sample(), max_bytes=MAX_BYTES)
    assert not outcome.valid
    assert [e.code for e in outcome.errors] == [MALFORMED]
    assert "xlink" in outcome.errors[0].detail
    assert (outcome.errors[0].line, outcome.errors[0].column) == (117, 39)


def test_nested_sample_once_declared() -> None:
    """With its prefixes declared, the nested file is read: prefixed AttachmentEncoded, an
    empty ResponseFor placeholder dropped, Description and ContentType merged from the
    Manifest Reference and the Attachment, a non-standard DocumentId kept as is."""
    data = _nested_sample().replace(
        b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">',
        b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" '
        b'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink">',
    )
    parsed = parse_message(data, max_bytes=MAX_BYTES)
    doc = parsed.document
    assert doc is not None
    assert doc.from_.organ_id == "14.00.W00"
    assert doc.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert doc.response_for == []
    att = doc.attachments[0]
    assert att.content_type == "application/pdf"
    assert att.description == "Description 1"
    assert att.data.startswith(b"%PDF")


def test_sample_with_wrong_status_code_is_refused() -> None:
    data = _read("status_03_accepted.edxml").replace(
        b"<edXML:StatusCode>03<", b"<edXML:StatusCode>07<"
    )
    outcome = validate_message(data, max_bytes=MAX_BYTES)
    assert [e.code for e in outcome.errors] == [INVALID]
    assert "StatusCode" in outcome.errors[0].detail
    assert outcome.errors[0].line == 28
