"""Issue 11 through the API: cost bombs refused fast, nothing stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.core.blobs import Blob
from app.delivery.models import Delivery
from app.documents.models import Document
from app.edxml import EdxmlDocument, build_document
from tests.conftest import World
from tests.factories import document_json

pytestmark = pytest.mark.rolled_back


def _valid(world: World, **kw: Any) -> bytes:
    return build_document(
        EdxmlDocument.model_validate(document_json(world.OWN, [world.OWN2], **kw))
    )


def _stored(sessions: Any, settings: Any) -> tuple[int, int, int]:
    blobs = Path(settings.data_dir) / "blobs"
    with sessions() as s:
        docs = int(s.scalar(select(func.count()).select_from(Document)) or 0)
        dels = int(s.scalar(select(func.count()).select_from(Delivery)) or 0)
        rows = int(s.scalar(select(func.count()).select_from(Blob)) or 0)
    files = sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0
    files += rows  # the database blob store (PostgreSQL) or the directory (SQLite)
    return docs, dels, files


def _bombs(world: World) -> dict[str, bytes]:
    ok = _valid(world)
    attributes = b" ".join(b'a%d="x"' % i for i in range(199_000))
    crowded = b" ".join(b'a%d="x"' % i for i in range(5_000))
    namespaces = b" ".join(b'xmlns:n%d="urn:x:%d"' % (i, i) for i in range(199_000))
    return {
        "199k attributes on one element": ok.replace(b"<edXML ", b"<edXML " + attributes + b" ", 1),
        "5k attributes on one element": ok.replace(b"<edXML ", b"<edXML " + crowded + b" ", 1),
        "199k namespace declarations": ok.replace(b"<edXML ", b"<edXML " + namespaces + b" ", 1),
    }


@pytest.mark.parametrize("path", ["/api/v1/documents", "/api/v1/edxml/validate"])
def test_xml_cost_bombs_refused_and_nothing_stored(
    client, world: World, sessions, settings, path: str
) -> None:
    before = _stored(sessions, settings)
    assert before == (0, 0, 0)
    for name, payload in _bombs(world).items():
        r = client.post(
            path,
            content=payload,
            headers=world.auth("system") | {"Content-Type": "application/xml"},
        )
        assert r.status_code == 422, (name, r.text[:300])
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["code"] == "edxml.forbidden_construct", (name, problem)
        assert "attributes" in problem["detail"] or "namespace" in problem["detail"]
    assert _stored(sessions, settings) == before
    # the hub still takes a normal document afterwards
    if path == "/api/v1/documents":
        with sessions() as s:  # each refused submission is on record (SPEC 8)
            refused = s.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "document.refused")
            ).all()
        assert [json.loads(d)["code"] for d in refused] == ["edxml.forbidden_construct"] * len(
            _bombs(world)
        )
        ok = client.post(
            path,
            content=_valid(world),
            headers=world.auth("system") | {"Content-Type": "application/xml"},
        )
        assert ok.status_code == 202, ok.text


BAD_TYPES = ["text/plain\r\nX-Evil: 1", "text/html\nSet-Cookie: a=b", "pdf", "a/b c", "tëxt/plain"]


def test_attachment_content_type_must_be_a_media_type(
    client, world: World, sessions, settings
) -> None:
    """A CR/LF in ContentType used to be stored and then break every download (500)."""
    for bad in BAD_TYPES:
        body = document_json(world.OWN, [world.OWN2], attachments=[("a.pdf", b"%PDF-1.7")])
        body["attachments"][0]["content_type"] = bad
        r = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "edxml.invalid" and "media type" in r.text
        xml = _valid(world, attachments=[("a.pdf", b"%PDF-1.7")])
        escaped = bad.replace("\r", "&#13;").replace("\n", "&#10;").encode()
        xml = xml.replace(b"<ContentType>application/pdf<", b"<ContentType>" + escaped + b"<")
        assert escaped in xml
        r = client.post(
            "/api/v1/documents",
            content=xml,
            headers=world.auth("system") | {"Content-Type": "application/xml"},
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "edxml.invalid" and "media type" in r.text
    assert _stored(sessions, settings) == (0, 0, 0)


def test_attachment_download_headers(client, world: World) -> None:
    name = 'Báo cáo "quý" 4;\r\nX-Evil: 1.pdf'.replace("\r\n", " ")
    body = document_json(world.OWN, [world.OWN2], attachments=[(name, b"%PDF-1.7 hi")])
    body["attachments"][0]["content_type"] = 'application/pdf; name="x y"'
    r = client.post("/api/v1/documents", json=body, headers=world.auth("system"))
    assert r.status_code == 202, r.text
    doc = r.json()["id"]
    r = client.get(f"/api/v1/documents/{doc}/attachments/cid:1", headers=world.auth("system"))
    assert r.status_code == 200 and r.content == b"%PDF-1.7 hi"
    assert r.headers["content-type"] == 'application/pdf; name="x y"'
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    fallback = disposition.split('filename="')[1].split('"')[0]
    assert fallback.isascii() and '"' not in fallback and ";" not in fallback
    from urllib.parse import unquote

    assert unquote(disposition.split("filename*=UTF-8''")[1]) == name
    edxml = client.get(f"/api/v1/documents/{doc}/edxml", headers=world.auth("system"))
    assert edxml.headers["x-content-type-options"] == "nosniff"


def test_trace_hides_a_co_recipients_events(client, world: World) -> None:
    r = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2, world.FOREIGN]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    doc = r.json()["id"]
    for organ, role in ((world.OWN2, "system"), (world.FOREIGN, "system_foreign")):
        items = client.get(
            "/api/v1/inbox", params={"organ_id": organ}, headers=world.auth(role)
        ).json()["items"]
        item = next(i for i in items if i["document"] == doc)
        ack = client.post(
            f"/api/v1/inbox/{item['id']}/ack", json={"result": "done"}, headers=world.auth(role)
        )
        assert ack.status_code == 200, ack.text
    status = client.post(
        f"/api/v1/documents/{doc}/statuses",
        json={"organ_id": world.OWN2, "code": "03", "description": "đã tiếp nhận"},
        headers=world.auth("system"),
    )
    assert status.status_code in (201, 202), status.text

    def trace(role: str) -> list[dict[str, Any]]:
        r = client.get(f"/api/v1/documents/{doc}/trace", headers=world.auth(role))
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    full = trace("system")  # the sender
    assert any(e["organ_id"] == world.OWN2 and e["event"] == "status" for e in full)
    assert any(e["organ_id"] == world.OWN2 and e["delivery"] for e in full)
    assert trace("admin") == full and trace("auditor") == full
    seen = trace("system_foreign")
    assert not [e for e in seen if e["organ_id"] == world.OWN2]
    assert any(e["event"] == "accepted" and e["organ_id"] == world.OWN for e in seen)
    assert any(e["organ_id"] == world.FOREIGN and e["delivery"] for e in seen)
    own_deliveries = {
        d["organ_id"]
        for d in client.get(
            f"/api/v1/documents/{doc}", headers=world.auth("system_foreign")
        ).json()["deliveries"]
    }
    assert own_deliveries == {world.FOREIGN}  # the same rule as the document view


def test_status_edxml_bomb_refused(client, world: World, sessions) -> None:
    """The same parser guards edXML status messages (and inbound axis traffic)."""
    from app.documents.models import StatusMessage
    from app.edxml import StatusMessage as EdxmlStatus
    from app.edxml import build_status

    r = client.post(
        "/api/v1/documents",
        json=document_json(world.OWN, [world.OWN2]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202
    doc = r.json()
    status = build_status(
        EdxmlStatus.model_validate(
            {
                "from": {"organ_id": world.OWN2},
                "response_for": {
                    "organ_id": world.OWN,
                    "code": doc["code"],
                    "document_id": doc["document_id"],
                    "promulgation_date": "2026-11-20",
                },
                "status_code": "03",
                "timestamp": "2026-11-21T08:00:00",
            }
        )
    )
    crowded = b" ".join(b'a%d="x"' % i for i in range(50_000))
    bomb = status.replace(b"<edXML ", b"<edXML " + crowded + b" ", 1)
    assert len(bomb) > len(status)
    r = client.post(
        f"/api/v1/documents/{doc['id']}/statuses",
        content=bomb,
        headers=world.auth("system") | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "edxml.forbidden_construct"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusMessage)) == 0
