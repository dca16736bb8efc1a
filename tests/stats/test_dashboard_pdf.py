"""The dashboard's PDF part in headless Chromium (both databases): the self-signed and
PDF-signed shares beside the present share, and for an admin the PDF verdicts in words with the
signer's organization and a link to the document."""

from __future__ import annotations

from typing import Any

from app.signing import TrustStore
from app.signing.xmldsig import Signer
from tests.factories import document_json
from tests.signing.pdfgen import make_pdf, sign_bytes_pdf
from tests.stats.conftest import DOCS, Driver
from tests.stats.test_dashboard import browser, server

__all__ = ["browser", "server"]  # fixtures shared with the main dashboard test


def _pdf_by(driver: Driver, organ: str) -> bytes:
    key, cert = driver.pki.leaves[organ]
    issuing = driver.pki.issuing[1]
    return sign_bytes_pdf(
        make_pdf(["Quyet dinh"]),
        Signer(key, cert, [issuing]),
        TrustStore([driver.pki.root[1]], [issuing]),
        organ_id=organ,
        embed_revocation=False,
    )


def test_pdf_verdicts_and_shares_on_the_dashboard(
    driver: Driver, server: str, browser: Any
) -> None:
    w = driver.world
    ids = {}
    for label, pdf, params in (
        ("own", _pdf_by(driver, w.OWN), {}),
        ("other", _pdf_by(driver, w.OWN2), {}),
        ("unsigned", make_pdf(), {}),
        ("hub", make_pdf(), {"sign_pdf": "true"}),
    ):
        r = driver.client.post(
            DOCS,
            params=params,
            json=document_json(w.OWN, [w.OWN2], attachments=[(f"{label}.pdf", pdf)]),
            headers=driver.auth[w.OWN],
        )
        assert r.status_code == 202, r.text
        ids[label] = r.json()

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{server}/dashboard")
    page.fill("#apikey", w.keys["admin"])
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("body[data-pdf-ready='true']", timeout=20_000)

    share = page.locator("#pdf-shares [data-key='share_pdf_signed']")
    assert share.get_attribute("data-value") == "0.5"  # own + hub of 4
    assert "PDF signed by the issuer" in share.inner_text() and "(2 / 4)" in share.inner_text()
    own = page.locator("#pdf-shares [data-key='share_self_signed']")
    assert own.get_attribute("data-value") == "0"  # every package here was sealed by the hub

    rows = {
        r.get_attribute("data-document"): r.inner_text()
        for r in page.locator("#pdf-verdicts tbody tr").all()
    }
    assert set(rows) == {d["id"] for d in ids.values()}
    assert "Hợp lệ / Valid" in rows[ids["own"]["id"]]
    assert "Sở Nội vụ (000.00.02.H39)" in rows[ids["own"]["id"]]
    other = rows[ids["other"]["id"]]
    assert "Không hợp lệ / Invalid" in other and "not the sender's signature" in other
    assert "Sở Tài chính (000.00.03.H39)" in other
    assert "Chưa ký số / Not signed" in rows[ids["unsigned"]["id"]]
    assert "Sở Nội vụ (000.00.02.H39)" in rows[ids["hub"]["id"]]

    page.click(f"#pdf-verdicts a[data-document='{ids['other']['id']}']")
    page.wait_for_selector("#pdf-detail:not([hidden])")
    assert ids["other"]["document_id"] in page.inner_text("#pdf-detail")

    # A reporter sees the shares, not the admin's list.
    page = browser.new_context().new_page()
    page.goto(f"{server}/dashboard")
    page.fill("#apikey", w.keys["reporter"])
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("body[data-ready='true']", timeout=15_000)
    page.wait_for_selector("#pdf-shares [data-key='share_pdf_signed']")
    assert page.locator("#pdf-panel").count() == 0
