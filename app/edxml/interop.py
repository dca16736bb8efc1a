"""What the national SDK really sends, and what the hub does about it (SPEC section 3).

Pure functions over a parsed or built tree (no database, no HTTP). They change only packages
the hub is about to sign itself: a signed package is never touched, since any change would
break its signature.

- `fill_document_id`: the DocumentId the hub files a document under is written into the
  package, so what a recipient reads is the id the hub accepts back in ResponseFor.
- `add_trace_header`: the hub's own hop (its OrganId, local time), as SDK-built packages carry.
- `strip_placeholder_signature`: the SDK's example `Signature` in the edXML namespace (dummy
  RSA-SHA1 values) is no signature; an XML-DSig one is never touched here.
  `placeholder_removed` hides it only while input that is kept as received is judged.
- `content_type_warning`: an attachment's declared ContentType checked against its bytes' magic.
- `standard_document_id`: a ResponseFor/DocumentId with its date as `yyyy-MM-dd` read as the
  standard `yyyy/MM/dd` form.
- `prepare_package`: all of it, in the order submission needs, returning the `warnings[]`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lxml import etree

from app.core.timeutil import LOCAL_TZ
from app.edxml.models import format_timestamp
from app.edxml.schema import q

PLACEHOLDER_SIGNATURE = "edxml.placeholder_signature"
MANIFEST_CONTENT_TYPE = "edxml.manifest_content_type"
CONTENT_TYPE_MAGIC = "attachment.content_type_magic"
DOCUMENT_ID_MISSING = "edxml.document_id_missing"

_HIDDEN = "LienthongHiddenPlaceholderSignature"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Bytes of an attachment's start needed to recognise it.
MAGIC_BYTES = 8


@dataclass(frozen=True, slots=True)
class EdxmlWarning:
    """Something the hub accepted but a careful sender would fix; `code` is stable."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The `warnings[]` item of the 202 answer and of POST /edxml/validate."""
        return {"code": self.code, "detail": self.detail}


def _header(root: etree._Element) -> etree._Element | None:
    envelope = _child(root.getroottree().getroot(), "edXMLEnvelope")
    return None if envelope is None else _child(envelope, "edXMLHeader")


def _child(parent: etree._Element, local: str) -> etree._Element | None:
    """The first child with this edXML name (iterchildren is C-level; find() parses a path)."""
    return next(parent.iterchildren(q(local)), None)


def _children(parent: etree._Element, local: str) -> list[etree._Element]:
    return list(parent.iterchildren(q(local)))


def _insert_after(
    parent: etree._Element, anchor: etree._Element | None, tag: str
) -> etree._Element:
    """A new child after `anchor` (first child when None), indented like its neighbours."""
    element = etree.Element(tag)
    if anchor is None:
        element.tail = parent.text
        parent.insert(0, element)
    else:
        element.tail = anchor.tail
        anchor.addnext(element)
    return element


def has_any_signature(root: etree._Element) -> bool:
    """An element named Signature in any namespace: input the signing code must judge."""
    return next(root.getroottree().iter("{*}Signature"), None) is not None


def _placeholders(root: etree._Element) -> tuple[etree._Element | None, list[etree._Element]]:
    """edXMLHeader and its placeholder Signatures (none when an XML-DSig one is there too)."""
    header = _header(root)
    if header is None:
        return None, []
    placeholders = _children(header, "Signature")
    if placeholders and sum(1 for _ in root.getroottree().iter("{*}Signature")) != len(
        placeholders
    ):
        return header, []
    return header, placeholders


def strip_placeholder_signature(root: etree._Element) -> bool:
    """Drop the SDK's placeholder `Signature` (edXML namespace, child of edXMLHeader).

    It cannot be an XML-DSig signature whatever its values, so it is no signature. Left in
    place when an XML-DSig Signature is present too: then the signer may have covered it, and
    the signature is checked strictly with everything it signed. True when one was dropped.
    """
    header, placeholders = _placeholders(root)
    if header is None:
        return False
    for element in placeholders:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = element.tail if element.tail is not None else previous.tail
        else:
            header.text = element.tail if element.tail is not None else header.text
        header.remove(element)
    return bool(placeholders)


@contextmanager
def placeholder_removed(root: etree._Element) -> Iterator[list[EdxmlWarning]]:
    """The tree without a placeholder Signature while the block runs, then as received.

    For input that is judged but kept as it came (from the axis): its signature is checked as
    that of unsigned input, and a quarantined copy still shows what the sender wrote (same
    elements, namespaces, text and place; lxml may write the restored element with the
    envelope's `edXML:` prefix). Yields the warnings to record (the placeholder's, or none).
    """
    _, placeholders = _placeholders(root)
    for element in placeholders:
        element.tag = q(_HIDDEN)
    try:
        yield [placeholder_warning()] if placeholders else []
    finally:
        for element in placeholders:
            element.tag = q("Signature")


