"""Pydantic models of edXML (QCVN 102:2016) messages: one shape for XML and for JSON.

The same classes are what the parser returns, what the builder writes, and the body of
`POST /documents` with `Content-Type: application/json`. That keeps one set of rules (lengths,
OrganId format, status codes, business-type consistency) for both entry points.

JSON conventions (differences from the XML wire format):

- snake_case names; `from` is the JSON key of `EdxmlDocument.from_` / `StatusMessage.from_`.
- dates are ISO `2026-11-26` (the XML form `2026/11/26` is accepted too); timestamps ISO
  `2026-11-26T09:30:00`, naive = local time. An aware timestamp is converted to Vietnam time
  (UTC+7, no DST since 1975) and stored naive, because the XML form carries no offset.
- an attachment's bytes come as `data_base64` (standard alphabet, padded); from Python pass
  `data=<bytes>`. The payload is not a pydantic field: it is kept privately so that a parsed
  50 MiB attachment is not decoded until someone asks (see `Attachment`).

Text normalisation: every text field is stripped, and an optional one that is empty or blank
becomes None. Real files indent and leave empty elements; normalising here is what makes
build -> parse -> build byte-stable and model equality meaningful.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.core.timeutil import LOCAL_TZ
from app.edxml import b64

# --- limits (SPEC section 3; MAX_TEXT is ours: a generous cap for fields the SPEC is silent on,
# so that a 40 MB OrganName cannot reach the database) ---
MAX_TEXT = 2000
MAX_SUBJECT = 500
MAX_CONTENT = 500
MAX_PLACE = 150
MAX_APPENDIX = 250
MAX_ATTACHMENT_NAME = 200
MAX_ORGAN_ID = 35
# Ours too: what the hub files a document under (DocumentId, "number/notation") has to fit
# its columns; real codes are a few dozen characters.
MAX_CODE_PART = 99  # CodeNumber, CodeNotation: "number/notation" stays within 200
MAX_DOCUMENT_ID = 300

STATUS_CODES: tuple[str, ...] = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
StatusCodeLiteral = Literal["01", "02", "03", "04", "05", "06", "13", "15", "16"]

#: Business types (BussinessDocType).
BUSINESS_NEW, BUSINESS_REVOKE, BUSINESS_UPDATE, BUSINESS_REPLACE = 0, 1, 2, 3

_ORGAN_ID_RE = re.compile(r"[0-9A-Z]+(?:\.[0-9A-Z]+)*")
_SLASH_DATE_RE = re.compile(r"(\d{4})/(\d{2})/(\d{2})")
_SLASH_TIMESTAMP_RE = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")
# Characters XML 1.0 cannot carry at all (control characters, lone surrogates, U+FFFE/FFFF).
_NOT_XML_CHAR_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def organ_id_is_valid(value: object) -> bool:
    """True for an OrganId per Decision 20/2020/QĐ-TTg: ≤35 chars of 0-9 A-Z, dot-separated
    non-empty groups. Shared with the directory so the hub has one definition."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_ORGAN_ID
        and _ORGAN_ID_RE.fullmatch(value) is not None
    )


