"""Where a claimed delivery goes: one small interface, one implementation per delivery mode.

The worker picks the sink once per delivery from its mode (set at enqueue from the
recipient's route and delivery mode: `push` → the organization's webhook, `axis` → the
national axis) and only ever calls `send`; it does not branch on the mode itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from app.connectors.vpcp import AxisConnector, AxisError
from app.core import webhooks
from app.delivery.outbox import Claimed
from app.directory import push_targets


@dataclass(frozen=True)
class Job:
    """A claimed delivery with what it carries and where it goes."""

    claimed: Claimed
    body: bytes
    sender: str
    url: str | None = None
    secret: str | None = None


@dataclass(frozen=True)
class Outcome:
    """Delivered (with the receiver's id for it, if any), or failed and maybe retryable."""

    delivered: bool
    error: str | None = None
    retryable: bool = True
    external_id: str | None = None


class DeliverySink(Protocol):
    def send(self, job: Job) -> Outcome: ...


@dataclass
class WebhookSink:
    """Push: a Standard Webhooks POST to the organization's URL; any 2xx is delivered.

    The URL's host is resolved and checked at every send and the request goes to the checked
    address (so a DNS answer that changed since registration cannot aim it inward), unless
    WEBHOOK_ALLOW_PRIVATE."""

    http: httpx.Client
    allow_private: bool = False

    def send(self, job: Job) -> Outcome:
        if not (job.url and job.secret):
            return Outcome(False, "no webhook URL or secret in the directory", retryable=True)
        try:
            target, host, extensions = push_targets.pinned(
                job.url, allow_private=self.allow_private
            )
        except push_targets.PushTargetRefused as exc:
            return Outcome(False, exc.detail, retryable=False)
        except push_targets.PushTargetUnresolved as exc:
            return Outcome(False, str(exc), retryable=True)
        try:
            r = self.http.post(
                target,
                content=job.body,
                headers=webhooks.headers(job.secret, job.claimed.id, job.body) | host,
                extensions=extensions,
            )
        except httpx.HTTPError as exc:
            return Outcome(False, push_targets.describe_failure(exc), retryable=True)
        if not 200 <= r.status_code < 300:
            return Outcome(False, f"webhook answered {r.status_code}", retryable=True)
        return Outcome(True)


@dataclass
class AxisSink:
    """The national axis: sendEdoc as the sender; the axis DocId is kept as external id."""

    axis: AxisConnector | None

    def send(self, job: Job) -> Outcome:
        if self.axis is None:
            return Outcome(
                False, "no axis connector configured (LIENTHONG_VPCP_URL)", retryable=True
            )
        c = job.claimed
        try:
            external = self.axis.send_edoc(
                job.body,
                from_organ=job.sender,
                to=[c.organ_id],
                message_type="status" if c.kind == "status" else "edoc",
            )
        except AxisError as exc:
            return Outcome(False, f"axis: {exc}", retryable=exc.retryable)
        return Outcome(True, external_id=external)


@dataclass
class Unroutable:
    """A mode no sink serves: never retried."""

    mode: str

    def send(self, job: Job) -> Outcome:
        return Outcome(False, f"unknown delivery mode {self.mode}", retryable=False)


def sink_for(
    mode: str, *, http: httpx.Client, axis: AxisConnector | None, allow_private: bool = False
) -> DeliverySink:
    if mode == "push":
        return WebhookSink(http, allow_private)
    if mode == "axis":
        return AxisSink(axis)
    return Unroutable(mode)
