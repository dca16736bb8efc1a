"""A hub spanning machines: processes with different DATA_DIRs on one PostgreSQL (SPEC 12).

Two `serve` processes that share nothing but the database (each its own DATA_DIR, as on two
machines) and a third process running only the worker. Documents are accepted by either API
process while any one of the three is killed (SIGKILL) and restarted; afterwards every
document answered 202 is fetched, with its attachments, from the *other* API process, and the
worker has delivered its push copy. The edXML bytes live in the database (BLOB_STORE auto),
so no process needs another's disk.
"""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.delivery.models import Delivery
from tests.conftest import World
from tests.delivery.conftest import Receiver
from tests.delivery.test_processes import _env, _free_port, _pending, _ready, _spawn, _wait
from tests.delivery.test_worker import push_org
from tests.factories import document_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

DOCUMENTS = 60
MAX_KILLS = 6
PUSH = "000.00.05.H39"


def test_two_api_processes_and_a_worker_on_separate_data_dirs_serve_everything(
    client, world: World, sessions, settings, axis: str, receiver: Receiver, tmp_path: Path
) -> None:
    push_org(client, world, receiver)
    ports = {"a": _free_port(), "b": _free_port()}
    bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    lock = threading.Lock()

    def start(name: str) -> None:
        data_dir = tmp_path / f"data-{name}"  # nothing shared on disk between the processes
        env = _env(settings, axis) | {"LIENTHONG_DATA_DIR": str(data_dir)}
        args = ["serve", "--no-worker", "--port", str(ports[name])] if name in ports else ["worker"]
        procs[name] = _spawn(args, env, tmp_path / f"{name}.log")

    for name in ("a", "b", "w"):
        start(name)

    def ready(name: str, timeout: float) -> None:
        _wait(lambda: _ready(bases[name]), timeout, f"the API process {name}")

    for name in bases:
        ready(name, 60)

    rng = random.Random(20261130)
    # One attachment over the 1 MiB inline limit, so chunked blobs are exercised too.
    big = rng.randbytes(1_300_000)
    accepted: dict[str, tuple[str, str, bytes]] = {}  # key -> (document id, accepted by, data)
    done = threading.Event()

    def submitter() -> None:
        for i in range(DOCUMENTS):
            via = "a" if i % 2 == 0 else "b"
            data = big if i % 10 == 0 else rng.randbytes(2_000)
            body = document_json(
                world.OWN, [world.OWN2, PUSH], number=f"SP{i}", attachments=[("a.pdf", data)]
            )
            key = f"span-{i}"
            for _attempt in range(200):
                try:
                    r = httpx.post(
                        f"{bases[via]}/api/v1/documents",
                        json=body,
                        headers=world.auth("system") | {"Idempotency-Key": key},
                        timeout=20,
                    )
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if r.status_code == 202:
                    accepted[key] = (r.json()["id"], via, data)
                    break
                if r.status_code == 409 and r.json().get("code") == "document.duplicate":
                    break  # committed by an attempt whose answer was lost: never answered 2xx
                time.sleep(0.1)
        done.set()

    kills: list[str] = []

    def killer() -> None:
        while not done.is_set() and len(kills) < MAX_KILLS:
            time.sleep(rng.uniform(0.5, 1.5))
            name = rng.choice(["a", "b", "w"])
            with lock:
                procs[name].send_signal(signal.SIGKILL)
                procs[name].wait()
                kills.append(name)
                start(name)
            if name in bases:
                ready(name, 120)

    threads = [threading.Thread(target=submitter), threading.Thread(target=killer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=1200)
    try:
        assert len(kills) >= 2, kills
        assert len(accepted) >= DOCUMENTS * 0.8, len(accepted)
        for name in bases:
            ready(name, 120)
        _wait(lambda: _pending(sessions) == 0, 180, "the worker to deliver everything")

        other = {"a": "b", "b": "a"}
        stored: dict[str, bytes] = {}
        for doc_id, via, data in accepted.values():
            served = bases[other[via]]
            auth = world.auth("system")
            edxml = httpx.get(f"{served}/api/v1/documents/{doc_id}/edxml", headers=auth)
            assert edxml.status_code == 200, edxml.text
            same = httpx.get(f"{bases[via]}/api/v1/documents/{doc_id}/edxml", headers=auth)
            assert edxml.content == same.content
            stored[doc_id] = edxml.content
            att = httpx.get(f"{served}/api/v1/documents/{doc_id}/attachments/cid:1", headers=auth)
            assert att.status_code == 200, att.text
            assert hashlib.sha256(att.content).digest() == hashlib.sha256(data).digest()
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(timeout=30)

    hooks = Counter(x["headers"].get("webhook-id") for x in receiver.received)
    bodies = {x["headers"].get("webhook-id"): x["body"] for x in receiver.received}
    with sessions() as s:
        ids = [doc_id for doc_id, _, _ in accepted.values()]
        rows = list(s.scalars(select(Delivery).where(Delivery.document.in_(ids))))
    by_doc: dict[str, dict[str, Delivery]] = {}
    for d in rows:
        by_doc.setdefault(d.document, {})[d.organ_id] = d
    for doc_id, via, _data in accepted.values():
        copies = by_doc[doc_id]
        assert copies[world.OWN2].state == "available"
        push = copies[PUSH]
        assert push.state == "delivered" and hooks[push.id] >= 1, (doc_id, via)
        assert bodies[push.id] == stored[doc_id]  # the worker read the bytes from the database
