"""The delivery worker: sends push and axis deliveries, polls the axis for inbound items,
fetches pending timestamp tokens.

Each claimed delivery goes through the `DeliverySink` its mode names (`app.delivery.sinks`).

One unit of work per step (claim; settle each delivery; each inbound item), so whatever
process dies, a committed step stays and an uncommitted one is redone: claims by lease expiry,
inbound items because `updateStatus done` is only called after their transaction commits.
While the worker sends a batch it renews the batch's leases (`app.core.leases.Keeper`), so a
slow receiver or a starved machine does not let another worker claim a delivery in flight.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from app.connectors.vpcp import AxisConnector
from app.core import leases, sequencer
from app.core.db import read_first, unit_of_work
from app.core.ids import new_id
from app.core.timeutil import utcnow
from app.delivery import outbox, sinks
from app.delivery.models import Delivery, WorkerHeartbeat
from app.directory.models import Organization
from app.documents.models import Document, StatusMessage
from app.hub import Hub

log = logging.getLogger("app.worker")

CRL_CHECK_SECONDS = 60.0
"""How often the worker checks whether the CRLs are due for republication (one SELECT)."""
SEND_LIMIT = 120.0
"""How long (seconds) one send may hold its delivery's lease by renewal: past it (a receiver
that never finishes answering) the lease lapses and another attempt follows; the HTTP
client's own timeouts (15 s a phase) end a normal send long before."""
HOLD_CHECK = timedelta(seconds=5)
"""How often (on the worker's clock) it looks for held documents due for re-validation; their
backoff starts at one minute."""


