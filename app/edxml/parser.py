"""Safe, single-pass parsing of edXML messages.

One request, one parse: `parse_message` returns the lxml tree together with the models, so the
signing code verifies or signs the very tree that was checked here.

Defences, in the order they run (all before the tree is interpreted):

1. size: more than `max_bytes` is `payload.too_large` before any XML is read;
2. prolog pre-scan of the raw bytes: a DOCTYPE (hence any entity declaration) is refused with
   `edxml.forbidden_construct` before libxml2 sees it; only UTF-8 is accepted;
3. markup budget: the number of `<`, `=` and `xmlns` bytes bounds how many nodes, attributes
   and namespace declarations libxml2 can allocate, so 50 MB of `<a/>` cannot become gigabytes
   of tree (base64 holds none of them, except for two padding characters per attachment);
4. libxml2 with resolve_entities=False, no_network, no DTD loading and huge_tree. huge_tree is
   needed because one base64 text node exceeds libxml2's 10 MB default; it also switches off
   libxml2's entity-amplification guard, which is why (2) refuses every DOCTYPE beforehand and
   the document info is checked again after the parse;
5. after the parse: depth (MAX_DEPTH), attribute length (MAX_ATTRIBUTE_CHARS), attributes per
   element, namespace declarations per element, namespace URI length.

The totals alone are not enough: libxml2's exclusive C14N is quadratic in the attributes of one
element (an outside probe's 199 000 attributes, 2.3 MB, took 210 s to accept), and it repeats a namespace
declaration on every element that uses it when no rendered ancestor did (a 100 kB namespace
URI used by 1000 empty elements canonicalized to 100 MB). With the caps below, C14N's cost and
output stay linear in the input.

Then the tree is read against the tables in `schema.py` and validated by the models; every
element-level problem is collected with its element path and line, so `validate_message` can
report them all at once.
"""

from __future__ import annotations

import codecs
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Literal, cast

from lxml import etree
from pydantic import ValidationError

from app.edxml import b64, schema
from app.edxml.errors import (
    FORBIDDEN_CONSTRUCT,
    INVALID,
    MALFORMED,
    PAYLOAD_TOO_LARGE,
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

#: Deepest element allowed, counting the root as 1. The format itself needs 9
#: (edXML/…/Bussiness/ReplacementInfoList/ReplacementInfo/OrganIdList/OrganId); the margin is
#: for the signature subtree under edXMLHeader (XML-DSig needs 9, XAdES properties reach 13).
MAX_DEPTH = 16
#: Longest attribute value (edXML has `version="1.0"`, XML-DSig has algorithm URIs).
MAX_ATTRIBUTE_CHARS = 1024
#: Most `<` bytes in a message: ~100k elements. A document to 600 recipients uses ~15k.
MAX_MARKUP = 200_000
#: Most `=` bytes in a message, an upper bound on its attributes and namespace declarations.
#: edXML itself has one attribute; a signature a few dozen.
MAX_ATTRIBUTES = 20_000
#: Most attributes on one element (XML-DSig and XAdES use at most four).
MAX_ATTRIBUTES_PER_ELEMENT = 16
#: Most namespace declarations in a message (counted as the raw `xmlns` bytes, before parsing)
#: and on one element (after). Real files declare two to five.
MAX_NAMESPACE_DECLARATIONS = 64
MAX_NAMESPACES_PER_ELEMENT = 16
#: Longest namespace URI (the ones edXML and XML-DSig use are under 60 characters).
MAX_NAMESPACE_URI_CHARS = 256
#: Most element-level errors reported for one message: locating each one walks its container,
#: so an unbounded list would cost quadratic time on a message with 100k bad elements.
MAX_ERRORS = 100
#: Longest prolog (XML declaration, comments, PIs) before the root element.
MAX_PROLOG = 64 * 1024

MessageKind = Literal["document", "status"]
Loc = tuple[str | int, ...]

_FILE_CHUNK = 1 << 16
_UTF8_NAMES = frozenset({b"utf-8", b"utf8"})
_POSITION_SUFFIX_RE = re.compile(r", line \d+, column \d+$")
_ENCODING_RE = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_FORBIDDEN_PARSE_ERRORS = frozenset(
    {
        etree.ErrorTypes.ERR_RESOURCE_LIMIT,
        etree.ErrorTypes.ERR_ENTITY_LOOP,
        etree.ErrorTypes.ERR_ENTITYREF_IN_PROLOG,
        etree.ErrorTypes.ERR_ENTITYREF_IN_DTD,
    }
)
_TOO_DEEP = "/".join(["*"] * MAX_DEPTH)
_LONG_ATTRIBUTES = f"//@*[string-length(.) > {MAX_ATTRIBUTE_CHARS}]"
_CROWDED_ELEMENT = f"//@*[{MAX_ATTRIBUTES_PER_ELEMENT + 1}]"


class _Tools(threading.local):
    """Per-thread parser and compiled XPaths: lxml parsers must not be shared between threads.

    The parser is replaced after a failed parse, because lxml keeps a reused parser's error
    log across failures: a stream of bad input would otherwise grow it without bound.
    """

    def __init__(self) -> None:
        self.parser = self.new_parser()
        self.too_deep = etree.XPath(_TOO_DEEP)
        self.long_attributes = etree.XPath(_LONG_ATTRIBUTES)
        self.crowded_element = etree.XPath(_CROWDED_ELEMENT)

    @staticmethod
    def new_parser() -> etree.XMLParser:
        return etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=True,
            # Comments are outside what XML-DSig signs (C14N without comments), and a comment
            # inside a text field would cut what `.text` returns: drop them at parse time.
            remove_comments=True,
            remove_pis=False,
            recover=False,
        )


