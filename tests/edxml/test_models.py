"""The models as the JSON body of POST /documents, and their rules."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime

import pytest
from pydantic import ValidationError

from app.edxml import (
    Attachment,
    Business,
    EdxmlDocument,
    ResponseFor,
    StatusMessage,
    build_document,
    organ_id_is_valid,
    parse_message,
)
from tests.edxml.factory import MAX_BYTES, ZIP_BYTES, make_document, make_status

JSON_BODY = {
    "from": {"organ_id": "000.00.00.H39", "organ_name": "UBND tỉnh Long An"},
    "to": [{"organ_id": "000.00.01.H39"}, {"organ_id": "000.00.02.H39"}],
    "code": {"code_number": "45", "code_notation": "UBND-VX"},
    "promulgation_info": {"place": "Long An", "promulgation_date": "2026-11-26"},
    "subject": "  V/v báo cáo thống kê  ",
    "content": "   ",
    "attachments": [
        {
            "content_id": "cid:1",
            "name": "bao-cao.pdf",
            "content_type": "application/pdf",
            "data_base64": base64.b64encode(b"%PDF-1.7 hello").decode(),
        }
    ],
}


def test_json_body_builds_edxml() -> None:
    doc = EdxmlDocument.model_validate_json(json.dumps(JSON_BODY))
    assert doc.from_.organ_id == "000.00.00.H39"
    assert doc.subject == "V/v báo cáo thống kê"  # stripped
    assert doc.content is None  # blank optional text is absent
    assert doc.promulgation_info.promulgation_date == date(2026, 11, 26)
    assert doc.attachments[0].data == b"%PDF-1.7 hello"
    assert doc.attachments[0].size == 14
    assert doc.document_id is None
    parsed = parse_message(build_document(doc), max_bytes=MAX_BYTES)
    assert parsed.document is not None
    assert parsed.document.document_id == "000.00.00.H39,2026/11/26,45/UBND-VX"
    assert parsed.attachment_bytes("cid:1") == b"%PDF-1.7 hello"


def test_json_accepts_edxml_date_form() -> None:
    body = {**JSON_BODY, "promulgation_info": {"promulgation_date": "2026/11/26"}}
    doc = EdxmlDocument.model_validate(body)
    assert doc.promulgation_info.promulgation_date == date(2026, 11, 26)


def test_json_dump_uses_from_and_omits_payload() -> None:
    doc = EdxmlDocument.model_validate(JSON_BODY)
    dumped = doc.model_dump(mode="json")
    assert "from" in dumped and "from_" not in dumped
    assert dumped["attachments"] == [
        {
            "content_id": "cid:1",
            "name": "bao-cao.pdf",
            "description": None,
            "content_type": "application/pdf",
        }
    ]


def test_json_schema_documents_data_base64() -> None:
    schema = EdxmlDocument.model_json_schema()
    attachment = schema["$defs"]["Attachment"]
    assert "data_base64" in attachment["properties"]
    assert "data_base64" in attachment["required"]
    assert schema["properties"]["subject"]["maxLength"] == 500
    assert "from" in schema["required"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subject": "x" * 501}, "at most 500"),
        ({"to": []}, "at least one To"),
        (
            {"to": [{"organ_id": "000.00.01.H39"}, {"organ_id": "000.00.01.H39"}]},
            "more than one To",
        ),
        ({"from": {"organ_id": "h41"}}, "not an OrganId"),
        ({"unknown_field": 1}, "Extra inputs"),
        ({"subject": "bad \x01 control"}, "XML 1.0 cannot carry"),
        ({"promulgation_info": {"promulgation_date": "2026/02/30"}}, "not a calendar date"),
    ],
)
def test_json_rules(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        EdxmlDocument.model_validate({**JSON_BODY, **change})
    assert message in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        {"data_base64": "not base64!"},
        {},
        {"data": "text, not bytes"},
        {"data": b"x", "data_base64": "eA=="},
    ],
)
def test_attachment_payload_rules(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        Attachment.model_validate({"content_id": "cid:1", "name": "a.zip", **payload})
    assert "data" in str(info.value)


def test_attachment_duplicate_content_id_refused() -> None:
    att = Attachment(content_id="cid:1", name="a.zip", data=b"a")  # type: ignore[call-arg]  # data/data_base64 are taken by a wrap validator the pydantic plugin cannot see
    with pytest.raises(ValidationError, match="more than one attachment"):
        make_document(attachments=[att, att])


def test_attachment_chunks_from_bytes() -> None:
    att = Attachment(content_id="cid:1", name="a.bin", data=bytes(range(256)) * 40)  # type: ignore[call-arg]  # data/data_base64 are taken by a wrap validator the pydantic plugin cannot see
    chunks = list(att.iter_chunks(chunk_chars=400))
    assert all(len(c) == 300 for c in chunks[:-1])
    assert b"".join(chunks) == att.data


@pytest.mark.parametrize(
    ("business", "response_for", "message"),
    [
        (Business(business_doc_type=1), [], "revoke"),
        (Business(business_doc_type=1), [ResponseFor(organ_id="000.00.00.G22")], "revoke"),
        (Business(business_doc_type=2), [], "BussinessDocumentInfo"),
        (Business(business_doc_type=3), [], "ReplacementInfoList"),
    ],
)
def test_business_type_must_carry_its_data(
    business: Business, response_for: list[ResponseFor], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        make_document(business=business, response_for=response_for)
    assert message in str(info.value)


def test_business_type_out_of_range() -> None:
    with pytest.raises(ValidationError):
        Business(business_doc_type=4)


def test_document_id_computed_and_filled() -> None:
    doc = make_document()
    assert doc.document_id is None
    assert doc.compute_document_id() == "000.00.00.H39,2026/11/26,123/UBND-NC"
    assert doc.effective_document_id == doc.compute_document_id()
    filled = doc.with_document_id()
    assert filled.document_id == "000.00.00.H39,2026/11/26,123/UBND-NC"
    given = make_document(document_id="000.00.00.H39,2026/11/26,999/X")
    assert given.with_document_id() is given
    assert b"<edXML:DocumentId>000.00.00.H39,2026/11/26,123/UBND-NC<" in build_document(doc)


def test_document_id_pads_early_years() -> None:
    doc = make_document(
        promulgation_info={"promulgation_date": date(999, 1, 2)},
    )
    assert doc.compute_document_id() == "000.00.00.H39,0999/01/02,123/UBND-NC"


def test_aware_timestamp_becomes_vietnam_local_time() -> None:
    msg = make_status(timestamp=datetime.fromisoformat("2026-11-27T01:00:00.123+00:00"))
    assert msg.timestamp == datetime(2026, 11, 27, 8, 0, 0)
    assert msg.timestamp.tzinfo is None


def test_status_requires_document_id() -> None:
    with pytest.raises(ValidationError, match="ResponseFor/DocumentId is required"):
        make_status(response_for=ResponseFor(organ_id="000.00.00.H39"))


@pytest.mark.parametrize("code", ["00", "07", "14", "3", ""])
def test_status_code_set(code: str) -> None:
    with pytest.raises(ValidationError):
        make_status(status_code=code)


def test_status_codes_accepted() -> None:
    for code in ["01", "02", "03", "04", "05", "06", "13", "15", "16"]:
        assert make_status(status_code=code).status_code == code


def test_status_json() -> None:
    msg = StatusMessage.model_validate_json(
        json.dumps(
            {
                "from": {"organ_id": "000.00.01.H39"},
                "response_for": {"document_id": "000.00.00.H39,2026/11/26,1/X"},
                "status_code": "01",
                "timestamp": "2026-11-27T08:00:00",
            }
        )
    )
    assert msg.model_dump(mode="json")["from"] == {
        "organ_id": "000.00.01.H39",
        "organization_in_charge": None,
        "organ_name": None,
        "organ_add": None,
        "email": None,
        "telephone": None,
        "fax": None,
        "website": None,
    }


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("000.00.00.G22", True),
        ("000.00.00.H39", True),
        ("28.22.H17", True),
        ("H39", True),
        ("A" * 35, True),
        ("A" * 36, False),
        ("000.00.00.h41", False),
        ("000..00.H39", False),
        (".H39", False),
        ("H39.", False),
        ("", False),
        ("000 00", False),
        ("000.00.00.H39\n", False),
        ("Đ41", False),
        (None, False),
        (41, False),
    ],
)
def test_organ_id_is_valid(value: object, valid: bool) -> None:
    assert organ_id_is_valid(value) is valid


def test_equal_attachments_compare_by_content() -> None:
    a = Attachment(content_id="cid:1", name="a", data=ZIP_BYTES)  # type: ignore[call-arg]  # data/data_base64 are taken by a wrap validator the pydantic plugin cannot see
    b = Attachment(  # type: ignore[call-arg]  # data_base64: see above
        content_id="cid:1", name="a", data_base64=base64.b64encode(ZIP_BYTES).decode()
    )
    c = Attachment(content_id="cid:1", name="a", data=ZIP_BYTES + b"x")  # type: ignore[call-arg]
    assert a == b
    assert a != c
