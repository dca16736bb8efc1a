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
from typing import IO, Any, cast

from lxml import etree

from app.edxml.errors import (
    FORBIDDEN_CONSTRUCT,
    INVALID,
    MALFORMED,
    PAYLOAD_TOO_LARGE,
    EdxmlError,
)
from app.edxml.reader import (
    Interpreter,
    ParsedMessage,
    ValidationOutcome,
    line_of,
)

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
#: Longest prolog (XML declaration, comments, PIs) before the root element.
MAX_PROLOG = 64 * 1024

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
    return Interpreter(root).run()


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
    return Interpreter(root).run()


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
        skipped = next(
            ((o, c) for o, c in ((b"<!--", b"-->"), (b"<?", b"?>")) if head.startswith(o, i)), None
        )
        if skipped is not None:  # a comment or a processing instruction
            opener, closer = skipped
            end = head.find(closer, i + len(opener))
            if end < 0:
                if n > MAX_PROLOG:
                    raise EdxmlError(
                        FORBIDDEN_CONSTRUCT, f"the prolog is longer than {MAX_PROLOG} bytes"
                    )
                return
            i = end + len(closer)
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
        line = line_of(first) if isinstance(first, etree._Element) else None
        raise EdxmlError(
            FORBIDDEN_CONSTRUCT, f"elements nested deeper than {MAX_DEPTH} levels", 422, line
        )
    _refuse_first_attribute(
        _tools.long_attributes(root),
        f"an attribute value is longer than {MAX_ATTRIBUTE_CHARS} characters",
    )
    _refuse_first_attribute(
        _tools.crowded_element(root),
        f"an element has more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes",
    )
    _check_namespaces(root)


def _refuse_first_attribute(found: Any, detail: str) -> None:
    """Refuse at the element of the first attribute an XPath cap check found, if any."""
    if isinstance(found, list) and found:
        value = found[0]
        parent = value.getparent() if isinstance(value, etree._ElementUnicodeResult) else None
        raise EdxmlError(FORBIDDEN_CONSTRUCT, detail, 422, line_of(parent))


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
                line_of(element),
            )
        pending = 0
