"""A valid request for every API route, for the access matrix.

A new route without a sample here makes the matrix test fail: every endpoint must be
covered, for every role, before it lands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import World


@dataclass
class Sample:
    path: Callable[[World], str]
    json: Callable[[World], Any] | None = None
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
        json=lambda w: {"organ_id": "000.00.20.H41", "name": "Sở mới", "parent_id": w.PROVINCE},
    ),
    ("PUT", "/api/v1/organizations/{organ_id}"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN2}",
        json=lambda w: {"name": "Sở Tài chính", "parent_id": w.PROVINCE},
    ),
    ("DELETE", "/api/v1/organizations/{organ_id}"): Sample(
        lambda w: f"/api/v1/organizations/{w.OWN2}"
    ),
    ("POST", "/api/v1/clients"): Sample(
        lambda w: "/api/v1/clients", json=lambda w: {"name": "new", "role": "reporter"}
    ),
    ("GET", "/api/v1/clients"): Sample(lambda w: "/api/v1/clients"),
    ("DELETE", "/api/v1/clients/{client_id}"): Sample(
        lambda w: f"/api/v1/clients/{w.client_ids['system_foreign']}"
    ),
    ("GET", "/api/v1/audit/log"): Sample(lambda w: "/api/v1/audit/log"),
    ("GET", "/api/v1/audit/log/verify"): Sample(lambda w: "/api/v1/audit/log/verify"),
}
