"""PDF attachments through the API (SPEC 5.3): verdicts in /edxml/validate, in the kept report
and its re-validation, the auditors' filter, PDF_SIGNATURE_POLICY, and sign_pdf=true."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from app.edxml import EdxmlDocument, build_document, build_document_tree, serialize
from app.signing import TrustStore
from app.signing.pdf_validation import validate_pdf
from app.signing.xmldsig import Signer, sign_tree
from tests.conftest import PkiMaterial, World
from tests.factories import document_json
from tests.signing.pdfgen import in_process_tsa, make_pdf, make_zip, sign_bytes_pdf

DOCS = "/api/v1/documents"


def _signer(pki: PkiMaterial, organ: str) -> Signer:
    key, cert = pki.leaves[organ]
    return Signer(key, cert, [pki.issuing[1]])


def _pdf_signed_by(pki: PkiMaterial, organ: str, text: str = "Cong van") -> bytes:
    # The hub's trust store holds the CRLs; the PDF need not carry them.
    return sign_bytes_pdf(
        make_pdf([text]),
        _signer(pki, organ),
        TrustStore([pki.root[1]], [pki.issuing[1]]),
        organ_id=organ,
        embed_revocation=False,
    )


def _hub_trust(app: Any, sessions: Any) -> TrustStore:
    with sessions() as s:
        store: TrustStore = app.state.hub.custody.trust_store(s)
        return store


def _xml(
    world: World, attachments: list[tuple[str, bytes]], *, sign: PkiMaterial | None = None
) -> bytes:
    data = document_json(world.OWN, [world.OWN2], attachments=attachments)
    for att in data.get("attachments", []):
        if not att["name"].endswith(".pdf"):
            att["content_type"] = (
                "application/zip" if att["name"].endswith(".zip") else "text/plain"
            )
    doc = EdxmlDocument.model_validate(data)
    if sign is None:
        return build_document(doc)
    root = build_document_tree(doc.with_document_id())
    sign_tree(root, _signer(sign, world.OWN))
    return serialize(root)


XML = {"Content-Type": "application/xml"}


def test_validate_reports_every_pdf_and_the_pdfs_in_a_zip(
    client, world: World, pki_material: PkiMaterial
) -> None:
    own = _pdf_signed_by(pki_material, world.OWN)
    other = _pdf_signed_by(pki_material, world.EXTERNAL)
    body = _xml(
        world,
        [
            ("quyet-dinh.pdf", own),
            ("chua-ky.pdf", make_pdf(["chua ky"])),
            ("ho-so.zip", make_zip({"a/khac.pdf": other, "b/ok.pdf": own})),
            ("hong.pdf", b"%PDF-1.7 broken"),
            ("ghi-chu.txt", b"plain text"),
        ],
        sign=pki_material,
    )
    r = client.post("/api/v1/edxml/validate", content=body, headers=world.auth("system") | XML)
    assert r.status_code == 200, r.text
    signature = r.json()["signature"]
    assert signature["indication"] == "TOTAL_PASSED"
    got = [
        (a["content_id"], a["path_in_zip"], a["indication"], a["sub_indication"])
        for a in signature["attachments"]
    ]
    assert got == [
        ("cid:1", None, "TOTAL_PASSED", None),
        ("cid:2", None, "NO_SIGNATURE_FOUND", None),
        ("cid:3", "a/khac.pdf", "TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE"),
        ("cid:3", "b/ok.pdf", "TOTAL_PASSED", None),
        ("cid:4", None, "INDETERMINATE", "FORMAT_FAILURE"),
    ]
    first = signature["attachments"][0]["signatures"][0]
    assert first["signed_by"]["organ_id"] == world.OWN
    assert first["coverage"] == "entire_file" and first["modified_after_signing"] is False
    # a ZIP bomb is a verdict too, not a 5xx
    bomb = make_zip({"bomb.pdf": b"%PDF-1.7\n" + b"\0" * (20 * 1024 * 1024)})
    r = client.post(
        "/api/v1/edxml/validate",
        content=_xml(world, [("bomb.zip", bomb)]),
        headers=world.auth("system") | XML,
    )
    assert r.status_code == 200, r.text
    (verdict,) = r.json()["signature"]["attachments"]
    assert (verdict["indication"], verdict["sub_indication"]) == ("INDETERMINATE", "FORMAT_FAILURE")
    assert verdict["errors"][0]["code"] == "zip.ratio"


def test_reports_keep_pdf_verdicts_and_auditors_filter_them(
    client, world: World, pki_material: PkiMaterial
) -> None:
    headers = world.auth("system")
    signed = client.post(
        DOCS,
        json=document_json(
            world.OWN,
            [world.OWN2],
            attachments=[("qd.pdf", _pdf_signed_by(pki_material, world.OWN))],
        ),
        headers=headers,
    )
    unsigned = client.post(
        DOCS,
        json=document_json(world.OWN, [world.OWN2], attachments=[("cv.pdf", make_pdf())]),
        headers=headers,
    )
    plain = client.post(DOCS, json=document_json(world.OWN, [world.OWN2]), headers=headers)
    assert {signed.status_code, unsigned.status_code, plain.status_code} == {202}
    ids = {
        k: r.json()["id"] for k, r in (("signed", signed), ("unsigned", unsigned), ("plain", plain))
    }

    report = client.get(f"{DOCS}/{ids['signed']}/validation", headers=world.auth("auditor")).json()[
        "report"
    ]
    assert [a["indication"] for a in report["attachments"]] == ["TOTAL_PASSED"]
    audit = world.auth("auditor")

    def listed(value: str) -> set[str]:
        r = client.get("/api/v1/audit/signatures", params={"pdf_indication": value}, headers=audit)
        assert r.status_code == 200, r.text
        return {i["document"] for i in r.json()["items"]}

    assert ids["signed"] in listed("TOTAL_PASSED") and ids["unsigned"] not in listed("TOTAL_PASSED")
    assert listed("NO_SIGNATURE_FOUND") == {ids["unsigned"]}
    assert ids["plain"] in listed("NONE") and ids["signed"] not in listed("NONE")
    r = client.get("/api/v1/audit/signatures", params={"pdf_indication": "VALID"}, headers=audit)
    assert r.status_code == 422

    again = client.post(f"{DOCS}/{ids['signed']}/validation", headers=audit)
    assert again.status_code in (200, 201), again.text
    assert again.json()["report"]["attachments"][0]["indication"] == "TOTAL_PASSED"
    latest = client.get(f"{DOCS}/{ids['signed']}/validation", headers=audit).json()["report"]
    assert latest["attachments"][0]["signatures"][0]["signed_by"]["organ_id"] == world.OWN


def test_require_valid_refuses_a_document_whose_pdf_does_not_pass(
    client, world: World, pki_material: PkiMaterial
) -> None:
    client.app.state.hub.settings.pdf_signature_policy = "require_valid"
    headers = world.auth("system")
    for name, data in (
        ("chua-ky.pdf", make_pdf()),
        ("co-quan-khac.pdf", _pdf_signed_by(pki_material, world.OWN2)),
    ):
        r = client.post(
            DOCS,
            json=document_json(world.OWN, [world.OWN2], attachments=[(name, data)]),
            headers=headers,
        )
        assert r.status_code == 422 and r.json()["code"] == "signature.invalid", r.text
        assert r.json()["validation"]["attachments"][0]["indication"] != "TOTAL_PASSED"
    ok = client.post(
        DOCS,
        json=document_json(
            world.OWN,
            [world.OWN2],
            attachments=[("qd.pdf", _pdf_signed_by(pki_material, world.OWN))],
        ),
        headers=headers,
    )
    assert ok.status_code == 202, ok.text
    # sign_pdf=true makes an unsigned PDF pass the policy
    signed_by_hub = client.post(
        DOCS,
        params={"sign_pdf": "true"},
        json=document_json(world.OWN, [world.OWN2], attachments=[("cv.pdf", make_pdf())]),
        headers=headers,
    )
    assert signed_by_hub.status_code == 202, signed_by_hub.text


def test_sign_pdf_signs_each_top_level_pdf_as_the_sender(
    client, app, sessions, world: World, pki_material: PkiMaterial
) -> None:
    original = make_pdf(["Quyet dinh so 1"])
    countersigned = _pdf_signed_by(pki_material, world.OWN2)  # already signed: keeps it
    archive = make_zip({"in-zip.pdf": original})
    r = client.post(
        DOCS,
        params={"sign_pdf": "true"},
        json=document_json(
            world.OWN,
            [world.OWN2],
            attachments=[("qd.pdf", original), ("cv.pdf", countersigned), ("hs.zip", archive)],
        ),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    doc = r.json()["id"]
    trust = _hub_trust(app, sessions)

    def attachment(cid: str) -> bytes:
        got = client.get(f"{DOCS}/{doc}/attachments/{cid}", headers=world.auth("system"))
        assert got.status_code == 200
        return bytes(got.content)

    first = attachment("cid:1")
    assert first.startswith(original) and len(first) > len(original)  # incremental update
    verdict = validate_pdf(first, expected_organ_id=world.OWN, trust=trust)
    assert verdict.indication == "TOTAL_PASSED", verdict
    assert verdict.signatures[0].signed_by is not None
    assert verdict.signatures[0].signed_by.organ_id == world.OWN
    reader = PdfFileReader(io.BytesIO(first))
    assert len(reader.embedded_regular_signatures) == 1

    second = attachment("cid:2")
    assert second.startswith(countersigned)
    both = validate_pdf(second, expected_organ_id=world.OWN, trust=trust).signatures
    assert [s.signed_by.organ_id for s in both if s.signed_by] == [world.OWN2, world.OWN]
    assert attachment("cid:3") == archive  # only top-level PDFs are signed

    # The package is sealed over the signed PDFs: its own signature passes.
    report = client.get(f"{DOCS}/{doc}/validation", headers=world.auth("auditor")).json()["report"]
    assert report["indication"] == "TOTAL_PASSED"
    assert [a["indication"] for a in report["attachments"]] == [
        "TOTAL_PASSED",
        "TOTAL_FAILED",  # the earlier signature is OWN2's, not the sender's
        "NO_SIGNATURE_FOUND",
    ]
    edxml = client.get(f"{DOCS}/{doc}/edxml", headers=world.auth("system")).content
    assert base64.b64encode(first) in edxml


def test_sign_pdf_needs_an_unsigned_package(
    client, world: World, pki_material: PkiMaterial
) -> None:
    body = _xml(world, [("qd.pdf", make_pdf())], sign=pki_material)
    r = client.post(
        DOCS, params={"sign_pdf": "true"}, content=body, headers=world.auth("system") | XML
    )
    assert r.status_code == 422 and r.json()["code"] == "edxml.invalid", r.text


@pytest.mark.parametrize("payload", [b"%PDF-1.7 not a pdf", b"%PDF-"])
def test_sign_pdf_refuses_what_is_no_pdf(client, world: World, payload: bytes) -> None:
    r = client.post(
        DOCS,
        params={"sign_pdf": "true"},
        json=document_json(world.OWN, [world.OWN2], attachments=[("x.pdf", payload)]),
        headers=world.auth("system"),
    )
    assert r.status_code == 422 and r.json()["code"] == "attachment.unsignable", r.text


def test_sign_pdf_with_the_hubs_timestamper_is_b_lt(
    client, app, sessions, world: World, pki_material: PkiMaterial
) -> None:
    app.state.hub.pdf_timestamper = in_process_tsa(pki_material.issuing[0], pki_material.issuing[1])
    r = client.post(
        DOCS,
        params={"sign_pdf": "true"},
        json=document_json(world.OWN, [world.OWN2], attachments=[("qd.pdf", make_pdf())]),
        headers=world.auth("system"),
    )
    assert r.status_code == 202, r.text
    signed = client.get(
        f"{DOCS}/{r.json()['id']}/attachments/cid:1", headers=world.auth("system")
    ).content
    reader = PdfFileReader(io.BytesIO(signed))
    assert len(reader.root["/DSS"]["/CRLs"]) >= 1  # revocation data embedded
    verdict = validate_pdf(signed, expected_organ_id=world.OWN, trust=_hub_trust(app, sessions))
    assert verdict.indication == "TOTAL_PASSED", verdict
    assert verdict.signatures[0].timestamp_time is not None
