"""Real hub processes for the multi-process tests (`test_processes`, `test_spanning`): their
environment, starting, killing and restarting them by name, submitting through them while they
die, and waiting for what they do."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.delivery.models import Delivery
from tests.conftest import REPO
from tests.delivery.conftest import HUB

LIENTHONG = str(Path(sys.executable).with_name("lienthong"))


def env(settings: Any, axis: str) -> dict[str, str]:
    """A process's environment: the test's database and DATA_DIR, the mock axis, a 5 s lease."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    out.update(
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
    return out


def spawn(args: list[str], environ: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LIENTHONG, *args], env=environ, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def pending(sessions: Any) -> int:
    """Deliveries not settled yet (queued, sending or retrying)."""
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.state.in_(("queued", "sending", "retrying")))
            )
            or 0
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def submit(base: str, body: dict[str, Any], headers: dict[str, str], key: str) -> str | None:
    """POST a document with an Idempotency-Key until it is answered: its id on 202, None when
    an attempt whose answer was lost committed it (409 duplicate: never answered 2xx)."""
    for _attempt in range(200):
        try:
            r = httpx.post(
                f"{base}/api/v1/documents",
                json=body,
                headers=headers | {"Idempotency-Key": key},
                timeout=20,
            )
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if r.status_code == 202:
            return str(r.json()["id"])
        if r.status_code == 409 and r.json().get("code") == "document.duplicate":
            return None
        time.sleep(0.1)
    return None


@dataclass
class Fleet:
    """Processes by name: `start_one(name)` starts one; they are killed and restarted by name
    and stopped together (SIGTERM, as an operator would)."""

    start_one: Callable[[str], subprocess.Popen[bytes]]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, *names: str) -> None:
        for name in names:
            self.procs[name] = self.start_one(name)

    def kill_and_restart(self, name: str) -> None:
        with self.lock:
            self.procs[name].send_signal(signal.SIGKILL)
            self.procs[name].wait()
            self.start(name)

    def kill_randomly(
        self,
        rng: random.Random,
        names: Iterable[str],
        *,
        until: threading.Event,
        max_kills: int,
        pause: tuple[float, float],
        restarted: Callable[[str], None] = lambda name: None,
    ) -> list[str]:
        """SIGKILL a random one of `names` every `pause` seconds and restart it, until `until`
        is set or `max_kills` is reached; `restarted(name)` waits for it to serve again."""
        choices = list(names)
        kills: list[str] = []
        while not until.is_set() and len(kills) < max_kills:
            time.sleep(rng.uniform(*pause))
            name = rng.choice(choices)
            self.kill_and_restart(name)
            kills.append(name)
            restarted(name)
        return kills

    def while_killing(
        self,
        work: Callable[[], None],
        rng: random.Random,
        *,
        max_kills: int,
        pause: tuple[float, float],
        restarted: Callable[[str], None] = lambda name: None,
    ) -> list[str]:
        """Run `work` while any of the fleet is killed and restarted (`kill_randomly`);
        returns the names killed, in order."""
        done = threading.Event()
        kills: list[str] = []

        def worked() -> None:
            try:
                work()
            finally:
                done.set()

        def killer() -> None:
            names = list(self.procs)
            kills.extend(
                self.kill_randomly(
                    rng, names, until=done, max_kills=max_kills, pause=pause, restarted=restarted
                )
            )

        run_together(worked, killer)
        return kills

    def stop(self) -> None:
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            p.wait(timeout=30)


@contextmanager
def fleet(start_one: Callable[[str], subprocess.Popen[bytes]], *names: str) -> Iterator[Fleet]:
    """A fleet started with `names`, stopped when the block ends (whatever happened)."""
    f = Fleet(start_one)
    try:
        f.start(*names)
        yield f
    finally:
        f.stop()


def run_together(*targets: Callable[[], None], timeout: float = 1200) -> None:
    """Run the callables in threads and wait for all of them."""
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
