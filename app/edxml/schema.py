"""The edXML element layout, written down once and read by both the parser and the builder.

Each table lists a container's children in the order of SPEC section 3, which is the order the
builder writes; the parser accepts any order (real files differ: the revocation sample puts
ResponseFor before SteeringType). Keeping a single table is what guarantees that every element
the builder writes is one the parser reads back under the same field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
PREFIX = "edXML"


def q(local: str) -> str:
    """Clark name `{ns}local` of an edXML element."""
    return f"{{{NS}}}{local}"


@dataclass(frozen=True, slots=True)
class Leaf:
    """A text element. `conv` says how the parser reads the text before the model sees it."""

    tag: str
    attr: str
    conv: Literal["text", "date", "timestamp"] = "text"
    alt: tuple[str, ...] = ()

    @property
    def many(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Group:
    """A container mapped to a nested model; `many` for directly repeated elements (To*).

    `drop_empty`: a repeated element whose children are all empty is read as absent (the axis
    SDK's own test documents carry an all-empty ResponseFor placeholder in new documents).
    """

    tag: str
    attr: str
    children: tuple[Node, ...]
    many: bool = False
    alt: tuple[str, ...] = ()
    drop_empty: bool = False


@dataclass(frozen=True, slots=True)
class Wrapped:
    """A list held in its own wrapper element: Appendixes{Appendix*}, ReceiverList{Receiver*}."""

    tag: str
    attr: str
    item: Leaf | Group
    alt: tuple[str, ...] = ()

    @property
    def many(self) -> bool:
        return False


Node = Leaf | Group | Wrapped


def key_of(node: Node) -> str:
    """The validation key of a node: the field alias where there is one (`from`)."""
    return "from" if node.attr == "from_" else node.attr


ORGANIZATION: tuple[Node, ...] = (
    Leaf("OrganId", "organ_id"),
    Leaf("OrganizationInCharge", "organization_in_charge"),
    Leaf("OrganName", "organ_name"),
    Leaf("OrganAdd", "organ_add"),
    Leaf("Email", "email"),
    Leaf("Telephone", "telephone"),
    Leaf("Fax", "fax"),
    Leaf("Website", "website"),
)
CODE: tuple[Node, ...] = (Leaf("CodeNumber", "code_number"), Leaf("CodeNotation", "code_notation"))
PROMULGATION_INFO: tuple[Node, ...] = (
    Leaf("Place", "place"),
    Leaf("PromulgationDate", "promulgation_date", "date"),
)
DOCUMENT_TYPE: tuple[Node, ...] = (
    Leaf("Type", "type"),
    Leaf("TypeDetail", "type_detail"),
    Leaf("TypeName", "type_name"),
)
SIGNER_INFO: tuple[Node, ...] = (
    Leaf("Competence", "competence"),
    Leaf("Position", "position"),
    Leaf("FullName", "full_name"),
)
OTHER_INFO: tuple[Node, ...] = (
    Leaf("Priority", "priority"),
    Leaf("SphereOfPromulgation", "sphere_of_promulgation"),
    Leaf("TyperNotation", "typer_notation"),
    Leaf("PromulgationAmount", "promulgation_amount"),
    Leaf("PageAmount", "page_amount"),
    Leaf("Direction", "direction"),
    Wrapped("Appendixes", "appendixes", Leaf("Appendix", "appendixes")),
)
# PromulgationDate stays raw text here (yyyy/MM/dd and yyyy-MM-dd both occur in real traffic).
RESPONSE_FOR: tuple[Node, ...] = (
    Leaf("OrganId", "organ_id"),
    Leaf("Code", "code"),
    Leaf("PromulgationDate", "promulgation_date"),
    Leaf("DocumentId", "document_id"),
)
TRACE_HEADER: tuple[Node, ...] = (
    Leaf("OrganId", "organ_id"),
    Leaf("Timestamp", "timestamp", "timestamp"),
)
STAFF_INFO: tuple[Node, ...] = (
    Leaf("Department", "department"),
    Leaf("Staff", "staff"),
    Leaf("Email", "email"),
    Leaf("Mobile", "mobile"),
)
RECEIVER: tuple[Node, ...] = (Leaf("OrganId", "organ_id"), Leaf("ReceiverType", "receiver_type"))
BUSINESS_DOCUMENT_INFO: tuple[Node, ...] = (
    Leaf("DocumentInfo", "document_info"),
    Leaf("DocumentReceiver", "document_receiver"),
    Wrapped("ReceiverList", "receivers", Group("Receiver", "receivers", RECEIVER)),
)
REPLACEMENT_INFO: tuple[Node, ...] = (
    Leaf("DocumentId", "document_id"),
    Wrapped("OrganIdList", "organ_ids", Leaf("OrganId", "organ_ids")),
)
# "Bussiness" is the standard's spelling and what we write; "Business" (Bkav) is read too.
BUSINESS: tuple[Node, ...] = (
    Leaf("DocumentId", "document_id"),
    Leaf("BussinessDocType", "business_doc_type", alt=("BusinessDocType",)),
    Leaf("BussinessDocReason", "business_doc_reason", alt=("BusinessDocReason",)),
    Leaf("Paper", "paper"),
    Group("StaffInfo", "staff_info", STAFF_INFO),
    Group(
        "BussinessDocumentInfo",
        "document_info",
        BUSINESS_DOCUMENT_INFO,
        alt=("BusinessDocumentInfo",),
    ),
    Wrapped(
        "ReplacementInfoList",
        "replacement_infos",
        Group("ReplacementInfo", "replacement_infos", REPLACEMENT_INFO),
    ),
)

DOCUMENT_HEADER: tuple[Node, ...] = (
    Group("From", "from_", ORGANIZATION),
    Group("To", "to", ORGANIZATION, many=True),
    Leaf("DocumentId", "document_id"),
    Group("Code", "code", CODE),
    Group("PromulgationInfo", "promulgation_info", PROMULGATION_INFO),
    Group("DocumentType", "document_type", DOCUMENT_TYPE),
    Leaf("Subject", "subject"),
    Leaf("Content", "content"),
    Group("SignerInfo", "signer_info", SIGNER_INFO),
    Leaf("DueDate", "due_date", "date"),
    Group("OtherInfo", "other_info", OTHER_INFO),
    Leaf("SteeringType", "steering_type"),
    Wrapped("ToPlaces", "to_places", Leaf("Place", "to_places")),
    Group("ResponseFor", "response_for", RESPONSE_FOR, many=True, drop_empty=True),
)
TRACE_HEADER_LIST: tuple[Node, ...] = (
    Group("TraceHeader", "trace_headers", TRACE_HEADER, many=True),
    Group("Bussiness", "business", BUSINESS, alt=("Business",)),
)
STATUS_HEADER: tuple[Node, ...] = (
    Group("From", "from_", ORGANIZATION),
    Group("ResponseFor", "response_for", RESPONSE_FOR),
    Group("StaffInfo", "staff_info", STAFF_INFO),
    Leaf("StatusCode", "status_code"),
    Leaf("Description", "description"),
    Leaf("Timestamp", "timestamp", "timestamp"),
)
# Manifest Reference and AttachmentEncoded/Attachment (ContentTransferEncoded is handled apart:
# it is the payload, never copied into a model field).
REFERENCE: tuple[Node, ...] = (
    Leaf("ContentId", "content_id"),
    Leaf("ContentType", "content_type"),
    Leaf("Description", "description"),
    Leaf("AttachmentName", "name"),
)
ATTACHMENT: tuple[Node, ...] = (
    Leaf("ContentId", "content_id"),
    Leaf("AttachmentName", "name"),
    Leaf("Description", "description"),
    Leaf("ContentType", "content_type"),
)
