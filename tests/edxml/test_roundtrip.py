"""build -> parse -> build is byte-stable, and parse(build(m)) == m, for generated messages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.edxml import (
    STATUS_CODES,
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    EdxmlDocument,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceHeader,
    build_document,
    build_status,
    parse_message,
)
from tests.edxml.factory import MAX_BYTES, make_document

VIETNAMESE = "Ủy ban nhân dân tỉnh Long An — Sở Nội vụ, đường Nguyễn Huệ"
# Vietnamese letters (precomposed, plus a combining acute accent), XML-special characters that
# must be escaped (they also form "]]>"), inner whitespace including CR (written as &#13;), and
# a character outside the BMP.
ALPHABET = "".join(
    sorted(
        set(VIETNAMESE)
        | set("ĂÂĐÊÔƠƯăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ")
        | set("\u0301<>&\"']\t\n\r/𝔸09")
    )
)


PHRASES = [
    VIETNAMESE,
    "Ủy ban nhân dân tỉnh Long An",
    "Sở Nội vụ",
    "đường Nguyễn Huệ\r\nThành phố Tân An",
    "V/v <triển khai> & \"liên thông\" 'văn bản'",
    "a]]>b",
    "Tab\tbên trong",
]


def text(max_size: int = 16) -> st.SearchStrategy[str]:
    """Mostly whole realistic phrases (one draw each, which keeps generation fast), sometimes
    arbitrary strings over the alphabet."""
    fitting = [p for p in PHRASES if len(p) <= max_size]
    generated = st.text(ALPHABET, min_size=1, max_size=max_size).map(str.strip).filter(bool)
    return (st.sampled_from(fitting) | generated) if fitting else generated


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Up to 5 groups of up to 5 characters: at most 29 characters, always a valid OrganId.
# (st.from_regex would do, but costs ~10 ms a draw.)
organ_ids = st.sampled_from(["000.00.00.H39", "000.00.01.H39", "28.22.H17", "G22"]) | st.lists(
    st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5), min_size=1, max_size=5
).map(".".join)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))
timestamps = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31))
document_ids = st.builds(lambda o, d, n: f"{o},{d:%Y/%m/%d},{n}", organ_ids, dates, text(10))

organizations = st.builds(
    Organization,
    organ_id=organ_ids,
    organization_in_charge=optional(text()),
    organ_name=optional(text()),
    organ_add=optional(text()),
    email=optional(text(10)),
    telephone=optional(text(10)),
    fax=optional(text(10)),
    website=optional(text(10)),
)
staff_infos = st.builds(
    StaffInfo,
    department=optional(text()),
    staff=optional(text()),
    email=optional(text(10)),
    mobile=optional(text(10)),
)
response_fors = st.builds(
    ResponseFor,
    organ_id=optional(organ_ids),
    code=optional(text(10)),
    promulgation_date=optional(st.sampled_from(["2018/09/28", "2018-09-28"])),
    document_id=document_ids,
)
attachments = st.builds(
    Attachment,
    content_id=text(10).map(lambda s: "cid:" + s),
    name=text(30),
    description=optional(text()),
    content_type=optional(st.sampled_from(["application/zip", "application/pdf"])),
    data=st.binary(max_size=300),
)


# Strategies are built once: hypothesis re-validates a strategy object on its first draw, and
# building them inside the composites below made generation dominate the run time.
BINARY_FLAGS = optional(st.sampled_from(["0", "1"]))
receivers = st.builds(Receiver, organ_id=organ_ids, receiver_type=st.integers(0, 1))
document_infos = st.builds(
    BusinessDocumentInfo,
    document_info=BINARY_FLAGS,
    document_receiver=BINARY_FLAGS,
    receivers=st.lists(receivers, max_size=3),
)
replacement_infos = st.builds(
    ReplacementInfo, document_id=document_ids, organ_ids=st.lists(organ_ids, max_size=3)
)
OPT_TEXT = optional(text())
OPT_DOCUMENT_ID = optional(document_ids)
OPT_STAFF = optional(staff_infos)
document_types = optional(
    st.builds(
        DocumentType,
        type=optional(st.sampled_from(["1", "18"])),
        type_detail=optional(text(5)),
        type_name=optional(text(20)),
    )
)
signer_infos = optional(
    st.builds(SignerInfo, competence=OPT_TEXT, position=OPT_TEXT, full_name=OPT_TEXT)
)
other_infos = optional(
    st.builds(
        OtherInfo,
        priority=BINARY_FLAGS,
        sphere_of_promulgation=OPT_TEXT,
        typer_notation=optional(text(5)),
        promulgation_amount=optional(st.sampled_from(["1", "22"])),
        page_amount=optional(st.sampled_from(["2", "10"])),
        direction=optional(st.sampled_from(["true", "false"])),
        appendixes=st.lists(text(60), max_size=2),
    )
)
to_lists = st.lists(organizations, min_size=1, max_size=3, unique_by=lambda o: o.organ_id)
trace_header_lists = st.lists(
    st.builds(TraceHeader, organ_id=organ_ids, timestamp=timestamps), max_size=2
)
attachment_lists = st.lists(attachments, max_size=3, unique_by=lambda a: a.content_id)
response_for_lists = {
    True: st.lists(response_fors, min_size=1, max_size=2),
    False: st.lists(response_fors, max_size=2),
}
replacement_lists = {
    True: st.lists(replacement_infos, min_size=1, max_size=2),
    False: st.lists(replacement_infos, max_size=2),
}
CODE_NUMBER, CODE_NOTATION, SUBJECT, OPT_CONTENT = text(8), text(12), text(60), optional(text(60))
OPT_PLACE, PLACES = optional(text(30)), st.lists(text(30), max_size=3)


@st.composite
def businesses(draw: st.DrawFn) -> tuple[Business, list[ResponseFor]]:
    """A business block consistent with its type (what a revoke/update/replace must carry)."""
    kind = draw(st.integers(0, 3))
    response_for = draw(response_for_lists[kind == 1])
    document_info = draw(document_infos) if kind == 2 or draw(st.booleans()) else None
    business = Business(
        document_id=draw(OPT_DOCUMENT_ID),
        business_doc_type=kind,
        business_doc_reason=draw(OPT_TEXT),
        paper=draw(BINARY_FLAGS),
        staff_info=draw(OPT_STAFF),
        document_info=document_info,
        replacement_infos=draw(replacement_lists[kind == 3]),
    )
    return business, response_for


BUSINESSES = businesses()


@st.composite
def documents(draw: st.DrawFn) -> EdxmlDocument:
    business, response_for = draw(BUSINESSES)
    return EdxmlDocument(
        from_=draw(organizations),
        to=draw(to_lists),
        document_id=draw(OPT_DOCUMENT_ID),
        code=Code(code_number=draw(CODE_NUMBER), code_notation=draw(CODE_NOTATION)),
        promulgation_info=PromulgationInfo(place=draw(OPT_PLACE), promulgation_date=draw(dates)),
        document_type=draw(document_types),
        subject=draw(SUBJECT),
        content=draw(OPT_CONTENT),
        signer_info=draw(signer_infos),
        due_date=draw(optional(dates)),
        other_info=draw(other_infos),
        steering_type=draw(BINARY_FLAGS),
        to_places=draw(PLACES),
        response_for=response_for,
        trace_headers=draw(trace_header_lists),
        business=business,
        attachments=draw(attachment_lists),
    )


status_messages = st.builds(
    StatusMessage,
    from_=organizations,
    response_for=response_fors,
    staff_info=optional(staff_infos),
    status_code=st.sampled_from(STATUS_CODES),
    description=optional(text(60)),
    timestamp=timestamps,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents())
def test_document_roundtrip(doc: EdxmlDocument) -> None:
    first = build_document(doc)
    parsed = parse_message(first, max_bytes=MAX_BYTES)
    assert parsed.kind == "document"
    assert parsed.document == doc.with_document_id()
    assert parsed.document is not None
    assert build_document(parsed.document) == first


@SETTINGS
@given(status_messages)
def test_status_roundtrip(msg: StatusMessage) -> None:
    first = build_status(msg)
    parsed = parse_message(first, max_bytes=MAX_BYTES)
    assert parsed.kind == "status"
    assert parsed.status == msg
    assert parsed.status is not None
    assert build_status(parsed.status) == first


def test_vietnamese_written_as_utf8_not_escaped() -> None:
    """Receivers read the file; Vietnamese text must appear as UTF-8, not as &#...; refs."""
    data = build_document(make_document(subject=VIETNAMESE))
    assert VIETNAMESE.encode("utf-8") in data
    assert b"&#" not in data.replace(b"&#13;", b"")