_tools = _Tools()


def _parser() -> etree.XMLParser:
    return _tools.parser


def _discard_parser() -> None:
    _tools.parser = _Tools.new_parser()


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


# --- public entry points ---


def validate_message(data: bytes, *, max_bytes: int) -> ValidationOutcome:
    """Check one message completely, collecting every element-level error."""
    try:
        if len(data) > max_bytes:
            raise EdxmlError(
                PAYLOAD_TOO_LARGE, f"the message is {len(data)} bytes, more than {max_bytes}"
            )
        _check_prolog(data[: MAX_PROLOG + 1])
        _check_markup_budget(data.count(b"<"), data.count(b"="), data.count(b"xmlns"))
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            _discard_parser()
            raise _syntax_error(exc) from None
        _check_tree(root)
    except EdxmlError as exc:
        return ValidationOutcome(errors=[exc])
    return _Interpreter(root).run()


def parse_message(data: bytes, *, max_bytes: int) -> ParsedMessage:
    """Parse and check one message; raise EdxmlError (first problem, all in `.errors`)."""
    return validate_message(data, max_bytes=max_bytes).raise_for_errors()


def validate_file(path: str | os.PathLike[str], *, max_bytes: int) -> ValidationOutcome:
    """Like `validate_message`, reading from a file in 64 KiB pieces.

    For large bodies spooled to disk: the raw bytes are never all in memory, only the tree.
    """
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise EdxmlError(
                PAYLOAD_TOO_LARGE, f"the message is {size} bytes, more than {max_bytes}"
            )
        with open(path, "rb") as fh:
            _check_prolog(fh.read(MAX_PROLOG + 1))
            fh.seek(0)
            reader = _GuardedReader(fh, max_bytes)
            try:
                tree = etree.parse(cast(Any, reader), _parser())
            except etree.XMLSyntaxError as exc:
                _discard_parser()
                if reader.error is not None:
                    raise reader.error from None
                raise _syntax_error(exc) from None
            except _BudgetExceeded:
                _discard_parser()
                assert reader.error is not None
                raise reader.error from None
            if reader.error is not None:
                raise reader.error
        root = tree.getroot()
        _check_tree(root)
    except EdxmlError as exc:
        return ValidationOutcome(errors=[exc])
    return _Interpreter(root).run()


def parse_file(path: str | os.PathLike[str], *, max_bytes: int) -> ParsedMessage:
    """Like `parse_message`, from a file (see `validate_file`)."""
    return validate_file(path, max_bytes=max_bytes).raise_for_errors()


# --- pre-parse and post-parse checks ---


def _position(buf: bytes, index: int) -> tuple[int, int]:
    line = buf.count(b"\n", 0, index) + 1
    return line, index - (buf.rfind(b"\n", 0, index) + 1) + 1


