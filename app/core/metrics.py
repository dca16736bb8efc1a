"""Prometheus metrics, one registry per app so tests and processes stay apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lienthong_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lienthong_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.deliveries = Counter(
            "lienthong_delivery_attempts_total",
            "Delivery attempts by route and outcome",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.timestamps_pending = Gauge(
            "lienthong_timestamps_pending",
            "Signatures whose RFC 3161 token the worker has yet to fetch (sampled by the worker)",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "lienthong_deliveries_waiting",
            "Deliveries queued or retrying (sampled by the worker)",
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "lienthong_signature_failures_total",
            "Signatures that did not pass, by origin (api: refused, vpcp: quarantined), "
            "indication and sub-indication (counted by this process)",
            ["origin", "indication", "sub_indication"],
            registry=self.registry,
        )
        self.revocation_fetch_failures = Counter(
            "lienthong_revocation_fetch_failures_total",
            "Fetches of revocation data or caIssuers certificates that gave nothing usable, by "
            "kind (crl, ocsp, cert) and reason (refused: a private or reserved address, no "
            "request sent; failed: unreachable, over a limit or unusable)",
            ["kind", "reason"],
            registry=self.registry,
        )
        # Read from the database at each scrape (the same in every process):
        self.quarantined = Gauge(
            "lienthong_documents_quarantined",
            "Documents from the axis kept in quarantine (their signature did not pass)",
            registry=self.registry,
        )
        self.dead = Gauge(
            "lienthong_deliveries_dead",
            "Deliveries that went dead (MAX_ATTEMPTS or MAX_AGE), waiting for a re-drive",
            ["route"],
            registry=self.registry,
        )
        self.unacknowledged = Gauge(
            "lienthong_inbox_unacknowledged",
            "Inbox items (pull deliveries) available and not yet acknowledged",
            registry=self.registry,
        )
        self.oldest_unacknowledged = Gauge(
            "lienthong_inbox_oldest_unacknowledged_seconds",
            "Age of the oldest inbox item not yet acknowledged (0 when none)",
            registry=self.registry,
        )
        self.held_documents = Gauge(
            "lienthong_documents_held",
            "Documents from the axis held for lack of fresh revocation data (read at scrape)",
            registry=self.registry,
        )
