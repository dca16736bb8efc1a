"""A valid request for every API route, for the access matrix.

A new route without a sample here makes the matrix test fail: every endpoint must be
covered, for every role, before it lands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import World
from tests.factories import document_json


@dataclass
class Sample:
    path: Callable[[World], str]
    json: Callable[[World], Any] | None = None
    content: Callable[[World], bytes] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # For a `system` client: the same request aimed at another organization's resource,
    # which must answer 404 (SPEC section 4: a client never learns it exists).
    foreign: Callable[[World], str] | None = None
    ok: tuple[int, ...] = (200, 201, 202)


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/api/v1/organizations"): Sample(lambda w: "/api/v1/organizations"),
    ("GET", "/api/v1/organizations/{organ_id}"): Sample(lambda w: f"/api/v1/organizations/{w.OWN}"),
    ("POST", "/api/v1/organizations"): Sample(
        lambda w: "/api/v1/organizations",
        json=lambda w: {"organ_id": "000.00.20.H39", "name": "Sở mới", "parent_id": w.PROVINCE},
    ),
    ("PUT", "/api/v1/organizations/{organ_id}"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN2}",
        json=lambda w: {"name": "Sở Tài chính", "parent_id": w.PROVINCE},
    ),
    ("PATCH", "/api/v1/organizations/{organ_id}"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN2}", json=lambda w: {"email": "stc@example.vn"}
    ),
    ("GET", "/api/v1/organizations/{organ_id}/webhook-secret"): Sample(
        lambda w: f"/api/v1/organizations/{w.ctx['push_org']}/webhook-secret"
    ),
    ("DELETE", "/api/v1/organizations/{organ_id}"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN2}"
    ),
    ("POST", "/api/v1/organizations/{organ_id}/certificates"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN}/certificates",
        json=lambda w: {"sha256": "ab" * 32},
    ),
    ("DELETE", "/api/v1/organizations/{organ_id}/certificates/{sha256}"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN}/certificates/{w.ctx['fingerprint']}"
    ),
    ("POST", "/api/v1/organizations/{organ_id}/keys"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN}/keys"
    ),
    ("POST", "/api/v1/organizations/{organ_id}/keys/revoke"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN2}/keys/revoke",
        json=lambda w: {"reason": "keyCompromise"},
    ),
    ("POST", "/api/v1/clients"): Sample(
        lambda w: "/api/v1/clients", json=lambda w: {"name": "new", "role": "reporter"}
    ),
    ("GET", "/api/v1/clients"): Sample(lambda w: "/api/v1/clients"),
    ("GET", "/api/v1/clients/me"): Sample(lambda w: "/api/v1/clients/me"),
    ("DELETE", "/api/v1/clients/{client_id}"): Sample(
        lambda w: f"/api/v1/clients/{w.client_ids['system_foreign']}"
    ),
    ("GET", "/api/v1/audit/log"): Sample(lambda w: "/api/v1/audit/log"),
    ("GET", "/api/v1/audit/signatures"): Sample(lambda w: "/api/v1/audit/signatures"),
    ("POST", "/api/v1/edxml/validate"): Sample(
        lambda w: "/api/v1/edxml/validate", content=lambda w: w.ctx["own_xml"]
    ),
    ("POST", "/api/v1/documents"): Sample(
        lambda w: "/api/v1/documents", json=lambda w: document_json(w.OWN, [w.OWN2])
    ),
    ("GET", "/api/v1/documents"): Sample(lambda w: "/api/v1/documents"),
    ("GET", "/api/v1/documents/{id}"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}",
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}",
    ),
    ("GET", "/api/v1/documents/{id}/edxml"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/edxml",
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}/edxml",
    ),
    ("GET", "/api/v1/documents/{id}/attachments/{content_id}"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/attachments/cid:1",
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}/attachments/cid:1",
    ),
    ("GET", "/api/v1/documents/{id}/trace"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/trace",
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}/trace",
    ),
    ("GET", "/api/v1/documents/{id}/statuses"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/statuses",
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}/statuses",
    ),
    ("POST", "/api/v1/documents/{id}/statuses"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/statuses",
        json=lambda w: {"organ_id": w.OWN2, "code": "03"},
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}/statuses",
    ),
    ("POST", "/api/v1/documents/{id}/statuses/{status_id}/validation"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['extra']}/statuses/{w.ctx['extra_status']}/validation"
    ),
    ("GET", "/api/v1/documents/{id}/validation"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/validation",
        foreign=lambda w: f"/api/v1/documents/{w.ctx['foreign']}/validation",
    ),
    ("POST", "/api/v1/documents/{id}/validation"): Sample(
        lambda w: f"/api/v1/documents/{w.ctx['own']}/validation"
    ),
    ("GET", "/api/v1/inbox"): Sample(lambda w: "/api/v1/inbox"),
    ("GET", "/api/v1/deliveries"): Sample(lambda w: "/api/v1/deliveries", params={"state": "dead"}),
    ("POST", "/api/v1/deliveries/{delivery_id}/redrive"): Sample(
        lambda w: f"/api/v1/deliveries/{w.ctx['dead_item']}/redrive"
    ),
    ("GET", "/api/v1/inbox/{delivery_id}/edxml"): Sample(
        lambda w: f"/api/v1/inbox/{w.ctx['own_item']}/edxml",
        foreign=lambda w: f"/api/v1/inbox/{w.ctx['foreign_item']}/edxml",
    ),
    ("POST", "/api/v1/inbox/{delivery_id}/ack"): Sample(
        lambda w: f"/api/v1/inbox/{w.ctx['own_item']}/ack",
        json=lambda w: {"result": "done"},
        foreign=lambda w: f"/api/v1/inbox/{w.ctx['foreign_item']}/ack",
    ),
    ("GET", "/api/v1/audit/log/verify"): Sample(lambda w: "/api/v1/audit/log/verify"),
    ("GET", "/api/v1/stats/interchange"): Sample(
        lambda w: "/api/v1/stats/interchange",
        params={"since": "2026-01-01", "until": "2026-12-31", "granularity": "quarter"},
    ),
    ("GET", "/api/v1/stats/inactive"): Sample(
        lambda w: "/api/v1/stats/inactive", params={"since": "2026-01-01", "until": "2026-12-31"}
    ),
    ("GET", "/api/v1/stats/report"): Sample(
        lambda w: "/api/v1/stats/report", params={"year": 2026}
    ),
}