def _text(element: etree._Element) -> str:
    return "".join(t for t in element.itertext() if isinstance(t, str))


def _message_header(root: etree._Element) -> etree._Element | None:
    header = _header(root)
    return None if header is None else _child(header, "MessageHeader")


def carried_document_id(root: etree._Element) -> str | None:
    """MessageHeader/DocumentId as written in the package (None when absent or blank)."""
    message_header = _message_header(root)
    element = None if message_header is None else _child(message_header, "DocumentId")
    text = None if element is None else _text(element).strip()
    return text or None


def fill_document_id(root: etree._Element, document_id: str) -> bool:
    """Write MessageHeader/DocumentId when the package has none (blank counts as none).

    Placed where the standard puts it: after the last To (else after From). True when written.
    """
    message_header = _message_header(root)
    if message_header is None:
        return False
    existing = _child(message_header, "DocumentId")
    if existing is not None:
        if _text(existing).strip():
            return False
        for child in list(existing):
            existing.remove(child)
        existing.text = document_id
        return True
    anchor = None
    for tag in ("To", "From"):
        found = _children(message_header, tag)
        if found:
            anchor = found[-1]
            break
    _insert_after(message_header, anchor, q("DocumentId")).text = document_id
    return True


def add_trace_header(root: etree._Element, organ_id: str, when: datetime) -> None:
    """Append the hub's TraceHeader (OrganId, local `yyyy/MM/dd HH:mm:ss`) after the others.

    `when` is an aware time (UTC from the hub's clock); a naive one is taken as local time.
    The TraceHeaderList is created after MessageHeader when the package has none.
    """
    header = _header(root)
    message_header = _message_header(root)
    if header is None or message_header is None:
        raise ValueError("not an edXML document (edXMLHeader/MessageHeader missing)")
    local = when.astimezone(LOCAL_TZ) if when.tzinfo is not None else when
    trace_list = _child(header, "TraceHeaderList")
    anchor: etree._Element | None = None
    if trace_list is None:
        outer = _blank(header.text)
        trace_list = _insert_after(header, message_header, q("TraceHeaderList"))
        message_header.tail = outer or message_header.tail
        trace_list.text = _deeper(outer)
        closing = outer
    else:
        traces = _children(trace_list, "TraceHeader")
        anchor = traces[-1] if traces else None
        closing = None
    indent = _blank(trace_list.text)
    trace = _insert_after(trace_list, anchor, q("TraceHeader"))
    if closing is not None:
        trace.tail = closing
    trace.text = _deeper(indent)
    organ = etree.SubElement(trace, q("OrganId"))
    organ.text, organ.tail = organ_id, _deeper(indent)
    stamp = etree.SubElement(trace, q("Timestamp"))
    stamp.text, stamp.tail = format_timestamp(local), indent


def _blank(text: str | None) -> str:
    """Indentation text as found ('' when there is none or it is not whitespace)."""
    return text if text is not None and not text.strip() else ""


def _deeper(indent: str) -> str:
    return indent + "  " if indent.startswith("\n") else indent


def standard_document_id(text: str) -> str:
    """A DocumentId in the standard form: a date written `yyyy-MM-dd` (as one C# client of the
    axis writes ResponseFor/DocumentId) becomes `yyyy/MM/dd`; anything else is left as it is."""
    parts = text.split(",", 2)
    if len(parts) == 3 and _ISO_DATE.fullmatch(parts[1]):
        return f"{parts[0]},{parts[1].replace('-', '/')},{parts[2]}"
    return text


def names_document(response_for_id: str | None, document_id: str) -> bool:
    """True when a ResponseFor/DocumentId names `document_id` (in either date form)."""
    return response_for_id is not None and standard_document_id(response_for_id) == document_id


# -- attachments -----------------------------------------------------------------------------

_PDF = "pdf"
_ZIP = "zip"
_OLE = "ole"
_FAMILY_NAMES = {
    _PDF: "a PDF (%PDF-)",
    _ZIP: "a ZIP container (zip, docx, xlsx, odt)",
    _OLE: "an OLE2 compound file (doc, xls, ppt)",
}
_GENERIC = frozenset({"application/octet-stream", "binary/octet-stream", "application/unknown"})


