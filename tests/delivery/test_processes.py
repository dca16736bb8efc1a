"""Several worker processes and crashes, on PostgreSQL with real processes and real HTTP.

SPEC section 6: workers may run as several processes without two of them sending the same
delivery at once, and killing any process at any moment loses nothing answered with 2xx.
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.delivery.models import Delivery
from tests.conftest import World
from tests.delivery import processes
from tests.delivery.conftest import Receiver
from tests.delivery.processes import fleet, pending, ready, wait_for
from tests.delivery.test_worker import push_org
from tests.factories import document_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

DOCUMENTS = 200
MAX_KILLS = 12


@pytest.mark.parametrize("workers", [2, 4])
def test_worker_processes_never_send_a_delivery_twice(
    client, world: World, sessions, settings, axis: str, tmp_path: Path, workers: int
) -> None:
    n = 120
    for _ in range(n):
        r = client.post(
            "/api/v1/documents",
            json=document_json(world.OWN, [world.EXTERNAL]),
            headers=world.auth("system"),
        )
        assert r.status_code == 202
    env = processes.env(settings, axis)
    names = [f"w{i}" for i in range(workers)]
    with fleet(lambda name: processes.spawn(["worker"], env, tmp_path / f"{name}.log"), *names):
        wait_for(lambda: pending(sessions) == 0, 120, "the outbox to drain")
    msgs = httpx.get(f"{axis}/_mock/messages").json()
    assert len(msgs) == n, "each delivery is sent exactly once when nothing crashes"
    with sessions() as s:
        rows = list(s.scalars(select(Delivery)))
    assert {d.state for d in rows} == {"delivered"}
    assert sorted(d.external_id for d in rows) == sorted(m["docId"] for m in msgs)
    senders = Counter(d.claimed_by.rsplit(":", 1)[0] if d.claimed_by else None for d in rows)
    assert len(senders) >= 2, f"work was shared between processes: {senders}"


def test_killing_hub_and_workers_loses_nothing_answered_2xx(
    client, world: World, sessions, settings, axis: str, receiver: Receiver, tmp_path: Path
) -> None:
    push_org(client, world, receiver)
    env = processes.env(settings, axis)
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"

    def start(name: str) -> subprocess.Popen[bytes]:
        args = ["serve", "--no-worker", "--port", str(port)] if name == "hub" else ["worker"]
        return processes.spawn(args, env, tmp_path / f"{name}.log")

    rng = random.Random(20261126)
    accepted: dict[str, str] = {}

    def submitter() -> None:
        for i in range(DOCUMENTS):
            body = document_json(
                world.OWN, [world.OWN2, "000.00.05.H39", world.EXTERNAL], number=f"CR{i}"
            )
            doc_id = processes.submit(base, body, world.auth("system"), f"crash-{i}")
            if doc_id is not None:
                accepted[f"crash-{i}"] = doc_id

    def restarted(name: str) -> None:
        if name == "hub":  # let some requests through before the next kill
            wait_for(lambda: ready(base), 120, "the hub to restart")

    with fleet(start, "hub", "w1", "w2") as f:
        wait_for(lambda: ready(base), 60, "the hub")
        kills = f.while_killing(
            submitter, rng, max_kills=MAX_KILLS, pause=(0.3, 1.2), restarted=restarted
        )
        assert len(kills) >= 3, kills
        assert len(accepted) >= DOCUMENTS * 0.8, len(accepted)
        wait_for(lambda: pending(sessions) == 0, 180, "the outbox to drain after the crashes")

    msgs = {m["docId"] for m in httpx.get(f"{axis}/_mock/messages").json()}
    hooks = Counter(x["headers"].get("webhook-id") for x in receiver.received)
    with sessions() as s:
        rows = list(
            s.scalars(select(Delivery).where(Delivery.document.in_(list(accepted.values()))))
        )
    by_doc: dict[str, dict[str, Delivery]] = {}
    for d in rows:
        by_doc.setdefault(d.document, {})[d.organ_id] = d
    for doc_id in accepted.values():
        copies = by_doc[doc_id]
        assert copies[world.OWN2].state == "available"
        assert (
            copies["000.00.05.H39"].state == "delivered" and hooks[copies["000.00.05.H39"].id] >= 1
        )
        assert (
            copies[world.EXTERNAL].state == "delivered"
            and copies[world.EXTERNAL].external_id in msgs
        )
    listed: list[str] = []
    cursor = None
    while True:
        params = {"organ_id": world.OWN2, "limit": 500} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/inbox", params=params, headers=world.auth("system")).json()
        listed += [i["document"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(listed) == len(set(listed)), "no inbox lists a document twice"
    assert set(accepted.values()) <= set(listed)
