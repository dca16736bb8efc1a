"""The dashboard in headless Chromium against a real uvicorn server (both databases).

Skips when /usr/bin/chromium is missing (Debian package `chromium`), but fails instead when
LIENTHONG_REQUIRE_TOOLS=1, so CI cannot pass by not running it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.documents.models import Document
from app.mock_axis.server import MockAxisServer
from tests.stats.conftest import Driver, local_time

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots go where LIENTHONG_TEST_ARTIFACTS says (to look at them), else to a temporary dir.
ARTIFACTS = Path(
    os.environ.get("LIENTHONG_TEST_ARTIFACTS") or tempfile.mkdtemp(prefix="lienthong-shots-")
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a test extra
        missing = "the Python package playwright is not installed"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing: install the Debian package `chromium`"
    if missing is not None:
        if os.environ.get("LIENTHONG_REQUIRE_TOOLS") == "1":
            pytest.fail(f"LIENTHONG_REQUIRE_TOOLS=1 but {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    srv = MockAxisServer.start(app)  # any ASGI app, uvicorn in a thread, port chosen by the OS
    yield srv.url
    srv.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def _seed(driver: Driver) -> dict[str, Any]:
    """2025: March two local documents; July one to the axis, one from it, one that died."""
    w = driver.world
    r = driver.client.post(
        "/api/v1/organizations",
        json={"organ_id": "000.00.09.H39", "name": "Sở Xây dựng", "parent_id": w.PROVINCE},
        headers=w.auth("admin"),
    )
    assert r.status_code == 201, r.text
    a = driver.submit(w.OWN, [w.OWN2, w.FOREIGN])
    b = driver.submit(w.OWN2, [w.OWN])
    c = driver.submit(w.PROVINCE, [w.EXTERNAL])
    e = driver.submit(w.OWN, [w.EXTERNAL])
    assert driver.from_axis(w.EXTERNAL, [w.OWN2]) == "delivered"
    with driver.sessions() as s:
        d = {"id": s.scalars(select(Document.id).where(Document.origin == "vpcp")).one()}
    driver.set_delivery(driver.deliveries(document=c["id"])[0].id, state="delivered")
    driver.set_delivery(
        driver.deliveries(document=e["id"])[0].id, state="dead", last_error="axis: FAIL 503"
    )
    driver.place(a, local_time(2025, 3, 10))
    driver.place(b, local_time(2025, 3, 20))
    driver.place(c, local_time(2025, 7, 5), latency=30)
    driver.place(d, local_time(2025, 7, 6))
    driver.place(e, local_time(2025, 7, 7))
    driver.set_document(b["id"], indication="INDETERMINATE")  # a re-validation that did not pass
    return {"b": b, "e": e}


ORG_ROWS = "#orgs tbody tr[data-organ]"
LOCAL_TIME = r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"


class Watch:
    """What a page did that a user would see in the console: errors, and refused requests."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.refused: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.refused.append(f"{response.status} {response.url}")

    def clean(self) -> None:
        assert self.errors == [] and self.refused == [], (self.errors, self.refused)


def _open(browser: Any, width: int = 1280, height: int = 900) -> tuple[Any, Any, Watch]:
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="vi-VN", timezone_id="UTC"
    )
    page = context.new_page()
    return context, page, Watch(page)