def magic_family(head: bytes) -> str | None:
    """What the first bytes say the file is: pdf, zip (docx/xlsx/odt too), ole (doc/xls)."""
    if head.startswith(b"%PDF-"):
        return _PDF
    if head.startswith(b"PK\x03\x04"):
        return _ZIP
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return _OLE
    return None


def declared_family(content_type: str | None) -> str | None:
    """The family a ContentType promises (None: a type the magic check does not know)."""
    if not content_type:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in ("application/pdf", "application/x-pdf"):
        return _PDF
    if (
        mime in ("application/zip", "application/x-zip-compressed", "application/x-zip")
        or mime.endswith("+zip")
        or mime.startswith(
            (
                "application/vnd.openxmlformats-officedocument.",
                "application/vnd.oasis.opendocument.",
            )
        )
    ):
        return _ZIP
    if mime in ("application/msword", "application/x-ole-storage") or mime in (
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.visio",
    ):
        return _OLE
    return None


def content_type_warning(
    content_id: str, content_type: str | None, head: bytes
) -> EdxmlWarning | None:
    """A warning when the declared ContentType and the bytes' magic disagree.

    Silent when neither side is known (a text file declared text/plain) or the type is
    generic (application/octet-stream promises nothing).
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if not mime or mime in _GENERIC:
        return None
    promised, found = declared_family(mime), magic_family(head)
    if promised == found:
        return None
    what = _FAMILY_NAMES[found] if found is not None else "not a PDF, ZIP or OLE2 file"
    return EdxmlWarning(
        CONTENT_TYPE_MAGIC,
        f"attachment {content_id} is declared {content_type} but its bytes are {what}",
    )


def magic_head(base64_text: str) -> bytes:
    """The first decoded bytes of a base64 payload (whitespace allowed), without decoding all."""
    chars = "".join(base64_text[:64].split())
    chars = chars[: len(chars) // 4 * 4]
    try:
        return binascii.a2b_base64(chars)[:MAGIC_BYTES]
    except (binascii.Error, ValueError):
        return b""


def placeholder_warning() -> EdxmlWarning:
    return EdxmlWarning(
        PLACEHOLDER_SIGNATURE,
        "the edXMLHeader carried a Signature in the edXML namespace (the SDK's placeholder, not "
        "XML-DSig); it is no signature and was dropped, and the package was signed as unsigned "
        "input",
    )


def _checked(root: etree._Element, document_id: str | None) -> list[EdxmlWarning]:
    """Drop the placeholder; warn when a package that stays signed names no DocumentId."""
    warnings: list[EdxmlWarning] = []
    if strip_placeholder_signature(root):
        warnings.append(placeholder_warning())
    if document_id and has_any_signature(root) and carried_document_id(root) is None:
        warnings.append(
            EdxmlWarning(
                DOCUMENT_ID_MISSING,
                f"the signed package carries no DocumentId; the hub files it as "
                f"{document_id}, and recipients must name that id in ResponseFor",
            )
        )
    return warnings


def prepare_package(
    root: etree._Element, *, document_id: str, hub_organ_id: str, when: datetime
) -> list[EdxmlWarning]:
    """Everything the hub does to a submitted document before it signs or verifies it.

    The placeholder Signature goes; a package the hub will sign gets the DocumentId the hub
    files it under and the hub's TraceHeader. A package already signed is left as it is, with
    a warning when it carries no DocumentId (its recipients cannot read the hub's id).
    """
    warnings = _checked(root, document_id)
    if not has_any_signature(root):
        fill_document_id(root, document_id)
        add_trace_header(root, hub_organ_id, when)
    return warnings


def prepare_for_check(
    root: etree._Element, *, kind: Literal["document", "status"], document_id: str | None
) -> list[EdxmlWarning]:
    """What `prepare_package` would warn about, for POST /edxml/validate: the placeholder is
    dropped from the (throwaway) tree so that its signature is judged as submission would
    judge it. Statuses only lose the placeholder (their DocumentId is in ResponseFor).

    Takes the parsed message's tree and kind, not the `ParsedMessage`: the reader imports
    this module, so this one does not import the reader."""
    return _checked(root, document_id if kind == "document" else None)


def signature_refused(report: dict[str, Any] | None) -> dict[str, Any]:
    """The `errors[]` item of POST /edxml/validate for a signature submission would refuse."""
    if report is None:
        detail = "the signature could not be checked"
    else:
        sub = report.get("sub_indication")
        detail = f"the signature is {report.get('indication')}" + (f" ({sub})" if sub else "")
    return {"code": "signature.invalid", "detail": detail, "line": None, "column": None}
