"""The dashboard's held indicator (SPEC 5.1): an admin sees how many documents from the axis
are held for lack of fresh revocation data; with none, nothing is shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.core.db import unit_of_work
from app.core.timeutil import utcnow
from app.keys import custody as custody_module
from tests.stats.conftest import Driver
from tests.stats.test_dashboard import _sign_in, browser, server  # noqa: F401  (fixtures)


def test_held_documents_show_on_the_dashboard(
    driver: Driver,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = driver.world
    page = browser.new_context().new_page()
    _sign_in(page, server, w.keys["admin"])
    assert page.locator("#held").is_hidden()

    week_ago = utcnow() - timedelta(days=8)
    with monkeypatch.context() as m:  # the CRL has expired: no fresh revocation data
        m.setattr(custody_module, "utcnow", lambda: week_ago)
        with unit_of_work(driver.sessions) as s:
            driver.app.state.hub.custody.publish_crls(s, actor="test")
    assert driver.from_axis(w.EXTERNAL, [w.OWN2]) == "held"
    assert driver.from_axis(w.EXTERNAL, [w.OWN]) == "held"
    page.reload()  # the key stays in the tab's session: signed in again at once
    page.wait_for_selector("#held:not([hidden])", timeout=15_000)
    assert page.inner_text("#held").endswith("Held for re-validation: 2")
