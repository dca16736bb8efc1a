"""Writing edXML from the models, in the exact shape of the national axis's samples.

Root `edXML` declares the namespace as default; `edXMLEnvelope` declares it again as `edXML:`,
so everything in the envelope is written `edXML:Name`; `AttachmentEncoded` and its children are
unprefixed except `edXML:ContentTransferEncoded`, which carries its own declaration. Receivers
in the wild include DOM code that matches prefixed tag names literally, so the shape matters,
not just the namespace.

The tree is indented before it is returned, so a signature computed over
`build_document_tree(...)` stays valid when that tree is serialised as is (no pretty-printing
at serialisation time, which would change the signed content).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import BinaryIO

from lxml import etree
from pydantic import BaseModel

from app.edxml import schema
from app.edxml.models import EdxmlDocument, StatusMessage, format_date, format_timestamp
from app.edxml.payloads import DetachedPayloads, checked
from app.edxml.schema import Group, Leaf, Node, Wrapped, q

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
MANIFEST_VERSION = "1.0"


def _format(value: object) -> str:
    if isinstance(value, datetime):  # before date: datetime is a date
        return format_timestamp(value)
    if isinstance(value, date):
        return format_date(value)
    return str(value)


def _write_value(parent: etree._Element, node: Leaf | Group, value: object) -> None:
    element = etree.SubElement(parent, q(node.tag))
    if isinstance(node, Group):
        assert isinstance(value, BaseModel)
        _write_group(element, value, node.children)
    else:
        element.text = _format(value)


def _write_group(parent: etree._Element, model: BaseModel, nodes: tuple[Node, ...]) -> None:
    """Write the fields of `model` that are set, in table order; absent ones are omitted."""
    for node in nodes:
        value = getattr(model, node.attr)
        if value is None or (isinstance(value, list) and not value):
            continue
        if isinstance(node, Wrapped):
            wrapper = etree.SubElement(parent, q(node.tag))
            for item in value:
                _write_value(wrapper, node.item, item)
        elif node.many:
            for item in value:
                _write_value(parent, node, item)
        else:
            _write_value(parent, node, value)


def _envelope(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    envelope = etree.SubElement(root, q("edXMLEnvelope"), nsmap={schema.PREFIX: schema.NS})
    header = etree.SubElement(envelope, q("edXMLHeader"))
    return envelope, header


def build_document_tree(doc: EdxmlDocument) -> etree._Element:
    """The edXML tree of a document, DocumentId filled in when absent, ready for signing
    (the signer appends its Signature as the last child of edXMLHeader)."""
    doc = doc.with_document_id()
    root = etree.Element(q("edXML"), nsmap={None: schema.NS})  # type: ignore[dict-item]
    envelope, header = _envelope(root)
    _write_group(etree.SubElement(header, q("MessageHeader")), doc, schema.DOCUMENT_HEADER)
    _write_group(etree.SubElement(header, q("TraceHeaderList")), doc, schema.TRACE_HEADER_LIST)
    body = etree.SubElement(envelope, q("edXMLBody"))
    manifest = etree.SubElement(body, q("edXMLManifest"), version=MANIFEST_VERSION)
    # Written even when empty: naive receivers look these elements up unconditionally.
    encoded = etree.SubElement(root, q("AttachmentEncoded"))
    for att in doc.attachments:
        _write_group(etree.SubElement(manifest, q("Reference")), att, schema.REFERENCE)
        attachment = etree.SubElement(encoded, q("Attachment"))
        _write_group(attachment, att, schema.ATTACHMENT)
        payload = etree.SubElement(
            attachment, q("ContentTransferEncoded"), nsmap={schema.PREFIX: schema.NS}
        )
        # bytes, not str: lxml copies ASCII bytes straight into the tree, saving a str copy.
        payload.text = att.base64_bytes()  # type: ignore[assignment]
    etree.indent(root, space="  ")
    return root


def build_status_tree(msg: StatusMessage) -> etree._Element:
    """The edXML tree of a status message: header only, no body."""
    root = etree.Element(q("edXML"), nsmap={None: schema.NS})  # type: ignore[dict-item]
    _, header = _envelope(root)
    _write_group(etree.SubElement(header, q("MessageHeader")), msg, schema.STATUS_HEADER)
    etree.indent(root, space="  ")
    return root


def serialize(root: etree._Element) -> bytes:
    """UTF-8 bytes with the XML declaration written as the samples write it."""
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"


def serialize_to(
    root: etree._Element, out: BinaryIO, payloads: DetachedPayloads | None = None
) -> None:
    """`serialize`, written to a file: a 70 MB message is not built as one more bytes copy,
    and `payloads` detached from this tree (see `payloads.detach_payloads`) are written in
    slices."""
    out.write(XML_DECLARATION)
    held = checked(payloads, root)
    if held is not None:
        held.write_around(etree.tostring(root, encoding="UTF-8", xml_declaration=False), out.write)
    else:
        etree.ElementTree(root).write(out, encoding="UTF-8", xml_declaration=False)
    out.write(b"\n")


def build_document(doc: EdxmlDocument) -> bytes:
    """edXML bytes of a document (unsigned)."""
    return serialize(build_document_tree(doc))


def build_status(msg: StatusMessage) -> bytes:
    """edXML bytes of a status message (unsigned)."""
    return serialize(build_status_tree(msg))