def _check_prolog(head: bytes) -> None:
    """Refuse a DOCTYPE (so any entity declaration) and non-UTF-8 input from the raw bytes.

    `head` is the first MAX_PROLOG + 1 bytes. The scan follows the XML grammar of the prolog
    (declaration, whitespace, comments, PIs); it stops at the first other markup and leaves
    anything malformed to the parser.
    """
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in head[:4]:
        raise EdxmlError(
            INVALID, "edXML must be encoded in UTF-8 (found UTF-16 or UTF-32)", 422, 1, 1
        )
    i = 3 if head.startswith(codecs.BOM_UTF8) else 0
    if head.startswith(b"<?xml", i) and head[i + 5 : i + 6] in (b" ", b"\t", b"\r", b"\n"):
        end = head.find(b"?>", i)
        if end < 0:
            return
        m = _ENCODING_RE.search(head, i, end)
        if m is not None and m[1].lower() not in _UTF8_NAMES:
            raise EdxmlError(
                INVALID,
                f"edXML must be encoded in UTF-8, the declaration says {m[1].decode('ascii', 'replace')!r}",
                422,
                1,
                m.start(1) + 1,
            )
        i = end + 2
    n = len(head)
    while True:
        while i < n and head[i] in b" \t\r\n":
            i += 1
        if i > MAX_PROLOG:
            raise EdxmlError(FORBIDDEN_CONSTRUCT, f"the prolog is longer than {MAX_PROLOG} bytes")
        if i >= n:
            return
        if head.startswith(b"<!--", i):
            end = head.find(b"-->", i + 4)
            if end < 0:
                if n > MAX_PROLOG:
                    raise EdxmlError(
                        FORBIDDEN_CONSTRUCT, f"the prolog is longer than {MAX_PROLOG} bytes"
                    )
                return
            i = end + 3
        elif head.startswith(b"<?", i):
            end = head.find(b"?>", i + 2)
            if end < 0:
                if n > MAX_PROLOG:
                    raise EdxmlError(
                        FORBIDDEN_CONSTRUCT, f"the prolog is longer than {MAX_PROLOG} bytes"
                    )
                return
            i = end + 2
        elif head.startswith(b"<!", i):
            line, column = _position(head, i)
            raise EdxmlError(
                FORBIDDEN_CONSTRUCT,
                "DOCTYPE and entity declarations are not allowed in edXML",
                422,
                line,
                column,
            )
        else:
            return


def _check_markup_budget(lt: int, eq: int, xmlns: int) -> None:
    if lt > MAX_MARKUP:
        raise EdxmlError(FORBIDDEN_CONSTRUCT, f"too much markup: more than {MAX_MARKUP} elements")
    if eq > MAX_ATTRIBUTES:
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT, f"too much markup: more than {MAX_ATTRIBUTES} attributes"
        )
    if xmlns > MAX_NAMESPACE_DECLARATIONS:
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT,
            f"too many namespace declarations: more than {MAX_NAMESPACE_DECLARATIONS}",
        )


class _BudgetExceeded(Exception):
    """Raised inside lxml's read() to stop parsing a file; the real error is on the reader."""


class _GuardedReader:
    """File wrapper for lxml that enforces the size and markup budgets while reading."""

    def __init__(self, fh: IO[bytes], max_bytes: int) -> None:
        self._fh = fh
        self._max_bytes = max_bytes
        self._total = 0
        self._lt = 0
        self._eq = 0
        self._xmlns = 0
        self._tail = b""  # the last bytes of the previous chunk: `xmlns` may straddle two
        self.error: EdxmlError | None = None

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size if size and size > 0 else _FILE_CHUNK)
        self._total += len(chunk)
        self._lt += chunk.count(b"<")
        self._eq += chunk.count(b"=")
        self._xmlns += (self._tail + chunk).count(b"xmlns")
        self._tail = (self._tail + chunk)[-4:]
        try:
            if self._total > self._max_bytes:
                raise EdxmlError(
                    PAYLOAD_TOO_LARGE, f"the message is more than {self._max_bytes} bytes"
                )
            _check_markup_budget(self._lt, self._eq, self._xmlns)
        except EdxmlError as exc:
            self.error = exc
            raise _BudgetExceeded from None
        return chunk