def format_date(value: date) -> str:
    """edXML date `yyyy/MM/dd` (zero-padded year, unlike strftime for years < 1000)."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: datetime) -> str:
    """edXML timestamp `yyyy/MM/dd HH:mm:ss`, local time."""
    return f"{format_date(value)} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"


def parse_slash_date(text: str) -> date:
    """Strict `yyyy/MM/dd`; ValueError otherwise."""
    m = _SLASH_DATE_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a date in the form yyyy/MM/dd")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"{text!r} is not a calendar date") from None


def parse_slash_timestamp(text: str) -> datetime:
    """Strict `yyyy/MM/dd HH:mm:ss`; ValueError otherwise."""
    m = _SLASH_TIMESTAMP_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a timestamp in the form yyyy/MM/dd HH:mm:ss")
    try:
        y, mo, d, h, mi, sec = (int(g) for g in m.groups())
        return datetime(y, mo, d, h, mi, sec)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date and time") from None


# --- annotated field types ---


def _xml_chars(value: str) -> str:
    if _NOT_XML_CHAR_RE.search(value):
        raise PydanticCustomError(
            "xml_char", "contains a character XML 1.0 cannot carry (control or lone surrogate)"
        )
    return value


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _check_organ_id(value: str) -> str:
    if not organ_id_is_valid(value):
        raise PydanticCustomError(
            "organ_id",
            # pydantic fills `{value}` with str(value) and knows no `!r`: quote it here.
            "{value} is not an OrganId (at most 35 characters of 0-9 A-Z in dot-separated groups)",
            {"value": repr(value[:60])},
        )
    return value


def _slash_date_in(value: Any) -> Any:
    if isinstance(value, str) and "/" in value:
        try:
            return parse_slash_date(value.strip())
        except ValueError as exc:
            raise PydanticCustomError("edxml_date", str(exc)) from None
    return value


def _slash_timestamp_in(value: Any) -> Any:
    if isinstance(value, str) and "/" in value:
        try:
            return parse_slash_timestamp(value.strip())
        except ValueError as exc:
            raise PydanticCustomError("edxml_timestamp", str(exc)) from None
    return value


def _local_naive(value: datetime) -> datetime:
    # The XML form has whole seconds and no offset: normalise so that a model survives a trip.
    if value.tzinfo is not None:
        value = value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _strip_each(max_len: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_len)


Text = Annotated[str, _strip_each(MAX_TEXT), AfterValidator(_xml_chars)]
OptText = Annotated[Text | None, BeforeValidator(_blank_to_none)]

# RFC 6838 type/subtype (restricted-name), then RFC 9110 parameters (token or quoted-string).
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t !-~])*"'
MIME_TYPE_RE = re.compile(
    rf"{_MIME_NAME}/{_MIME_NAME}"
    rf"(?:[ \t]*;[ \t]*{_MIME_TOKEN}=(?:{_MIME_TOKEN}|{_MIME_QUOTED}))*"
)


def is_mime_type(value: str) -> bool:
    """RFC 6838 syntax: what can go into a Content-Type header as is (no CR/LF, no controls)."""
    return MIME_TYPE_RE.fullmatch(value) is not None


def _check_mime_type(value: str) -> str:
    if not is_mime_type(value):
        raise PydanticCustomError(
            "mime_type",
            "{value} is not a media type (type/subtype with optional ;name=value parameters)",
            {"value": repr(value[:60])},
        )
    return value


OptMimeType = Annotated[
    Text | None,
    BeforeValidator(_blank_to_none),
    AfterValidator(lambda v: None if v is None else _check_mime_type(v)),
]
SubjectText = Annotated[str, _strip_each(MAX_SUBJECT), AfterValidator(_xml_chars)]
ContentText = Annotated[
    Annotated[str, _strip_each(MAX_CONTENT), AfterValidator(_xml_chars)] | None,
    BeforeValidator(_blank_to_none),
]
PlaceText = Annotated[str, _strip_each(MAX_PLACE), AfterValidator(_xml_chars)]
OptPlaceText = Annotated[PlaceText | None, BeforeValidator(_blank_to_none)]
AppendixText = Annotated[str, _strip_each(MAX_APPENDIX), AfterValidator(_xml_chars)]
AttachmentNameText = Annotated[str, _strip_each(MAX_ATTACHMENT_NAME), AfterValidator(_xml_chars)]
CodeText = Annotated[str, _strip_each(MAX_CODE_PART), AfterValidator(_xml_chars)]
DocumentIdText = Annotated[str, _strip_each(MAX_DOCUMENT_ID), AfterValidator(_xml_chars)]
OptDocumentIdText = Annotated[DocumentIdText | None, BeforeValidator(_blank_to_none)]
OrganId = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_organ_id)]
OptOrganId = Annotated[OrganId | None, BeforeValidator(_blank_to_none)]
EdxmlDate = Annotated[date, BeforeValidator(_slash_date_in)]
EdxmlTimestamp = Annotated[
    datetime, BeforeValidator(_slash_timestamp_in), AfterValidator(_local_naive)
]
StatusCode = Annotated[StatusCodeLiteral, BeforeValidator(_strip)]
BusinessDocType = Annotated[int, Field(ge=0, le=3)]
ReceiverType = Annotated[int, Field(ge=0, le=1)]


class _Model(BaseModel):
    """Strict about unknown JSON keys (a typo must not silently drop a field)."""

    model_config = ConfigDict(
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class Organization(_Model):
    """From / To: an agency, identified by its OrganId."""

    organ_id: OrganId
    organization_in_charge: OptText = None
    organ_name: OptText = None
    organ_add: OptText = None
    email: OptText = None
    telephone: OptText = None
    fax: OptText = None
    website: OptText = None


class Code(_Model):
    """Số / ký hiệu: the number and notation of the document (both part of DocumentId)."""

    code_number: CodeText
    code_notation: CodeText


class PromulgationInfo(_Model):
    place: OptPlaceText = None
    promulgation_date: EdxmlDate


class DocumentType(_Model):
    type: OptText = None
    type_detail: OptText = None
    type_name: OptText = None


class SignerInfo(_Model):
    competence: OptText = None
    position: OptText = None
    full_name: OptText = None


class OtherInfo(_Model):
    """Kept as text: the code lists (Priority, Direction, ...) are not normative enough to type."""

    priority: OptText = None
    sphere_of_promulgation: OptText = None
    typer_notation: OptText = None
    promulgation_amount: OptText = None
    page_amount: OptText = None
    direction: OptText = None
    appendixes: list[AppendixText] = Field(default_factory=list)


class ResponseFor(_Model):
    """The document answered, revoked or reported on.

    `promulgation_date` stays raw text: real senders write both yyyy/MM/dd and yyyy-MM-dd here,
    and nothing in the hub computes with it (the DocumentId is what identifies the target).
    """

    organ_id: OptOrganId = None
    code: OptText = None
    promulgation_date: OptText = None
    document_id: OptText = None


class TraceHeader(_Model):
    organ_id: OrganId
    timestamp: EdxmlTimestamp


class StaffInfo(_Model):
    department: OptText = None
    staff: OptText = None
    email: OptText = None
    mobile: OptText = None


class Receiver(_Model):
    """Update (type 2) receiver-list change: receiver_type 0 = newly added, 1 = removed."""

    organ_id: OrganId
    receiver_type: ReceiverType


class BusinessDocumentInfo(_Model):
    document_info: OptText = None
    document_receiver: OptText = None
    receivers: list[Receiver] = Field(default_factory=list)


class ReplacementInfo(_Model):
    """Replace (type 3): a replaced DocumentId and the organizations that had received it."""

    document_id: Text
    organ_ids: list[OrganId] = Field(default_factory=list)


class Business(_Model):
    """`Bussiness`: what the message does to the document (0 new, 1 revoke, 2 update, 3 replace)."""

    document_id: OptText = None
    business_doc_type: BusinessDocType = BUSINESS_NEW
    business_doc_reason: OptText = None
    paper: OptText = None
    staff_info: StaffInfo | None = None
    document_info: BusinessDocumentInfo | None = None
    replacement_infos: list[ReplacementInfo] = Field(default_factory=list)


class LazyBase64:
    """An attachment payload still sitting, base64-encoded, in a parsed message's XML tree.

    `read_text` returns the base64 text; `size` is the decoded length, measured (and the text
    validated) once at parse time.
    """

    __slots__ = ("read_text", "size")

    def __init__(self, read_text: Callable[[], str], size: int) -> None:
        self.read_text = read_text
        self.size = size


def _attachment_schema_extra(schema: dict[str, Any]) -> None:
    schema.setdefault("properties", {})["data_base64"] = {
        "type": "string",
        "contentEncoding": "base64",
        "description": "The attachment's bytes, standard base64 with padding.",
    }
    schema.setdefault("required", []).append("data_base64")


class Attachment(_Model):
    """One attached file.

    Memory design: the payload is held privately, either as bytes (built from JSON or Python:
    `Attachment(..., data=b"...")` or `{"data_base64": "..."}` in JSON) or, for a parsed message,
    as a reference to the base64 text inside the parsed tree (`LazyBase64`). A parsed 50 MiB
    attachment therefore costs nothing until `data` or `iter_chunks()` is used, and its base64
    was already validated strictly at parse time. `data` decodes afresh on every access from a
    parsed tree: keep the result if you need it twice, or stream with `iter_chunks()`.
    Serialising the model (model_dump) gives the metadata only, never the payload.
    """

    model_config = ConfigDict(json_schema_extra=_attachment_schema_extra)

    content_id: Text
    name: AttachmentNameText
    description: OptText = None
    content_type: OptMimeType = None

    _data: bytes | None = PrivateAttr(default=None)
    _lazy: LazyBase64 | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _take_payload(cls, value: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Pull `data` / `data_base64` out of the input before field validation."""
        if not isinstance(value, dict):
            return handler(value)  # an Attachment instance: keep it (and its payload) as is
        fields = dict(value)
        data = fields.pop("data", None)
        data_b64 = fields.pop("data_base64", None)
        model = handler(fields)
        if (data is None) == (data_b64 is None):
            raise PydanticCustomError(
                "attachment_payload", "give exactly one of data (bytes) or data_base64 (text)"
            )
        if isinstance(data, LazyBase64):
            model._lazy = data
        elif isinstance(data, bytes | bytearray | memoryview):
            model._data = bytes(data)
        elif data is not None:
            raise PydanticCustomError(
                "attachment_payload", "data must be bytes; in JSON use data_base64"
            )
        elif isinstance(data_b64, str):
            try:
                model._data = b64.decode(data_b64)
            except ValueError as exc:
                raise PydanticCustomError(
                    "base64", "data_base64 is not valid base64: {reason}", {"reason": str(exc)}
                ) from None
        else:
            raise PydanticCustomError("attachment_payload", "data_base64 must be a string")
        return model

    @property
    def data(self) -> bytes:
        """The decoded bytes (decoded now if they still live in a parsed tree)."""
        if self._data is not None:
            return self._data
        assert self._lazy is not None, "Attachment without payload"
        return b64.decode(self._lazy.read_text())

    @property
    def size(self) -> int:
        """Decoded size in bytes, without decoding."""
        if self._data is not None:
            return len(self._data)
        assert self._lazy is not None, "Attachment without payload"
        return self._lazy.size

    def iter_chunks(self, chunk_chars: int = b64.CHUNK_CHARS) -> Iterator[bytes]:
        """Yield the decoded bytes piece by piece (about 3/4 of `chunk_chars` each), so a large
        attachment can be written to storage without a whole decoded copy in memory."""
        if self._data is not None:
            step = chunk_chars // 4 * 3 or 3
            for start in range(0, len(self._data), step):
                yield self._data[start : start + step]
            return
        assert self._lazy is not None, "Attachment without payload"
        yield from b64.iter_decode(self._lazy.read_text(), chunk_chars)

    def base64_bytes(self) -> bytes:
        """The payload as canonical base64 (one line, padded), for the builder."""
        return b64.encode(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attachment):
            return NotImplemented
        return (
            self.content_id == other.content_id
            and self.name == other.name
            and self.description == other.description
            and self.content_type == other.content_type
            and self.size == other.size
            and self.data == other.data
        )

    __hash__ = None  # type: ignore[assignment]


