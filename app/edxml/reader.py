"""Reading a checked tree into the edXML models (the second half of a parse).

`app.edxml.parser` has made sure the bytes are safe to hold as a tree; this module reads that
tree against the tables in `schema.py` and validates it with the models. Every element-level
problem is collected with its element path and line, so `validate_message` reports them all
at once. The result is a `ParsedMessage`: the tree (which the signing code signs or verifies
as it is) together with its models.

It is longer than the project's ~600-line guide because it is one traversal: `Interpreter`
walks the schema tables (groups, wrapped lists, leaves) and maps model errors back to the
elements they came from; split, the halves would call each other at every level.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree
from pydantic import ValidationError

from app.edxml import b64, schema
from app.edxml.errors import (
    INVALID,
    EdxmlError,
)
from app.edxml.interop import (
    MANIFEST_CONTENT_TYPE,
    EdxmlWarning,
    content_type_warning,
    magic_head,
)
from app.edxml.models import (
    Attachment,
    EdxmlDocument,
    LazyBase64,
    StatusMessage,
    parse_slash_date,
    parse_slash_timestamp,
)
from app.edxml.schema import Group, Leaf, Node, Wrapped, key_of, q

#: Most element-level errors reported for one message: locating each one walks its container,
#: so an unbounded list would cost quadratic time on a message with 100k bad elements.
MAX_ERRORS = 100

_OMIT: Any = object()  # a blank optional element: read as absent

MessageKind = Literal["document", "status"]
Loc = tuple[str | int, ...]


# --- results ---


@dataclass(frozen=True, slots=True, eq=False)
class ParsedMessage:
    """A checked message: the tree (for signing and verification) and its models.

    Exactly one of `document` / `status` is set, according to `kind`.
    """

    root: etree._Element
    kind: MessageKind
    document: EdxmlDocument | None = None
    status: StatusMessage | None = None
    warnings: tuple[EdxmlWarning, ...] = ()
    """What the hub accepted liberally (SDK habits), for the answer's `warnings[]`."""

    @property
    def message(self) -> EdxmlDocument | StatusMessage:
        """The document or status message, whichever this is."""
        message = self.document if self.document is not None else self.status
        assert message is not None
        return message

    @property
    def attachments(self) -> list[Attachment]:
        return self.document.attachments if self.document is not None else []

    def attachment(self, content_id: str) -> Attachment:
        """The attachment with this ContentId (KeyError if none)."""
        for att in self.attachments:
            if att.content_id == content_id:
                return att
        raise KeyError(content_id)

    def attachment_bytes(self, content_id: str) -> bytes:
        """Decode one attachment now (the others stay encoded in the tree)."""
        return self.attachment(content_id).data

    def iter_attachment_payloads(self) -> Iterator[tuple[Attachment, bytes]]:
        """Each attachment with its decoded bytes, one at a time."""
        for att in self.attachments:
            yield att, att.data


@dataclass(slots=True)
class ValidationOutcome:
    """Everything `validate_message` found: all errors, or the parsed message when none.

    `kind` is known as soon as the envelope could be read, even for an invalid message.
    """

    errors: list[EdxmlError] = field(default_factory=list)
    parsed: ParsedMessage | None = None
    kind: MessageKind | None = None

    @property
    def valid(self) -> bool:
        return self.parsed is not None and not self.errors

    def error_dicts(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.errors]

    def raise_for_errors(self) -> ParsedMessage:
        """The parsed message, or the first error (carrying all of them in `.errors`)."""
        if self.parsed is not None and not self.errors:
            return self.parsed
        first = self.errors[0]
        raise EdxmlError(
            first.code,
            first.detail,
            first.status,
            first.line,
            first.column,
            errors=tuple(self.errors),
        )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _path_join(path: str, tag: str) -> str:
    return f"{path}/{tag}" if path else tag