def _sign_in(page: Any, url: str, key: str) -> None:
    page.goto(f"{url}/dashboard?year=2025")
    page.fill("#apikey", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("body[data-ready='true']", timeout=15_000)
    assert key not in page.url


def _bar(page: Any, series: str, period: str) -> str:
    return str(
        page.get_attribute(
            f"#months-svg rect[data-series='{series}'][data-period='{period}']", "data-value"
        )
    )


def _no_sideways_scrolling(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    wide = page.evaluate(
        """(vw) => [...document.querySelectorAll('body *')]
             .filter(e => e.getBoundingClientRect().right > vw + 0.5)
             .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' '
                              + Math.round(e.getBoundingClientRect().right))""",
        viewport,
    )
    assert width <= viewport, f"the page is {width}px wide in a {viewport}px viewport: {wide}"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    assert (ARTIFACTS / name).stat().st_size > 10_000


def test_dashboard_admin_and_reporter(driver: Driver, server: str, browser: Any) -> None:
    w = driver.world
    seeded = _seed(driver)
    shell = driver.client.get("/dashboard")
    assert (
        shell.status_code == 200
        and "form-action 'none'" in shell.headers["content-security-policy"]
    )

    context, page, watch = _open(browser)
    _sign_in(page, server, w.keys["admin"])

    assert page.evaluate("sessionStorage.getItem('lienthong.apiKey')") == w.keys["admin"]
    assert all(u.startswith(server) for u in watch.requests), "nothing may be fetched elsewhere"
    assert all(w.keys["admin"] not in u for u in watch.requests), "the key never travels in a URL"
    assert page.inner_text("#role") == "Quản trị / Admin"

    # Documents per month, from the seeded data: March 2 sent / 3 received, July 2 / 1 / 3.
    assert (_bar(page, "sent", "2025-03"), _bar(page, "received", "2025-03")) == ("2", "3")
    assert _bar(page, "central", "2025-03") == "0"
    assert [_bar(page, s, "2025-07") for s in ("sent", "received", "central")] == ["2", "1", "3"]
    assert _bar(page, "sent", "2025-11") == "0"
    assert page.locator("#months-svg rect.bar").count() == 36

    value = page.get_attribute("#indicators [data-key='documents_exchanged'] dd", "data-value")
    assert value == "5"
    assert page.get_attribute("#shares-svg rect[data-series='share_signed']", "data-value") == "0.8"
    assert (
        page.get_attribute("#shares-svg rect[data-series='share_received_valid']", "data-value")
        == "0.75"
    )
    # One decimal style, the Vietnamese one: a comma.
    assert page.inner_text(".share[data-key='share_signed'] .share-value").startswith("80,0 %")
    assert page.inner_text("#indicators [data-key='share_signed'] dd") == "80,0 %"
    assert "Văn bản đã gửi / Documents sent" in page.inner_text("#months-legend")

    # Per-organization table: grouped by level (with shares), sortable and filterable.
    assert page.locator(ORG_ROWS).count() == 7
    groups = [g.get_attribute("data-group") for g in page.locator("#orgs tbody").all()]
    assert groups == ["1", "2", "99"]  # the province, its departments, outside via the axis
    heads = page.locator("#orgs tr.group-head").all_inner_texts()
    assert heads[1].startswith("Cấp 2") and "4 cơ quan" in heads[1]
    assert page.get_attribute("#orgs th[data-key='sent']", "aria-sort") == "descending"
    own = page.locator(f"#orgs tr[data-organ='{w.OWN}']")
    assert "Sở Nội vụ" in own.inner_text() and "66,7 %" in own.inner_text()  # 2 of 3 sent
    level2 = "#orgs tbody[data-group='2'] tr[data-organ]"
    assert page.locator(level2).first.get_attribute("data-organ") == w.OWN  # 2 sent
    page.click("#orgs th[data-key='sent']")
    assert page.get_attribute("#orgs th[data-key='sent']", "aria-sort") == "ascending"
    assert page.locator(level2).last.get_attribute("data-organ") == w.OWN
    page.click("#orgs th[data-key='name']")
    names = [r.get_attribute("data-organ") for r in page.locator(level2).all()]
    assert names[0] == w.FOREIGN and names[-1] == "000.00.09.H39"  # "Sở KH&ĐT" … "Sở Xây dựng"
    page.fill("#org-filter", "nội vụ")
    assert [r.get_attribute("data-organ") for r in page.locator(ORG_ROWS).all()] == [w.OWN]
    page.fill("#org-filter", "")
    page.select_option("#org-route", "vpcp")
    assert page.locator(ORG_ROWS).count() == 2
    page.select_option("#org-route", "")

    assert [i.get_attribute("data-organ") for i in page.locator("#inactive li").all()] == [
        "000.00.09.H39"
    ]
    assert page.is_visible("#dead-panel") and page.is_visible("#signatures-panel")
    dead_row = page.locator("#dead tbody tr").first
    # Names, not OrganIds; words, not codes; local times.
    assert "Văn phòng Chính phủ" in dead_row.inner_text()
    assert "axis: FAIL 503" in dead_row.inner_text()
    assert re.search(LOCAL_TIME, dead_row.inner_text())
    sig_row = page.locator(f"#signatures tr[data-document='{seeded['b']['id']}']")
    assert seeded["b"]["document_id"] in sig_row.inner_text()
    assert "Chưa xác định được / Indeterminate" in sig_row.inner_text()
    assert "Sở Tài chính" in sig_row.inner_text()
    assert "INDETERMINATE" not in sig_row.inner_text()
    assert re.search(r"20/03/2025 12:00", sig_row.inner_text())  # placed at 12:00 local time
    assert "Chuỗi băm nguyên vẹn" in page.inner_text("#chain")

    # The link opens the document: subject, names, the verdict in words.
    sig_row.locator("a[data-document]").click()
    page.wait_for_selector(f"#document-panel[data-document='{seeded['b']['id']}']")
    panel = page.inner_text("#document-panel")
    assert "Sở Tài chính" in panel and "Sở Nội vụ" in panel
    assert "Chưa xác định được / Indeterminate" in panel
    assert re.search(r"20/03/2025 12:00", panel)
    _shot(page, "dashboard-admin-desktop.png")
    watch.clean()
    context.close()

    # A reporter sees the statistics, never the admin panels, and calls no endpoint it may
    # not use (no 403 in its console); the API refuses them anyway.
    context, page, watch = _open(browser)
    _sign_in(page, server, w.keys["reporter"])
    assert page.inner_text("#role") == "Báo cáo / Reporter"
    assert _bar(page, "central", "2025-07") == "3"
    for panel_id in ("dead-panel", "signatures-panel", "chain-panel", "document-panel"):
        assert page.locator(f"#{panel_id}").count() == 0
    assert page.locator("[data-admin-only]").count() == 0
    _shot(page, "dashboard-reporter-desktop.png")
    watch.clean()
    assert not [u for u in watch.requests if "/deliveries" in u or "/audit/" in u]
    statuses = page.evaluate(
        """async (key) => Promise.all(
             ['/api/v1/deliveries?state=dead', '/api/v1/audit/signatures?indication=INDETERMINATE']
             .map(u => fetch(u, {headers: {Authorization: 'Bearer ' + key}}).then(r => r.status)))""",
        w.keys["reporter"],
    )
    assert statuses == [403, 403]
    page.click("#signout")
    page.wait_for_selector("#signin:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('lienthong.apiKey')") is None
    context.close()

    # A key that may not read the dashboard is told so, and is not kept.
    context, page, watch = _open(browser)
    page.goto(f"{server}/dashboard")
    page.fill("#apikey", w.keys["system"])
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "không được xem thống kê" in page.inner_text("#signin-error")
    assert page.evaluate("sessionStorage.getItem('lienthong.apiKey')") is None
    watch.clean()
    context.close()


def test_dashboard_auditor(driver: Driver, server: str, browser: Any) -> None:
    w = driver.world
    seeded = _seed(driver)
    context, page, watch = _open(browser)
    _sign_in(page, server, w.keys["auditor"])
    assert page.inner_text("#role") == "Kiểm toán / Auditor"
    assert page.is_visible("#signatures-panel") and page.is_visible("#chain-panel")
    for panel_id in ("indicators-panel", "orgs-panel", "dead-panel", "csv"):
        assert page.locator(f"#{panel_id}").count() == 0  # statistics are not the auditor's
    text = page.inner_text("#signatures")
    assert seeded["b"]["document_id"] in text and "Chưa xác định được / Indeterminate" in text
    assert "Sở Tài chính" in text
    page.locator(f"#signatures a[data-document='{seeded['b']['id']}']").click()
    page.wait_for_selector("#document-panel:not([hidden])")
    assert "Sở Nội vụ" in page.inner_text("#document-panel")
    _shot(page, "dashboard-auditor-desktop.png")
    watch.clean()
    assert not [u for u in watch.requests if "/stats/" in u or "/deliveries" in u]
    context.close()


@pytest.mark.parametrize("role", ["admin", "auditor", "reporter"])
def test_dashboard_at_phone_width(driver: Driver, server: str, browser: Any, role: str) -> None:
    w = driver.world
    seeded = _seed(driver)
    context, page, watch = _open(browser, 390, 844)
    _sign_in(page, server, w.keys[role])
    _no_sideways_scrolling(page)
    if role != "reporter":
        page.goto(f"{server}/dashboard?year=2025#document={seeded['e']['id']}")
        page.wait_for_selector("#document-panel:not([hidden])")
        page.wait_for_selector("#document-deliveries tbody tr")
        _no_sideways_scrolling(page)
    if role != "auditor":
        # A table row is a card of labelled values at this width.
        cell = page.locator(f"#orgs tr[data-organ='{w.OWN}'] td[data-key], #orgs tr td").first
        assert cell.is_visible()
    _shot(page, f"dashboard-{role}-phone.png")
    watch.clean()
    context.close()


def test_missing_browser_skips_naming_the_package_or_fails_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tests.stats.test_dashboard as here

    monkeypatch.setattr(here, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("LIENTHONG_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package `chromium`"):
        _need_browser()
    monkeypatch.setenv("LIENTHONG_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="LIENTHONG_REQUIRE_TOOLS=1"):
        _need_browser()