def _syntax_error(exc: etree.XMLSyntaxError) -> EdxmlError:
    """Map a libxml2 error: resource limits and entity tricks are forbidden constructs, the rest
    is malformed XML.

    The exception's own code, message and position are used, not its error_log: lxml keeps
    the log of a reused parser across failed parses, so the log may start with stale entries.
    """
    code = getattr(exc, "code", None)
    message = _POSITION_SUFFIX_RE.sub("", str(exc.msg))
    line, column = exc.position
    if code in _FORBIDDEN_PARSE_ERRORS:
        return EdxmlError(
            FORBIDDEN_CONSTRUCT, f"refused by the XML parser: {message}", 422, line, column
        )
    return EdxmlError(MALFORMED, f"not well-formed XML: {message}", 422, line, column)


def _check_tree(root: etree._Element) -> None:
    """Post-parse limits: no DTD at all, bounded depth, bounded attributes and namespaces."""
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT, "DOCTYPE and entity declarations are not allowed in edXML"
        )
    deep = _tools.too_deep(root)
    if isinstance(deep, list) and deep:
        first = deep[0]
        line = _line(first) if isinstance(first, etree._Element) else None
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT, f"elements nested deeper than {MAX_DEPTH} levels", 422, line
        )
    long_attributes = _tools.long_attributes(root)
    if isinstance(long_attributes, list) and long_attributes:
        value = long_attributes[0]
        parent = value.getparent() if isinstance(value, etree._ElementUnicodeResult) else None
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT,
            f"an attribute value is longer than {MAX_ATTRIBUTE_CHARS} characters",
            422,
            _line(parent),
        )
    crowded = _tools.crowded_element(root)
    if isinstance(crowded, list) and crowded:
        value = crowded[0]
        parent = value.getparent() if isinstance(value, etree._ElementUnicodeResult) else None
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT,
            f"an element has more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes",
            422,
            _line(parent),
        )
    _check_namespaces(root)


def _check_namespaces(root: etree._Element) -> None:
    """Namespace declarations: short URIs, few per element.

    The total is already bounded before parsing (every declaration holds the bytes `xmlns`).
    The walk per element runs only when the total could exceed the per-element cap.
    """
    declared = 0
    for _event, (_prefix, uri) in etree.iterwalk(root, events=("start-ns",)):
        declared += 1
        if len(uri) > MAX_NAMESPACE_URI_CHARS:
            raise EdxmlError(
                FORBIDDEN_CONSTRUCT,
                f"a namespace URI is longer than {MAX_NAMESPACE_URI_CHARS} characters",
            )
    if declared <= MAX_NAMESPACES_PER_ELEMENT:
        return
    pending = 0
    for event, item in etree.iterwalk(root, events=("start-ns", "start")):
        if event == "start-ns":
            pending += 1
            continue
        if pending > MAX_NAMESPACES_PER_ELEMENT:
            element = item if isinstance(item, etree._Element) else None
            raise EdxmlError(
                FORBIDDEN_CONSTRUCT,
                f"an element declares more than {MAX_NAMESPACES_PER_ELEMENT} namespaces",
                422,
                _line(element),
            )
        pending = 0


# --- reading the tree ---


_OMIT: Any = object()


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


class _Interpreter:
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
            self.errors.append(EdxmlError(INVALID, detail, 422, _line(element)))
        if loc is not None:
            self.reported.add(loc)

    def _fatal(self, detail: str, element: etree._Element | None) -> ValidationOutcome:
        line = _line(element)
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
                        _line(element),
                    )
                )
                continue
            element, path = self._locate(loc)
            if err["type"] == "missing":
                detail = f"{path} is required (missing or empty)"
            else:
                detail = f"{path}: {err['msg']}"
            self.errors.append(EdxmlError(INVALID, detail, 422, _line(element)))

    def _outcome_with_errors(self, kind: MessageKind) -> ValidationOutcome:
        errors = sorted(self.errors, key=lambda e: e.line or 0)
        return ValidationOutcome(errors=errors, kind=kind)


def _leaf_name(node: Leaf, key: str | int) -> str:
    return f"{node.tag}[{key + 1}]" if isinstance(key, int) else node.tag


def _line(element: etree._Element | None) -> int | None:
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