class _Index:
    """A table prepared for reading: node and validation key by Clark name, and node by local
    name (to spot an element in the wrong namespace)."""

    __slots__ = ("by_clark", "by_local", "names", "tags")

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self.by_clark: dict[str, tuple[Node, str]] = {}
        self.by_local: dict[str, Node] = {}
        self.names: dict[str, str] = {}
        self.tags: dict[str, frozenset[str]] = {}
        for node in nodes:
            key = key_of(node)
            self.names[key] = node.tag
            self.tags[key] = frozenset(q(tag) for tag in (node.tag, *node.alt))
            for tag in (node.tag, *node.alt):
                self.by_clark[q(tag)] = (node, key)
                self.by_local[tag] = node


_indexes: dict[int, _Index] = {}


def _index(nodes: tuple[Node, ...]) -> _Index:
    found = _indexes.get(id(nodes))
    if found is None:
        found = _indexes[id(nodes)] = _Index(nodes)
    return found


class _Where:
    """Where a container's values came from. Only containers are recorded (a few dozen per
    message); leaves are found again from their container when an error needs them."""

    __slots__ = ("element", "index", "item_name", "item_tags", "path")

    def __init__(
        self,
        element: etree._Element,
        path: str,
        index: _Index | None = None,
        item: Leaf | Group | None = None,
    ) -> None:
        self.element = element
        self.path = path
        self.index = index
        self.item_name = item.tag if item is not None else None
        self.item_tags = (
            frozenset(q(t) for t in (item.tag, *item.alt)) if item is not None else None
        )


