"""Where real traffic strays from the layout and the meaning is plain, the reader reads it and
says so in warnings[]; where two readings are possible, it refuses (issue 14, item 19)."""

from __future__ import annotations

import pytest
from lxml import etree

from app.edxml import EdxmlError, parse_message, serialize
from app.edxml.parser import validate_message
from app.edxml.schema import q
from tests.edxml.factory import MAX_BYTES, document_bytes


def _tree() -> etree._Element:
    return etree.fromstring(document_bytes())


def _find(parent: etree._Element, path: str) -> etree._Element:
    found = parent.find(path)
    assert found is not None, path
    return found


def _header(root: etree._Element) -> etree._Element:
    return _find(root, f"{q('edXMLEnvelope')}/{q('edXMLHeader')}")


def _business(root: etree._Element) -> etree._Element:
    return _find(_header(root), f"{q('TraceHeaderList')}/{q('Bussiness')}")


def _move_business(root: etree._Element, where: str, *, rename: str | None = None) -> None:
    header = _header(root)
    business = _business(root)
    if rename:
        business.tag = q(rename)
    target = header if where == "edXMLHeader" else _find(header, q("MessageHeader"))
    target.append(business)  # append moves the element


@pytest.mark.parametrize("where", ["edXMLHeader", "MessageHeader"])
@pytest.mark.parametrize("spelling", ["Bussiness", "Business"])
def test_business_outside_trace_header_list_is_read_with_a_warning(
    where: str, spelling: str
) -> None:
    root = _tree()
    _move_business(root, where, rename=spelling)
    parsed = parse_message(serialize(root), max_bytes=MAX_BYTES)
    business = parsed.message.business  # type: ignore[union-attr]
    assert business is not None and business.business_doc_type == 0
    assert business.staff_info is not None and business.staff_info.staff == "Trần Thị B"
    warnings = [w for w in parsed.warnings if w.code == "edxml.layout"]
    assert len(warnings) == 1 and f"{where}/{spelling}" in warnings[0].detail


def test_the_standard_place_gives_no_warning() -> None:
    parsed = parse_message(document_bytes(), max_bytes=MAX_BYTES)
    assert not [w for w in parsed.warnings if w.code == "edxml.layout"]


def test_two_business_elements_are_ambiguous_and_refused() -> None:
    root = _tree()
    stray = etree.fromstring(etree.tostring(_business(root)))
    _find(stray, q("BussinessDocType")).text = "1"  # the two disagree: which one holds?
    _header(root).append(stray)
    outcome = validate_message(serialize(root), max_bytes=MAX_BYTES)
    assert not outcome.valid
    details = [e.detail for e in outcome.errors]
    assert any(
        "edXMLHeader/Bussiness and TraceHeaderList/Bussiness" in d and "ambiguous" in d
        for d in details
    ), details
    with pytest.raises(EdxmlError):
        parse_message(serialize(root), max_bytes=MAX_BYTES)


def test_a_stray_business_is_still_checked_strictly() -> None:
    root = _tree()
    _move_business(root, "edXMLHeader")
    _find(_header(root), f"{q('Bussiness')}/{q('BussinessDocType')}").text = "7"
    outcome = validate_message(serialize(root), max_bytes=MAX_BYTES)
    assert not outcome.valid
    assert any("edXMLHeader/Bussiness" in e.detail for e in outcome.errors), outcome.errors


def test_the_api_accepts_it_and_says_so(client, world) -> None:
    from app.edxml import EdxmlDocument, build_document
    from tests.factories import document_json

    doc = EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2]))
    root = etree.fromstring(build_document(doc))
    _move_business(root, "edXMLHeader")
    data = serialize(root)
    headers = world.auth("system") | {"Content-Type": "application/xml"}
    checked = client.post("/api/v1/edxml/validate", content=data, headers=headers).json()
    assert checked["valid"] is True, checked
    assert "edxml.layout" in [w["code"] for w in checked["warnings"]]
    r = client.post("/api/v1/documents", content=data, headers=headers)
    assert r.status_code == 202, r.text
    assert "edxml.layout" in [w["code"] for w in r.json()["warnings"]]
    assert r.json()["business_type"] == 0
