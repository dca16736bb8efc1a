"""What each row contributes to the counters (SPEC 9), as pure functions of row values.

The listener and the recount both go through these functions, so the live counters and a
recount from the documents cannot disagree about a definition; they can only disagree when an
event was missed, which `lienthong stats check` reports. docs/STATISTICS.md states the rules.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from app.core.timeutil import LOCAL_TZ, as_utc

PASSED = "TOTAL_PASSED"
AXIS = "vpcp"
REACHED = ("available", "delivered", "acknowledged")

DOCUMENT_COUNTERS = (
    "sent",
    "deliveries_sent",
    "received",
    "sent_signed",
    "received_valid",
    "central_sent",
    "central_received",
    "failed",
    "sent_self_signed",
    "sent_pdf_signed",
)
STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
STATUS_COLUMNS = tuple(f"status_{c}" for c in STATUS_CODES)

# Delivery time histogram: bucket 0 is "under 10 ms" (a pull recipient's inbox is filled in the
# submitting transaction, so that is exactly 0); bucket k >= 1 holds [10ms*2^((k-1)/2),
# 10ms*2^(k/2)); the last bucket is open-ended (from about 62 days). A median read from it is
# within a factor sqrt(2) of the exact one.
BUCKETS = 60
BASE_MS = 10.0
LATENCY_COLUMNS = tuple(f"lat_{k:02d}" for k in range(BUCKETS))

COLUMNS = DOCUMENT_COUNTERS + STATUS_COLUMNS + LATENCY_COLUMNS

Key = tuple[str, date]


def local_day(at: datetime) -> date:
    """The Asia/Ho_Chi_Minh calendar day of a stored (UTC) time."""
    return as_utc(at).astimezone(LOCAL_TZ).date()


def bucket_of(seconds: float) -> int:
    ms = max(seconds, 0.0) * 1000.0
    if ms < BASE_MS:
        return 0
    return min(BUCKETS - 1, math.floor(2 * math.log2(ms / BASE_MS)) + 1)


def bucket_bounds(k: int) -> tuple[float, float]:
    """[low, high) of bucket k in seconds; the last bucket's high is infinite."""
    if k == 0:
        return 0.0, BASE_MS / 1000.0
    low = BASE_MS * 2 ** ((k - 1) / 2) / 1000.0
    high = math.inf if k == BUCKETS - 1 else BASE_MS * 2 ** (k / 2) / 1000.0
    return low, high


def median_seconds(histogram: Iterable[int]) -> float | None:
    """The lower median (rank ceil(n/2)), interpolated geometrically inside its bucket."""
    counts = list(histogram)
    n = sum(counts)
    if n <= 0:
        return None
    rank = (n + 1) // 2
    seen = 0
    for k, c in enumerate(counts):
        if c <= 0:
            continue
        if seen + c >= rank:
            if k == 0:
                return 0.0
            low, high = bucket_bounds(k)
            if math.isinf(high):
                return round(low, 3)
            fraction = (rank - seen - 0.5) / c
            value: float = low * (high / low) ** fraction
            return round(value, 3)
        seen += c
    return None  # pragma: no cover - unreachable: rank <= n


class Tally:
    """Counter deltas per (organization, local day); what one flush or one recount adds."""

    def __init__(self) -> None:
        self.rows: defaultdict[Key, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, organ_id: str, day: date, column: str, n: int = 1) -> None:
        self.rows[(organ_id, day)][column] += n

    def merge(self, other: Tally, sign: int = 1) -> None:
        for key, cols in other.rows.items():
            mine = self.rows[key]
            for col, n in cols.items():
                mine[col] += sign * n

    def by_month(self) -> Tally:
        """The same deltas keyed by (organization, first day of the month)."""
        out = Tally()
        for (organ, day), cols in self.rows.items():
            mine = out.rows[(organ, day.replace(day=1))]
            for col, n in cols.items():
                mine[col] += n
        return out

    def nonzero(self) -> dict[Key, dict[str, int]]:
        out: dict[Key, dict[str, int]] = {}
        for key in sorted(self.rows):
            cols = {c: n for c, n in self.rows[key].items() if n}
            if cols:
                out[key] = cols
        return out

    def __bool__(self) -> bool:
        return any(any(cols.values()) for cols in self.rows.values())