@dataclass
class Worker:
    hub: Hub
    sessions: sessionmaker[Session]
    axis: AxisConnector | None = None
    batch: int = 20
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
    )
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15.0))
    rng: random.Random = field(default_factory=random.Random)
    # What time it is for leases and held documents (their backoff and HOLD_MAX_AGE); tests
    # move it.
    clock: Callable[[], datetime] = utcnow
    # How often leases are renewed while work is in flight (None: a third of the lease).
    renew_every: float | None = None
    send_limit: float = SEND_LIMIT
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_poll: float = 0.0
    _next_crl_check: float = 0.0
    _next_hold_check: datetime | None = None
    _next_revocation_check: float = 0.0

    # -- loop -----------------------------------------------------------------------------

    def run_forever(self) -> None:
        settings = self.hub.settings
        log.info("worker started", extra={"worker_id": self.worker_id})
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker step failed")
                busy = False
            if not busy:
                self._stop.wait(settings.worker_poll_seconds)
        log.info("worker stopped", extra={"worker_id": self.worker_id})

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> bool:
        """One round: heartbeat, the CRLs and fetched revocation data when due, a batch of
        deliveries, the axis poll when due, the held documents due for re-validation, and what a
        crashed process left to the sequencer (audit entries, counter deltas)."""
        self.heartbeat()
        with self.sessions() as s:
            sequencer.settle_for(s, wait=False)
        self.refresh_crls()
        self.refresh_revocation()
        busy = self.deliver_batch() > 0
        busy = self.fetch_timestamps() > 0 or busy
        if (
            self.axis is not None
            and time.monotonic() - self._last_poll >= self.hub.settings.vpcp_poll_seconds
        ):
            from app.documents.inbound import poll_axis

            self._last_poll = time.monotonic()
            busy = (
                poll_axis(
                    self.hub, self.sessions, self.axis, worker_id=self.worker_id, now=self.clock()
                )
                > 0
                or busy
            )
        now = self.clock()
        if self._next_hold_check is None or now >= self._next_hold_check:
            self._next_hold_check = now + HOLD_CHECK
            busy = self.revalidate_held() > 0 or busy
        return busy

    def revalidate_held(self) -> int:
        """Held documents due for another look (SPEC 5.1); only axis traffic is ever held."""
        if self.axis is None:
            return 0
        from app.documents.inbound import revalidate_held

        return revalidate_held(
            self.hub,
            self.sessions,
            self.axis,
            worker_id=self.worker_id,
            now=self.clock(),
            limit=self.batch,
        )

    def heartbeat(self) -> None:
        with unit_of_work(self.sessions) as s:
            row = s.get(WorkerHeartbeat, self.worker_id)
            if row is None:
                s.add(
                    WorkerHeartbeat(
                        worker_id=self.worker_id, hostname=socket.gethostname(), pid=os.getpid()
                    )
                )
            else:
                row.seen_at = utcnow()

    def refresh_crls(self) -> None:
        """Republish the CRLs ahead of expiry: the write that reading the trust store never
        does. At the first round (start-up), then every CRL_CHECK_SECONDS; a failure is
        logged and does not hold up deliveries."""
        if time.monotonic() < self._next_crl_check:
            return
        self._next_crl_check = time.monotonic() + CRL_CHECK_SECONDS
        try:
            with unit_of_work(self.sessions) as s:
                if self.hub.custody.refresh_crls_if_due(s):
                    log.info("CRLs republished ahead of expiry")
        except Exception:
            log.exception("CRL refresh failed")

    def fetch_timestamps(self) -> int:
        """Tokens for signatures stored with their timestamp pending (SPEC 5.2)."""
        from app.documents.timestamps import fetch_pending

        return fetch_pending(self.hub, self.sessions, self.worker_id, limit=self.batch)

    def refresh_revocation(self) -> None:
        """Renew fetched revocation data ahead of expiry (SPEC 5.1), so that requests find it
        fresh in the cache; at the first round, then every CRL_CHECK_SECONDS."""
        if time.monotonic() < self._next_revocation_check:
            return
        self._next_revocation_check = time.monotonic() + CRL_CHECK_SECONDS
        try:
            renewed = self.hub.revocation.refresh_due(self.sessions)
            if renewed:
                log.info("revocation data renewed", extra={"answers": renewed})
        except Exception:
            log.exception("revocation refresh failed")

    # -- outbound ---------------------------------------------------------------------------

    def deliver_batch(self) -> int:
        """Claim a batch, then send its deliveries one by one while a keeper renews the leases
        of those not settled yet; one found taken over is skipped (its new holder sends it)."""
        lease_seconds = self.hub.settings.worker_lease_seconds
        with unit_of_work(self.sessions) as s:
            lease, claimed = outbox.claim(
                s, self.worker_id, limit=self.batch, lease_seconds=lease_seconds, now=self.clock()
            )
        keeper = leases.Keeper(
            self.sessions,
            Delivery,
            lease,
            lease_seconds,
            clock=self.clock,
            every=self.renew_every,
            work_limit=self.send_limit,
        )
        with keeper:
            for c in claimed:
                if not keeper.holds(c.id):
                    log.warning("delivery taken over before its send", extra={"delivery": c.id})
                    continue
                with keeper.working(c.id):
                    self.deliver(c, lease)
        return len(claimed)

    def deliver(self, c: outbox.Claimed, lease: leases.Lease) -> None:
        """Send one claimed delivery through its sink, then settle it in its own transaction
        (only if the claim still holds it)."""
        sink = sinks.sink_for(
            c.mode,
            http=self.http,
            axis=self.axis,
            allow_private=self.hub.settings.webhook_allow_private,
        )
        with self.sessions() as s:
            read_first(s)
            job = self._job(s, c)
        outcome = sink.send(job)
        if not outcome.delivered:
            self._settle_failure(c, lease, outcome.error or "failed", outcome.retryable)
            return
        with unit_of_work(self.sessions) as s:
            outbox.succeed(s, c, lease, external_id=outcome.external_id)
        self.hub_metrics("delivered", c)

    def _settle_failure(
        self, c: outbox.Claimed, lease: leases.Lease, error: str, retryable: bool
    ) -> None:
        with unit_of_work(self.sessions) as s:
            outbox.fail(
                s,
                c,
                lease,
                error,
                retryable=retryable,
                max_attempts=self.hub.settings.max_attempts,
                max_age=self.hub.settings.max_age,
                rng=self.rng,
            )
        self.hub_metrics("failed", c)
        log.warning(
            "delivery attempt failed",
            extra={"delivery": c.id, "organ_id": c.organ_id, "error": error},
        )

    def hub_metrics(self, outcome: str, c: outbox.Claimed) -> None:
        self.hub.metrics.deliveries.labels(c.mode, outcome).inc()

    def _job(self, s: Session, c: outbox.Claimed) -> sinks.Job:
        if c.kind == "status":
            status = s.get(StatusMessage, c.message_id)
            assert status is not None
            blob, sender = status.blob, status.from_organ
        else:
            doc = s.get(Document, c.document)
            assert doc is not None
            blob, sender = doc.blob, doc.from_organ
        org = s.get(Organization, c.organ_id)
        assert org is not None
        return sinks.Job(
            c, self.hub.blobs.read(s, blob), sender, org.delivery_url, org.webhook_secret
        )


def make_axis(hub: Hub) -> AxisConnector | None:
    s = hub.settings
    if not (s.vpcp_url and s.vpcp_system_id and s.vpcp_secret):
        return None
    from app.connectors.vpcp import HttpAxisConnector

    return HttpAxisConnector(
        s.vpcp_url, s.vpcp_system_id, s.vpcp_secret.get_secret_value(), timeout=30.0
    )


def start_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_forever, name="delivery-worker", daemon=True)
    thread.start()
    return thread
