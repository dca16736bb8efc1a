"""sent_self_signed and sent_pdf_signed (SPEC 9): a workload of self-signed, hub-signed and
PDF-signed documents gives the expected counts in /stats/*, the CSV and the annual report, and
`stats check` (the recount from the documents) agrees."""

from __future__ import annotations

import csv as csv_module
import io
from datetime import datetime
from typing import Any

from app.core.timeutil import LOCAL_TZ
from app.edxml import EdxmlDocument, build_document_tree, serialize
from app.signing import TrustStore
from app.signing.xmldsig import Signer, sign_tree
from app.stats.reports import COLUMN_LABELS
from tests.factories import document_json
from tests.signing.pdfgen import make_pdf, make_zip, sign_bytes_pdf
from tests.stats.conftest import DOCS, Driver, counters, mismatches


def _pdf_by(driver: Driver, organ: str) -> bytes:
    key, cert = driver.pki.leaves[organ]
    issuing = driver.pki.issuing[1]
    return sign_bytes_pdf(
        make_pdf([f"Van ban cua {organ}"]),
        Signer(key, cert, [issuing]),
        TrustStore([driver.pki.root[1]], [issuing]),
        organ_id=organ,
        embed_revocation=False,
    )


def _self_signed(driver: Driver, attachments: list[tuple[str, bytes]] | None = None) -> Any:
    w = driver.world
    body = document_json(w.OWN, [w.OWN2], attachments=attachments)
    root = build_document_tree(EdxmlDocument.model_validate(body).with_document_id())
    key, cert = driver.pki.leaves[w.OWN]
    sign_tree(root, Signer(key, cert, [driver.pki.issuing[1]]))
    return driver.client.post(
        DOCS,
        content=serialize(root),
        headers=driver.auth[w.OWN] | {"Content-Type": "application/xml"},
    )


def test_self_signed_hub_signed_and_pdf_signed_documents_are_counted(driver: Driver) -> None:
    w = driver.world
    own_pdf, other_pdf = _pdf_by(driver, w.OWN), _pdf_by(driver, w.OWN2)
    answers = [
        # self-signed package, no PDF: self-signed only
        _self_signed(driver),
        # self-signed package with the sender's signed PDF: both
        _self_signed(driver, [("qd.pdf", own_pdf)]),
    ]
    for attachments, params in (
        (None, {}),  # hub-sealed, no PDF: neither
        ([("cv.pdf", make_pdf())], {"sign_pdf": "true"}),  # the hub signs the PDF: PDF-signed
        ([("qd.pdf", own_pdf)], {}),  # hub-sealed package, sender's own PDF: PDF-signed
        ([("khac.pdf", other_pdf)], {}),  # another organization's PDF signature: no
        ([("cv.pdf", make_pdf())], {}),  # unsigned PDF: no
        ([("qd.pdf", own_pdf), ("cv.pdf", make_pdf())], {}),  # one of two PDFs unsigned: no
        ([("hs.zip", make_zip({"qd.pdf": own_pdf}))], {}),  # the sender's PDF inside a ZIP: yes
    ):
        answers.append(
            driver.client.post(
                DOCS,
                params=params,
                json=document_json(w.OWN, [w.OWN2], attachments=attachments),
                headers=driver.auth[w.OWN],
            )
        )
    assert [a.status_code for a in answers] == [202] * 9, [a.text for a in answers]
    today = datetime.now(LOCAL_TZ).date()
    got = counters(driver.sessions)[(w.OWN, today)]
    assert {
        k: got.get(k, 0) for k in ("sent", "sent_signed", "sent_self_signed", "sent_pdf_signed")
    } == {
        "sent": 9,
        "sent_signed": 9,
        "sent_self_signed": 2,
        "sent_pdf_signed": 4,
    }
    assert mismatches(driver.sessions) == []  # `lienthong stats check` agrees

    reporter = w.auth("reporter")
    params = {"since": today.isoformat(), "until": today.isoformat(), "organ_id": w.OWN}
    (item,) = driver.client.get(
        "/api/v1/stats/interchange", params=params, headers=reporter
    ).json()["items"]
    assert (item["sent_self_signed"], item["sent_pdf_signed"]) == (2, 4)
    csv = driver.client.get(
        "/api/v1/stats/interchange", params=params, headers=reporter | {"Accept": "text/csv"}
    ).text
    header, row = list(csv_module.reader(io.StringIO(csv.lstrip("\ufeff"))))[:2]
    values = dict(zip(header, row, strict=True))
    assert values[COLUMN_LABELS["sent_self_signed"]] == "2"
    assert values[COLUMN_LABELS["sent_pdf_signed"]] == "4"

    report = driver.client.get(
        "/api/v1/stats/report", params={"year": today.year}, headers=reporter
    ).json()
    indicators = report["indicators"]
    assert indicators["documents_self_signed"] == 2
    assert indicators["documents_pdf_signed"] == 4
    assert indicators["share_self_signed"] == round(2 / 9, 4)
    assert indicators["share_pdf_signed"] == round(4 / 9, 4)
    assert "Tỷ lệ" in report["labels"]["share_pdf_signed"]
    month = next(m for m in report["months"] if m["period"] == today.strftime("%Y-%m"))
    assert (month["self_signed"], month["pdf_signed"]) == (2, 4)
    report_csv = driver.client.get(
        "/api/v1/stats/report",
        params={"year": today.year},
        headers=reporter | {"Accept": "text/csv"},
    ).text
    assert "share_pdf_signed" in report_csv and COLUMN_LABELS["sent_pdf_signed"] in report_csv

    # Re-validation keeps the counts; a PDF verdict that moves (set as the ORM would) moves them.
    first_pdf = answers[1].json()["id"]
    assert (
        driver.client.post(f"{DOCS}/{first_pdf}/validation", headers=w.auth("auditor")).status_code
        == 200
    )
    assert counters(driver.sessions)[(w.OWN, today)]["sent_pdf_signed"] == 4
    driver.set_document(first_pdf, pdf_signed=False)
    assert counters(driver.sessions)[(w.OWN, today)]["sent_pdf_signed"] == 3
    assert mismatches(driver.sessions) == []