# -- row snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocRow:
    """The Document columns the counters read."""

    id: str
    from_organ: str
    business_type: int
    quarantined: bool
    indication: str | None
    accepted_at: datetime
    origin: str
    signed_by_hub: bool = False
    pdf_signed: bool = False

    @property
    def counted(self) -> bool:
        """Only new documents (type 0) that were not quarantined are interchange."""
        return self.business_type == 0 and not self.quarantined


@dataclass(frozen=True)
class DeliveryRow:
    """The Delivery columns the counters read."""

    id: str
    document: str
    kind: str
    organ_id: str
    route: str
    state: str
    available_at: datetime | None

    @property
    def axis(self) -> bool:
        return self.kind == "document" and self.route == AXIS


@dataclass(frozen=True)
class StatusRow:
    id: str
    from_organ: str
    code: str
    accepted_at: datetime


def document_contribution(doc: DocRow, has_axis_delivery: bool, tally: Tally, sign: int) -> None:
    """sent, sent_signed, sent_self_signed, sent_pdf_signed, central_sent: for the sender, on
    the day the hub accepted it. Self-signed: the package arrived with the sender's passing
    signature (the hub did not seal it); PDF-signed: it has PDFs and each passes with a
    signature of the sender (`Document.pdf_signed`, whoever applied it)."""
    if not doc.counted:
        return
    key = (doc.from_organ, local_day(doc.accepted_at))
    tally.add(*key, "sent", sign)
    if doc.indication == PASSED:
        tally.add(*key, "sent_signed", sign)
        if not doc.signed_by_hub:
            tally.add(*key, "sent_self_signed", sign)
    if doc.pdf_signed:
        tally.add(*key, "sent_pdf_signed", sign)
    if doc.origin == AXIS or has_axis_delivery:
        tally.add(*key, "central_sent", sign)


def delivery_contribution(d: DeliveryRow, doc: DocRow | None, tally: Tally, sign: int) -> None:
    """deliveries_sent and failed for the sender; received, validity, latency for the recipient."""
    if d.kind != "document" or doc is None or not doc.counted:
        return
    sender = (doc.from_organ, local_day(doc.accepted_at))
    tally.add(*sender, "deliveries_sent", sign)
    if d.state == "dead":
        tally.add(*sender, "failed", sign)
    if d.available_at is None:
        return
    recipient = (d.organ_id, local_day(d.available_at))
    tally.add(*recipient, "received", sign)
    if doc.indication == PASSED:
        tally.add(*recipient, "received_valid", sign)
    if d.route == AXIS or doc.origin == AXIS:
        tally.add(*recipient, "central_received", sign)
    seconds = (as_utc(d.available_at) - as_utc(doc.accepted_at)).total_seconds()
    tally.add(*recipient, LATENCY_COLUMNS[bucket_of(seconds)], sign)


def status_contribution(s: StatusRow, tally: Tally, sign: int) -> None:
    """statuses per code, for the organization that reported it, on the day it was accepted."""
    if s.code in STATUS_CODES:
        tally.add(s.from_organ, local_day(s.accepted_at), f"status_{s.code}", sign)


def totals(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out = dict.fromkeys(COLUMNS, 0)
    for row in rows:
        for col, n in row.items():
            if n and col in out:
                out[col] += int(n)
    return out


def public_counters(row: Mapping[str, int]) -> dict[str, object]:
    """The SPEC 9 counter set of one summed row, as the API shows it."""
    out: dict[str, object] = {c: int(row.get(c) or 0) for c in DOCUMENT_COUNTERS}
    out["median_delivery_seconds"] = median_seconds(int(row.get(c) or 0) for c in LATENCY_COLUMNS)
    out["statuses"] = {code: int(row.get(f"status_{code}") or 0) for code in STATUS_CODES}
    return out
