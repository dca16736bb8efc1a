"""Several worker processes and crashes, on PostgreSQL with real processes and real HTTP.

SPEC section 6: workers may run as several processes without two of them sending the same
delivery at once, and killing any process at any moment loses nothing answered with 2xx.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.delivery.models import Delivery
from tests.conftest import REPO, World
from tests.delivery.conftest import HUB, Receiver
from tests.delivery.test_worker import push_org
from tests.factories import document_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

LIENTHONG = str(Path(sys.executable).with_name("lienthong"))
DOCUMENTS = 200
MAX_KILLS = 12


def _env(settings: Any, axis: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env.update(
        LIENTHONG_DATABASE_URL=settings.database_url,
        LIENTHONG_DATA_DIR=str(settings.data_dir),
        LIENTHONG_KEY_PASSPHRASE="test-passphrase",
        LIENTHONG_VPCP_URL=axis,
        LIENTHONG_VPCP_SYSTEM_ID=HUB.systemid,
        LIENTHONG_VPCP_SECRET=HUB.secret,
        LIENTHONG_VPCP_POLL_SECONDS="0.5",
        LIENTHONG_WORKER_POLL_SECONDS="0.05",
        LIENTHONG_WORKER_LEASE_SECONDS="5",
        LIENTHONG_LOG_LEVEL="WARNING",
        LIENTHONG_READYZ_REQUIRES_WORKER="false",
        LIENTHONG_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver listens on loopback
    )
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LIENTHONG, *args], env=env, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _pending(sessions: Any) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.state.in_(("queued", "sending", "retrying")))
            )
            or 0
        )


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
    env = _env(settings, axis)
    procs = [_spawn(["worker"], env, tmp_path / f"w{i}.log") for i in range(workers)]
    try:
        _wait(lambda: _pending(sessions) == 0, 120, "the outbox to drain")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    msgs = httpx.get(f"{axis}/_mock/messages").json()
    assert len(msgs) == n, "each delivery is sent exactly once when nothing crashes"
    with sessions() as s:
        rows = list(s.scalars(select(Delivery)))
    assert {d.state for d in rows} == {"delivered"}
    assert sorted(d.external_id for d in rows) == sorted(m["docId"] for m in msgs)
    senders = Counter(d.claimed_by.rsplit(":", 1)[0] if d.claimed_by else None for d in rows)
    assert len(senders) >= 2, f"work was shared between processes: {senders}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_killing_hub_and_workers_loses_nothing_answered_2xx(
    client, world: World, sessions, settings, axis: str, receiver: Receiver, tmp_path: Path
) -> None:
    push_org(client, world, receiver)
    env = _env(settings, axis)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    lock = threading.Lock()

    def start(name: str) -> None:
        args = ["serve", "--no-worker", "--port", str(port)] if name == "hub" else ["worker"]
        procs[name] = _spawn(args, env, tmp_path / f"{name}.log")

    for name in ("hub", "w1", "w2"):
        start(name)
    _wait(lambda: _ready(base), 60, "the hub")

    rng = random.Random(20261126)
    accepted: dict[str, str] = {}
    done = threading.Event()

    def submitter() -> None:
        for i in range(DOCUMENTS):
            body = document_json(
                world.OWN, [world.OWN2, "000.00.05.H39", world.EXTERNAL], number=f"CR{i}"
            )
            key = f"crash-{i}"
            for _attempt in range(200):
                try:
                    r = httpx.post(
                        f"{base}/api/v1/documents",
                        json=body,
                        headers=world.auth("system") | {"Idempotency-Key": key},
                        timeout=10,
                    )
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if r.status_code == 202:
                    accepted[key] = r.json()["id"]
                    break
                if r.status_code == 409 and r.json().get("code") == "document.duplicate":
                    break  # committed by an attempt whose answer was lost: never answered 2xx
                time.sleep(0.1)
        done.set()

    def killer() -> None:
        kills = 0
        while not done.is_set() and kills < MAX_KILLS:
            time.sleep(rng.uniform(0.3, 1.2))
            name = rng.choice(["hub", "w1", "w2"])
            with lock:
                procs[name].send_signal(signal.SIGKILL)
                procs[name].wait()
                kills += 1
                start(name)
            if name == "hub":  # let some requests through before the next kill
                _wait(lambda: _ready(base), 120, "the hub to restart")
        killer_kills.append(kills)

    killer_kills: list[int] = []
    threads = [threading.Thread(target=submitter), threading.Thread(target=killer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=1200)
    try:
        assert killer_kills and killer_kills[0] >= 3, killer_kills
        assert len(accepted) >= DOCUMENTS * 0.8, len(accepted)
        _wait(lambda: _pending(sessions) == 0, 180, "the outbox to drain after the crashes")
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(timeout=30)

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


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