class Interpreter:
    """Reads one parsed tree into model input, recording where each value came from."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.errors: list[EdxmlError] = []
        self.warnings: list[EdxmlWarning] = []
        self.where: dict[Loc, _Where] = {}
        self.reported: set[Loc] = set()
        self.header: etree._Element | None = None
        self.business_el: etree._Element | None = None

    # -- errors --

    def _error(self, detail: str, element: etree._Element | None, loc: Loc | None = None) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(EdxmlError(INVALID, detail, 422, line_of(element)))
        if loc is not None:
            self.reported.add(loc)

    def _fatal(self, detail: str, element: etree._Element | None) -> ValidationOutcome:
        line = line_of(element)
        return ValidationOutcome(errors=[EdxmlError(INVALID, detail, 422, line)])

    # -- envelope --

    def _single(
        self, parent: etree._Element, local: str, path: str
    ) -> tuple[etree._Element | None, bool]:
        """The one child `local` of `parent` (None if absent), and False if it is repeated.

        A child with that local name in another namespace is reported, not silently missed.
        """
        wanted = q(local)
        found: list[etree._Element] = []
        for child in parent:
            tag = child.tag
            if tag == wanted:
                found.append(child)
            elif isinstance(tag, str) and _local(tag) == local:
                self._error(
                    f"{_path_join(path, local)} is not in the edXML namespace {schema.NS}", child
                )
        if len(found) > 1:
            self._error(f"{_path_join(path, local)} appears more than once", found[1])
            return found[0], False
        return (found[0] if found else None), True

    def run(self) -> ValidationOutcome:
        root = self.root
        if not isinstance(root.tag, str) or root.tag != q("edXML"):
            tag = root.tag if isinstance(root.tag, str) else "?"
            if _local(tag) == "edXML":
                ns = etree.QName(root).namespace or "no namespace"
                return self._fatal(
                    f"the root edXML is in {ns}, expected the namespace {schema.NS}", root
                )
            return self._fatal(f"the root element is {_local(tag)}, expected edXML", root)
        envelope, ok = self._single(root, "edXMLEnvelope", "edXML")
        if envelope is None or not ok:
            return self._fatal_or_collected("edXML/edXMLEnvelope is required", root)
        header, ok = self._single(envelope, "edXMLHeader", "edXMLEnvelope")
        if header is None or not ok:
            return self._fatal_or_collected("edXMLEnvelope/edXMLHeader is required", envelope)
        message_header, ok = self._single(header, "MessageHeader", "edXMLHeader")
        if message_header is None or not ok:
            return self._fatal_or_collected("edXMLHeader/MessageHeader is required", header)
        self.header = message_header
        if message_header.find(q("StatusCode")) is not None:
            return self._status(envelope, message_header)
        return self._document(envelope, header, message_header)

    def _fatal_or_collected(self, detail: str, element: etree._Element) -> ValidationOutcome:
        if self.errors:
            return ValidationOutcome(errors=self.errors)
        return self._fatal(detail, element)

    # -- document --

    def _document(
        self,
        envelope: etree._Element,
        header: etree._Element,
        message_header: etree._Element,
    ) -> ValidationOutcome:
        values = self._read_group(message_header, schema.DOCUMENT_HEADER, (), "MessageHeader")
        trace_list, _ = self._single(header, "TraceHeaderList", "edXMLHeader")
        if trace_list is not None:
            trace_values = self._read_group(
                trace_list, schema.TRACE_HEADER_LIST, (), "TraceHeaderList"
            )
            values.update(trace_values)
        self._stray_business(values, header, message_header)
        business = self.where.get(("business",))
        self.business_el = business.element if business is not None else None
        self.where[()] = _Where(message_header, "MessageHeader", _index(schema.DOCUMENT_HEADER))
        self._check_duplicate_to(values)
        values["attachments"] = self._attachments(envelope)

        try:
            document = EdxmlDocument.model_validate(values)
        except ValidationError as exc:
            self._map_validation_errors(exc)
            document = None
        if self.errors or document is None:
            return self._outcome_with_errors("document")
        return ValidationOutcome(
            parsed=ParsedMessage(
                self.root, "document", document=document, warnings=tuple(self.warnings)
            ),
            kind="document",
        )

    def _stray_business(
        self, values: dict[str, Any], header: etree._Element, message_header: etree._Element
    ) -> None:
        """`Bussiness` outside TraceHeaderList (directly in edXMLHeader or in MessageHeader, as
        some SDK versions write it): one such element means what it would mean in its place,
        so it is read, with a warning. Two of them (or one beside TraceHeaderList's own) are
        ambiguous: refused, naming both."""
        for parent, path in ((header, "edXMLHeader"), (message_header, "MessageHeader")):
            found = [c for c in parent if c.tag in _BUSINESS_TAGS]
            if not found:
                continue
            name = _local(found[0].tag)
            if "business" in values or len(found) > 1:
                first = self.where.get(("business",))
                where = first.path if first is not None and len(found) == 1 else path
                self._error(
                    f"{path}/{name} and {where}/{name} both hold the business information: "
                    "which one holds is ambiguous (keep the one in TraceHeaderList)",
                    found[-1],
                    ("business",),
                )
                continue
            node = _BUSINESS_NODE
            values["business"] = self._read_group(
                found[0], node.children, ("business",), f"{path}/{name}"
            )
            self.warnings.append(
                EdxmlWarning(
                    code="edxml.layout",
                    detail=f"{path}/{name} was read as TraceHeaderList/{name}, "
                    "where QCVN 102:2016 places it",
                )
            )

    def _check_duplicate_to(self, values: dict[str, Any]) -> None:
        """Name the exact repeated To (the model only knows the list)."""
        seen: set[str] = set()
        for i, org in enumerate(values.get("to", [])):
            organ_id = org.get("organ_id") if isinstance(org, dict) else None
            if not isinstance(organ_id, str):
                continue
            organ_id = organ_id.strip()
            if organ_id in seen:
                element, _ = self._locate(("to", i, "organ_id"))
                self._error(
                    f"MessageHeader/To[{i + 1}]/OrganId: {organ_id} appears in more than one To",
                    element,
                    ("to",),
                )
            seen.add(organ_id)

    def _attachments(self, envelope: etree._Element) -> list[dict[str, Any]]:
        """Pair Manifest References with AttachmentEncoded Attachments by ContentId."""
        references: list[tuple[dict[str, Any], etree._Element]] = []
        body, _ = self._single(envelope, "edXMLBody", "edXMLEnvelope")
        if body is not None:
            manifest, _ = self._single(body, "edXMLManifest", "edXMLBody")
            if manifest is not None:
                for i, ref in enumerate(manifest.iterchildren(q("Reference"))):
                    path = f"edXMLManifest/Reference[{i + 1}]"
                    references.append(
                        (self._read_group(ref, schema.REFERENCE, ("manifest", i), path), ref)
                    )
        attachments: list[tuple[dict[str, Any], etree._Element]] = []
        encoded, _ = self._single(self.root, "AttachmentEncoded", "edXML")
        if encoded is not None:
            self.where[("attachments",)] = _Where(encoded, "AttachmentEncoded")
            for i, att in enumerate(encoded.iterchildren(q("Attachment"))):
                path = f"AttachmentEncoded/Attachment[{i + 1}]"
                attachments.append(
                    (self._read_group(att, schema.ATTACHMENT, ("attachments", i), path), att)
                )

        by_id: dict[str, list[tuple[dict[str, Any], etree._Element]]] = {}
        for i, (values, element) in enumerate(attachments):
            cid = _stripped(values.get("content_id"))
            if cid is None:
                self._error(
                    f"AttachmentEncoded/Attachment[{i + 1}]/ContentId is required",
                    element,
                    ("attachments", i, "content_id"),
                )
                continue
            by_id.setdefault(cid, []).append((values, element))
        listed: set[str] = set()
        for i, (ref_values, ref_element) in enumerate(references):
            cid = _stripped(ref_values.get("content_id"))
            if cid is None:
                self._error(f"edXMLManifest/Reference[{i + 1}]/ContentId is required", ref_element)
                continue
            if cid in listed:
                self._error(f"edXMLManifest lists ContentId {cid} twice", ref_element)
                continue
            listed.add(cid)
            matches = by_id.get(cid, [])
            if len(matches) != 1:
                self._error(
                    f"edXMLManifest Reference {cid} needs exactly one Attachment with that "
                    f"ContentId in AttachmentEncoded, found {len(matches)}",
                    ref_element,
                    ("attachments",),  # the model's duplicate-ContentId check says the same
                )
                continue
            self._merge_reference(ref_values, matches[0][0], matches[0][1], cid)
        for cid, matches in by_id.items():
            if cid not in listed:
                self._error(
                    f"AttachmentEncoded Attachment {cid} is not listed in the edXMLManifest",
                    matches[0][1],
                )

        out: list[dict[str, Any]] = []
        for i, (values, element) in enumerate(attachments):
            loc: Loc = ("attachments", i)
            payloads = element.findall(q("ContentTransferEncoded"))
            payload = payloads[0] if payloads else None
            if len(payloads) > 1:
                self._error(
                    f"AttachmentEncoded/Attachment[{i + 1}]/ContentTransferEncoded appears more "
                    "than once",
                    payloads[1],
                    loc,
                )
                values["data"] = b""
            elif payload is None:
                self._error(
                    f"AttachmentEncoded/Attachment[{i + 1}]/ContentTransferEncoded is required",
                    element,
                    loc,
                )
                values["data"] = b""
            else:
                text = _element_text(payload)
                try:
                    size = b64.decoded_size(text)
                except ValueError as exc:
                    self._error(
                        f"AttachmentEncoded/Attachment[{i + 1}]/ContentTransferEncoded: {exc}",
                        payload,
                        loc,
                    )
                    values["data"] = b""
                else:
                    values["data"] = LazyBase64(_text_reader(payload), size)
                    warning = content_type_warning(
                        str(_stripped(values.get("content_id"))),
                        _stripped(values.get("content_type")),
                        magic_head(text),
                    )
                    if warning is not None:
                        self.warnings.append(warning)
                del text
            out.append(values)
        return out

    def _merge_reference(
        self,
        ref: dict[str, Any],
        att: dict[str, Any],
        att_element: etree._Element,
        cid: str,
    ) -> None:
        """Fill the Attachment's metadata from its Reference; refuse contradicting names, since
        a receiver may trust either copy. ContentType is the exception: the SDK writes
        application/zip in every Reference whatever the file, so the Attachment's own type is
        the one used and a difference is only a warning (SPEC section 3)."""
        for key, tag in (("name", "AttachmentName"), ("content_type", "ContentType")):
            a, r = _stripped(att.get(key)), _stripped(ref.get(key))
            if a is not None and r is not None and a != r:
                if key == "content_type":
                    self.warnings.append(
                        EdxmlWarning(
                            MANIFEST_CONTENT_TYPE,
                            f"Attachment {cid}: ContentType {a!r} differs from the Manifest's "
                            f"{r!r}; the Attachment's is used",
                        )
                    )
                    continue
                self._error(
                    f"Attachment {cid}: {tag} {a!r} differs from the Manifest's {r!r}", att_element
                )
            elif a is None and r is not None:
                att[key] = ref[key]
        if _stripped(att.get("description")) is None and ref.get("description") is not None:
            att["description"] = ref["description"]

    # -- status --

    def _status(
        self, envelope: etree._Element, message_header: etree._Element
    ) -> ValidationOutcome:
        values = self._read_group(message_header, schema.STATUS_HEADER, (), "MessageHeader")
        self.where[()] = _Where(message_header, "MessageHeader", _index(schema.STATUS_HEADER))
        has_reference = envelope.find(f"{q('edXMLBody')}/{q('edXMLManifest')}/{q('Reference')}")
        has_attachment = self.root.find(f"{q('AttachmentEncoded')}/{q('Attachment')}")
        if has_reference is not None or has_attachment is not None:
            self._error(
                "a status message carries no attachments (edXMLManifest / AttachmentEncoded)",
                has_reference if has_reference is not None else has_attachment,
            )
        try:
            status = StatusMessage.model_validate(values)
        except ValidationError as exc:
            self._map_validation_errors(exc)
            status = None
        if self.errors or status is None:
            return self._outcome_with_errors("status")
        return ValidationOutcome(
            parsed=ParsedMessage(self.root, "status", status=status), kind="status"
        )

    # -- generic table-driven reading (the hot path: keep it lean) --

    def _read_group(
        self, element: etree._Element, nodes: tuple[Node, ...], loc: Loc, path: str
    ) -> dict[str, Any]:
        index = _index(nodes)
        self.where[loc] = _Where(element, path, index)
        by_clark = index.by_clark
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for child in element:
            tag = child.tag
            entry = by_clark.get(tag) if isinstance(tag, str) else None
            if entry is None:
                if isinstance(tag, str) and _local(tag) in index.by_local:
                    self._error(
                        f"{_path_join(path, _local(tag))} is not in the edXML namespace "
                        f"{schema.NS}",
                        child,
                    )
                continue  # unknown elements (extensions, the envelope Signature) are ignored
            node, key = entry
            value: Any
            if isinstance(node, Group) and node.many:
                items = out.setdefault(key, [])
                i = len(items)
                value = self._read_group(
                    child, node.children, (*loc, key, i), f"{_path_join(path, node.tag)}[{i + 1}]"
                )
                if value or not node.drop_empty:
                    items.append(value)
                continue
            if key in seen:
                self._error(f"{_path_join(path, _local(tag))} appears more than once", child)
                continue
            seen.add(key)
            if isinstance(node, Leaf):
                value = self._read_leaf(child, node, loc, key, path)
            elif isinstance(node, Group):
                value = self._read_group(
                    child, node.children, (*loc, key), _path_join(path, node.tag)
                )
            else:
                value = self._read_wrapped(child, node, (*loc, key), _path_join(path, node.tag))
            if value is not _OMIT:
                out[key] = value
        return out

    def _read_wrapped(
        self, element: etree._Element, node: Wrapped, loc: Loc, path: str
    ) -> list[Any]:
        item = node.item
        where = self.where[loc] = _Where(element, path, item=item)
        tags = where.item_tags or frozenset()
        items: list[Any] = []
        for child in element:
            tag = child.tag
            if tag not in tags:
                if isinstance(tag, str) and _local(tag) in (item.tag, *item.alt):
                    self._error(f"{path}/{_local(tag)} is not in the edXML namespace", child)
                continue
            i = len(items)
            if isinstance(item, Group):
                items.append(
                    self._read_group(child, item.children, (*loc, i), f"{path}/{item.tag}[{i + 1}]")
                )
            else:
                value = self._read_leaf(child, item, loc, i, path)
                if value is not _OMIT:  # blank list items are skipped
                    items.append(value)
        return items

    def _read_leaf(
        self, element: etree._Element, node: Leaf, loc: Loc, key: str | int, path: str
    ) -> Any:
        """The raw text of a leaf (the model strips and checks it), a date or timestamp read
        strictly in the edXML form, or _OMIT when blank or unreadable."""
        text: str | None
        if len(element):
            if any(isinstance(child.tag, str) for child in element):
                self._error(
                    f"{_path_join(path, _leaf_name(node, key))} must hold text, not elements",
                    element,
                    (*loc, key),
                )
                return _OMIT
            text = _element_text(element)
        else:
            text = element.text
        if not text or text.isspace():
            return _OMIT  # empty optional elements are common in real files
        if node.conv == "text":
            return text
        try:
            if node.conv == "date":
                return parse_slash_date(text.strip())
            return parse_slash_timestamp(text.strip())
        except ValueError as exc:
            self._error(f"{_path_join(path, _leaf_name(node, key))}: {exc}", element, (*loc, key))
            return _OMIT

    # -- model errors back to elements --

    def _locate(self, loc: Loc) -> tuple[etree._Element | None, str]:
        """The element (or, if it is missing, its container) and the path for a location."""
        probe = loc
        while probe and probe not in self.where:
            probe = probe[:-1]
        where = self.where.get(probe) or self.where.get(())
        if where is None:
            return self.header, "MessageHeader"
        element: etree._Element | None = where.element
        path = where.path
        for part in loc[len(probe) :]:
            if isinstance(part, int):
                if where.item_tags is not None and element is not None:
                    # the part-th non-blank item of a wrapped list (blank items were skipped)
                    path = f"{path}/{where.item_name}[{part + 1}]"
                    items = [
                        c for c in element if c.tag in where.item_tags and _element_text(c).strip()
                    ]
                    element = items[part] if part < len(items) else element
                else:
                    path = f"{path}[{part + 1}]"
            else:
                index = where.index
                path = _path_join(path, index.names.get(part, part) if index else part)
                if index is not None and element is not None:
                    tags = index.tags.get(part, frozenset())
                    found = next((c for c in element if c.tag in tags), None)
                    element = found if found is not None else element
            if element is not None:
                where = _Where(element, path)
        return element, path

    def _map_validation_errors(self, exc: ValidationError) -> None:
        for err in exc.errors(include_url=False, include_input=False):
            if len(self.errors) >= MAX_ERRORS:
                break
            loc: Loc = tuple(err["loc"])
            if loc in self.reported:
                continue
            if loc == ():
                # Cross-field rule on the whole document (business type vs. content).
                element = self.business_el if self.business_el is not None else self.header
                self.errors.append(
                    EdxmlError(
                        INVALID,
                        f"TraceHeaderList/Bussiness: {err['msg']}",
                        422,
                        line_of(element),
                    )
                )
                continue
            element, path = self._locate(loc)
            if err["type"] == "missing":
                detail = f"{path} is required (missing or empty)"
            else:
                detail = f"{path}: {err['msg']}"
            self.errors.append(EdxmlError(INVALID, detail, 422, line_of(element)))

    def _outcome_with_errors(self, kind: MessageKind) -> ValidationOutcome:
        errors = sorted(self.errors, key=lambda e: e.line or 0)
        return ValidationOutcome(errors=errors, kind=kind)


_BUSINESS_NODE = next(
    n for n in schema.TRACE_HEADER_LIST if isinstance(n, Group) and n.attr == "business"
)
_BUSINESS_TAGS = frozenset(q(t) for t in (_BUSINESS_NODE.tag, *_BUSINESS_NODE.alt))


def _leaf_name(node: Leaf, key: str | int) -> str:
    return f"{node.tag}[{key + 1}]" if isinstance(key, int) else node.tag


def line_of(element: etree._Element | None) -> int | None:
    """Source line of an element (libxml2 keeps it for every parsed node)."""
    if element is None:
        return None
    line = element.sourceline
    return line if isinstance(line, int) else None


def _element_text(element: etree._Element) -> str:
    """Text of a leaf element, ignoring comments and PIs inside it."""
    if len(element):
        return "".join(t for t in element.itertext() if isinstance(t, str))
    return element.text or ""


def _text_reader(element: etree._Element) -> Any:
    def read() -> str:
        return _element_text(element)

    return read


def _stripped(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
