"""/metrics tells an operator what needs a look (issue 14, item 15): signature failures by
sub-indication, quarantined documents, dead deliveries, the oldest unacknowledged inbox item."""

from __future__ import annotations

import re
from datetime import timedelta

from app.core.timeutil import utcnow
from app.edxml import EdxmlDocument, build_document_tree, serialize
from app.signing.xmldsig import Signer, sign_tree
from tests.factories import document_json
from tests.stats.conftest import Driver


def _value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    assert match, f"{name}{{{labels}}} not in /metrics"
    return float(match.group(1))


def test_metrics_name_what_needs_a_look(driver: Driver) -> None:
    w = driver.world
    text = driver.client.get("/metrics").text
    assert _value(text, "lienthong_documents_quarantined") == 0
    assert _value(text, "lienthong_deliveries_dead", 'route="vpcp"') == 0
    assert _value(text, "lienthong_inbox_oldest_unacknowledged_seconds") == 0

    # A forged signature over the API: refused, counted by its sub-indication.
    root = build_document_tree(
        EdxmlDocument.model_validate(document_json(w.OWN, [w.OWN2])).with_document_id()
    )
    key, cert = driver.pki.leaves[w.OWN]
    sign_tree(root, Signer(key, cert, [driver.pki.issuing[1]]))
    forged = serialize(root).replace("triển khai".encode(), "hủy bỏ".encode())
    r = driver.client.post(
        "/api/v1/documents",
        content=forged,
        headers=driver.auth[w.OWN] | {"Content-Type": "application/xml"},
    )
    assert r.status_code == 422

    # Two inbox items waiting for OWN2, one of them two hours old; an axis delivery dead;
    # one document from the axis quarantined.
    a = driver.submit(w.OWN, [w.OWN2])
    driver.submit(w.OWN, [w.OWN2])
    old = driver.deliveries(document=a["id"])[0]
    driver.set_delivery(old.id, available_at=utcnow() - timedelta(hours=2))
    e = driver.submit(w.OWN, [w.EXTERNAL])
    driver.set_delivery(driver.deliveries(document=e["id"])[0].id, state="dead")
    driver.from_axis(w.EXTERNAL, [w.OWN])
    axis_doc = driver.deliveries(organ_id=w.OWN)[0].document
    driver.set_document(axis_doc, quarantined=True)

    text = driver.client.get("/metrics").text
    assert (
        _value(
            text,
            "lienthong_signature_failures_total",
            'indication="TOTAL_FAILED",origin="api",sub_indication="HASH_FAILURE"',
        )
        == 1
    )
    assert _value(text, "lienthong_documents_quarantined") == 1
    assert _value(text, "lienthong_deliveries_dead", 'route="vpcp"') == 1
    assert _value(text, "lienthong_deliveries_dead", 'route="local"') == 0
    assert _value(text, "lienthong_inbox_unacknowledged") >= 2
    age = _value(text, "lienthong_inbox_oldest_unacknowledged_seconds")
    assert 7200 <= age < 7200 + 600

    # Acknowledged, the old item no longer counts.
    assert driver.ack(w.OWN2, old.id).status_code == 200
    text = driver.client.get("/metrics").text
    assert _value(text, "lienthong_inbox_oldest_unacknowledged_seconds") < 600