def business_problem(business: Business, response_for: list[ResponseFor]) -> tuple[str, str] | None:
    """Why a document's business type does not fit what it carries, as (element, message).

    A revoke names its targets in ResponseFor, an update says what changed, a replace says
    what it replaces; without that the hub cannot act on it, so it is refused up front.
    """
    kind = business.business_doc_type
    if kind == BUSINESS_REVOKE and (
        not response_for or any(r.document_id is None for r in response_for)
    ):
        return (
            "ResponseFor",
            "BussinessDocType 1 (revoke) needs at least one ResponseFor, each with the "
            "DocumentId of the revoked document",
        )
    if kind == BUSINESS_UPDATE and business.document_info is None:
        return ("BussinessDocumentInfo", "BussinessDocType 2 (update) needs BussinessDocumentInfo")
    if kind == BUSINESS_REPLACE and not business.replacement_infos:
        return (
            "ReplacementInfoList",
            "BussinessDocType 3 (replace) needs a ReplacementInfoList with a ReplacementInfo",
        )
    return None


class EdxmlDocument(_Model):
    """A document message (business type new, revoke, update or replace)."""

    from_: Organization = Field(alias="from")
    to: list[Organization]
    document_id: OptDocumentIdText = None
    code: Code
    promulgation_info: PromulgationInfo
    document_type: DocumentType | None = None
    subject: SubjectText
    content: ContentText = None
    signer_info: SignerInfo | None = None
    due_date: EdxmlDate | None = None
    other_info: OtherInfo | None = None
    steering_type: OptText = None
    to_places: list[PlaceText] = Field(default_factory=list)
    response_for: list[ResponseFor] = Field(default_factory=list)
    trace_headers: list[TraceHeader] = Field(default_factory=list)
    business: Business = Field(default_factory=Business)
    attachments: list[Attachment] = Field(default_factory=list)

    @field_validator("to")
    @classmethod
    def _to_unique(cls, value: list[Organization]) -> list[Organization]:
        if not value:
            raise PydanticCustomError("to_required", "at least one To is required")
        seen: set[str] = set()
        for org in value:
            if org.organ_id in seen:
                raise PydanticCustomError(
                    "duplicate_to",
                    "OrganId {organ_id} appears in more than one To",
                    {"organ_id": org.organ_id},
                )
            seen.add(org.organ_id)
        return value

    @field_validator("attachments")
    @classmethod
    def _content_ids_unique(cls, value: list[Attachment]) -> list[Attachment]:
        seen: set[str] = set()
        for att in value:
            if att.content_id in seen:
                raise PydanticCustomError(
                    "duplicate_content_id",
                    "ContentId {content_id} is used by more than one attachment",
                    {"content_id": att.content_id},
                )
            seen.add(att.content_id)
        return value

    @model_validator(mode="after")
    def _business_consistent(self) -> Self:
        problem = business_problem(self.business, self.response_for)
        if problem is not None:
            raise PydanticCustomError("business_type", problem[1])
        return self

    @property
    def business_type(self) -> int:
        """0 new, 1 revoke, 2 update, 3 replace."""
        return self.business.business_doc_type

    def compute_document_id(self) -> str:
        """The standard DocumentId: `<issuer OrganId>,<yyyy/MM/dd>,<CodeNumber>/<CodeNotation>`."""
        return (
            f"{self.from_.organ_id},{format_date(self.promulgation_info.promulgation_date)},"
            f"{self.code.code_number}/{self.code.code_notation}"
        )

    @property
    def effective_document_id(self) -> str:
        """The DocumentId the message carries, or the standard one when it carries none."""
        return self.document_id or self.compute_document_id()

    def with_document_id(self) -> EdxmlDocument:
        """This document with DocumentId filled in when absent (the hub fills it, SPEC §3)."""
        if self.document_id is not None:
            return self
        return self.model_copy(update={"document_id": self.compute_document_id()})


class StatusMessage(_Model):
    """A business status report about a received document (no body, no attachments)."""

    from_: Organization = Field(alias="from")
    response_for: ResponseFor
    staff_info: StaffInfo | None = None
    status_code: StatusCode
    description: OptText = None
    timestamp: EdxmlTimestamp

    @field_validator("response_for")
    @classmethod
    def _names_document(cls, value: ResponseFor) -> ResponseFor:
        if value.document_id is None:
            raise PydanticCustomError(
                "document_id_required",
                "ResponseFor/DocumentId is required: it names the document the status is about",
            )
        return value
