"""Shared test data: a realistic document and status message, and the sample directory."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from app.edxml import (
    Attachment,
    Business,
    Code,
    DocumentType,
    EdxmlDocument,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceHeader,
    build_document,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared/interop/edxml"
MAX_BYTES = 50 * 1024 * 1024

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="shared/interop/edxml samples not present"
)

ZIP_BYTES = b"PK\x03\x04" + bytes(range(256)) * 3


def make_document(**overrides: Any) -> EdxmlDocument:
    """A new (type 0) document from Long An to two units, with one attachment."""
    fields: dict[str, Any] = {
        "from_": Organization(
            organ_id="000.00.00.H39",
            organ_name="Ủy ban nhân dân tỉnh Long An",
            organ_add="Số 61, đường Nguyễn Huệ, Thành phố Tân An",
            email="longan@gov.vn",
        ),
        "to": [
            Organization(organ_id="000.00.01.H39", organ_name="Sở Nội vụ"),
            Organization(organ_id="000.00.02.H39", organ_name="Sở Tài chính"),
        ],
        "code": Code(code_number="123", code_notation="UBND-NC"),
        "promulgation_info": PromulgationInfo(
            place="Long An", promulgation_date=date(2026, 11, 26)
        ),
        "document_type": DocumentType(type="1", type_name="Công văn"),
        "subject": "V/v triển khai liên thông văn bản điện tử",
        "content": "Nội dung & <chi tiết>",
        "signer_info": SignerInfo(
            competence="TM. UBND", position="Chủ tịch", full_name="Nguyễn Văn A"
        ),
        "due_date": date(2026, 12, 31),
        "other_info": OtherInfo(priority="0", appendixes=["Phụ lục 1"]),
        "steering_type": "0",
        "to_places": ["Như trên", "Lưu: VT"],
        "trace_headers": [
            TraceHeader(organ_id="000.00.00.H39", timestamp=datetime(2026, 11, 26, 9, 30, 0))
        ],
        "business": Business(
            business_doc_type=0,
            business_doc_reason="Văn bản điện tử mới",
            paper="0",
            staff_info=StaffInfo(department="Văn thư", staff="Trần Thị B"),
        ),
        "attachments": [
            Attachment(  # type: ignore[call-arg]  # `data` is taken by a wrap validator the pydantic plugin cannot see
                content_id="cid:1",
                name="cong-van.zip",
                description="Công văn",
                content_type="application/zip",
                data=ZIP_BYTES,
            )
        ],
    }
    fields.update(overrides)
    return EdxmlDocument(**fields)


def make_status(**overrides: Any) -> StatusMessage:
    fields: dict[str, Any] = {
        "from_": Organization(organ_id="000.00.01.H39", organ_name="Sở Nội vụ"),
        "response_for": ResponseFor(
            organ_id="000.00.00.H39",
            code="123/UBND-NC",
            promulgation_date="2026/11/26",
            document_id="000.00.00.H39,2026/11/26,123/UBND-NC",
        ),
        "staff_info": StaffInfo(department="Văn phòng", staff="Lê Văn C", mobile="0912000001"),
        "status_code": "03",
        "description": "Đã tiếp nhận",
        "timestamp": datetime(2026, 11, 27, 8, 0, 0),
    }
    fields.update(overrides)
    return StatusMessage(**fields)


def document_bytes(**overrides: Any) -> bytes:
    return build_document(make_document(**overrides))


def line_of(data: bytes, needle: bytes) -> int:
    """1-based line number of the first occurrence of `needle`."""
    index = data.index(needle)
    return data.count(b"\n", 0, index) + 1
