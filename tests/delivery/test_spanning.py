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

DOCUMENTS = 60
MAX_KILLS = 6
PUSH = "000.00.05.H39"


def test_two_api_processes_and_a_worker_on_separate_data_dirs_serve_everything(
    client, world: World, sessions, settings, axis: str, receiver: Receiver, tmp_path: Path
) -> None:
    push_org(client, world, receiver)
    ports = {"a": processes.free_port(), "b": processes.free_port()}
    bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def start(name: str) -> subprocess.Popen[bytes]:
        data_dir = tmp_path / f"data-{name}"  # nothing shared on disk between the processes
        env = processes.env(settings, axis) | {"LIENTHONG_DATA_DIR": str(data_dir)}
        args = ["serve", "--no-worker", "--port", str(ports[name])] if name in ports else ["worker"]
        return processes.spawn(args, env, tmp_path / f"{name}.log")

    def restarted(name: str, timeout: float = 120) -> None:
        if name in bases:
            wait_for(lambda: ready(bases[name]), timeout, f"the API process {name}")

    rng = random.Random(20261130)
    # One attachment over the 1 MiB inline limit, so chunked blobs are exercised too.
    big = rng.randbytes(1_300_000)
    accepted: dict[str, tuple[str, str, bytes]] = {}  # key -> (document id, accepted by, data)

    def submitter() -> None:
        for i in range(DOCUMENTS):
            via = "a" if i % 2 == 0 else "b"
            data = big if i % 10 == 0 else rng.randbytes(2_000)
            body = document_json(
                world.OWN, [world.OWN2, PUSH], number=f"SP{i}", attachments=[("a.pdf", data)]
            )
            key = f"span-{i}"
            doc_id = processes.submit(bases[via], body, world.auth("system"), key)
            if doc_id is not None:
                accepted[key] = (doc_id, via, data)

    with fleet(start, "a", "b", "w") as f:
        for name in bases:
            restarted(name, 60)
        kills = f.while_killing(
            submitter, rng, max_kills=MAX_KILLS, pause=(0.5, 1.5), restarted=restarted
        )
        assert len(kills) >= 2, kills
        assert len(accepted) >= DOCUMENTS * 0.8, len(accepted)
        for name in bases:
            restarted(name)
        wait_for(lambda: pending(sessions) == 0, 180, "the worker to deliver everything")

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
