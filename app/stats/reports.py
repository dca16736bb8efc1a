"""Reading the counters: periods, the interchange table, inactive organizations, the annual
report, and their CSV form. Every answer sums stats_daily rows (one per organization-day), so
its cost grows with organizations x days, never with documents.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from app.core import sequencer
from app.core.errors import NotFound, Unprocessable
from app.core.timeutil import LOCAL_TZ
from app.directory.models import Organization
from app.stats.counters import (
    AXIS,
    COLUMNS,
    DOCUMENT_COUNTERS,
    LATENCY_COLUMNS,
    STATUS_CODES,
    median_seconds,
    public_counters,
    totals,
)
from app.stats.models import MONTHLY_TABLE, STATS_TABLE

GRANULARITIES = ("day", "month", "quarter", "year")
MAX_ITEMS = 100_000

INTERCHANGE_COLUMNS = (
    "period",
    "organ_id",
    "name",
    *DOCUMENT_COUNTERS,
    "median_delivery_seconds",
    *(f"statuses_{c}" for c in STATUS_CODES),
)

# Vietnamese first, English beside it: the labels of the annual report.
INDICATORS: dict[str, str] = {
    "documents_exchanged": "Văn bản điện tử đã trao đổi / Documents exchanged electronically",
    "documents_sent_local": "Văn bản do cơ quan trong tỉnh gửi / Documents sent by local units",
    "documents_from_axis": "Văn bản nhận từ Trục liên thông / Documents received from the axis",
    "documents_signed": "Văn bản có chữ ký số hợp lệ / Documents with a passing signature",
    "share_signed": "Tỷ lệ văn bản có ký số / Share signed",
    "documents_self_signed": (
        "Văn bản do chính cơ quan gửi ký số / Documents signed by the sending organization itself"
    ),
    "share_self_signed": (
        "Tỷ lệ văn bản do cơ quan gửi tự ký số / Share signed by the sender itself (not sealed "
        "by the hub)"
    ),
    "documents_pdf_signed": (
        "Văn bản có tệp PDF ký số hợp lệ của cơ quan ban hành / Documents whose PDFs carry the "
        "issuing organization's valid signature"
    ),
    "share_pdf_signed": (
        "Tỷ lệ văn bản PDF có chữ ký số của cơ quan ban hành / Share with the issuer's PDF "
        "signature"
    ),
    "deliveries_received": "Lượt nhận văn bản / Documents received (deliveries)",
    "deliveries_received_valid": "Lượt nhận có chữ ký hợp lệ / Received with a passing signature",
    "share_received_valid": "Tỷ lệ nhận có chữ ký hợp lệ / Share received with a passing signature",
    "documents_with_government_office": (
        "Văn bản liên thông với Văn phòng Chính phủ / Documents exchanged with the Government Office"
    ),
    "deliveries_failed": "Lượt gửi thất bại / Failed deliveries",
    "median_delivery_seconds": "Thời gian chuyển trung vị (giây) / Median delivery time (s)",
    "organizations_connected": "Cơ quan đã kết nối / Organizations connected",
    "organizations_active": "Cơ quan có trao đổi / Organizations active",
    "organizations_inactive": "Cơ quan chưa trao đổi / Organizations inactive",
}


# The CSV header of each column (the JSON answers keep the machine names): Vietnamese first,
# English beside it, as the indicators. A column missing here is headed by its machine name.
STATUS_WORDS = {
    "01": "đã đến / arrived",
    "02": "từ chối / rejected",
    "03": "đã tiếp nhận / accepted",
    "04": "phân công / assigned",
    "05": "đang xử lý / in progress",
    "06": "hoàn thành / completed",
    "13": "xin lấy lại / take-back asked",
    "15": "đồng ý thu hồi, cập nhật / revoke or update accepted",
    "16": "từ chối thu hồi, cập nhật / revoke or update refused",
}
COLUMN_LABELS: dict[str, str] = {
    "period": "Kỳ / Period",
    "organ_id": "Mã định danh / OrganId",
    "name": "Tên cơ quan / Organization",
    "route": "Tuyến / Route",
    "active": "Đang hoạt động / Active",
    "parent_id": "Cơ quan cấp trên / Parent OrganId",
    "level": "Cấp / Level",
    "sent": "Văn bản đã gửi / Documents sent",
    "deliveries_sent": "Lượt gửi / Deliveries sent",
    "received": "Văn bản đã nhận / Documents received",
    "sent_signed": "Gửi có chữ ký hợp lệ / Sent with a passing signature",
    "sent_self_signed": "Gửi do chính cơ quan ký số / Sent signed by the sender itself",
    "sent_pdf_signed": "Gửi có PDF ký số của cơ quan ban hành / Sent with the issuer's PDF signature",
    "received_valid": "Nhận có chữ ký hợp lệ / Received with a passing signature",
    "central_sent": "Gửi qua Trục / Sent via the axis",
    "central_received": "Nhận qua Trục / Received via the axis",
    "failed": "Gửi thất bại / Failed deliveries",
    "median_delivery_seconds": "Thời gian chuyển trung vị (giây) / Median delivery time (s)",
    **{f"statuses_{c}": f"Trạng thái {c} {w}" for c, w in STATUS_WORDS.items()},
}
ROUTE_WORDS = {"local": "trong tỉnh / local", AXIS: "qua Trục / via the axis"}
YES, NO = "có / yes", "không / no"


@dataclass(frozen=True)
class Org:
    organ_id: str
    name: str
    route: str
    active: bool
    parent_id: str | None
    level: int | None

    @property
    def local(self) -> bool:
        return self.route != AXIS


# -- periods ------------------------------------------------------------------------------------


def today_local() -> date:
    return datetime.now(LOCAL_TZ).date()


def default_range(since: date | None, until: date | None) -> tuple[date, date]:
    """Missing bounds: from 1 January of this (local) year to today; refuse an empty range."""
    until = until or today_local()
    since = since or date(until.year, 1, 1)
    if since > until:
        raise Unprocessable("since is after until", code="request.invalid")
    return since, until


def period_of(day: date, granularity: str) -> str:
    if granularity == "day":
        return day.isoformat()
    if granularity == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if granularity == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


def periods(since: date, until: date, granularity: str) -> list[str]:
    """Every period that [since, until] touches, in order."""
    out: list[str] = []
    if granularity == "day":
        return [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]
    y, m = since.year, since.month
    while (y, m) <= (until.year, until.month):
        p = period_of(date(y, m, 1), granularity)
        if not out or out[-1] != p:
            out.append(p)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# -- queries ------------------------------------------------------------------------------------


def organizations(session: Session) -> dict[str, Org]:
    rows = session.execute(
        select(
            Organization.organ_id,
            Organization.name,
            Organization.route,
            Organization.active,
            Organization.parent_id,
            Organization.level,
        )
    )
    return {r.organ_id: Org(*r) for r in rows}


def _month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _query(
    session: Session,
    table: Table,
    where: list[Any],
    granularity: str,
    organ_id: str | None,
    out: dict[tuple[str, str], dict[str, int]],
) -> None:
    """Add the counter sums of `table` per (organization, period) into `out`."""
    keys: list[Any]
    if granularity == "day":
        keys = [table.c.day]
    elif granularity == "month":
        keys = [table.c.year, table.c.month]
    elif granularity == "quarter":
        keys = [table.c.year, ((table.c.month + 2) // 3).label("quarter")]
    else:
        keys = [table.c.year]
    stmt = (
        select(table.c.organ_id, *keys, *(func.sum(table.c[c]).label(c) for c in COLUMNS))
        .where(*where)
        .group_by(table.c.organ_id, *keys)
    )
    if organ_id:
        stmt = stmt.where(table.c.organ_id == organ_id)
    first = 1 + len(keys)
    for r in session.execute(stmt):
        if granularity == "day":
            period = period_of(r[1], "day")
        elif granularity == "month":
            period = f"{r[1]:04d}-{r[2]:02d}"
        elif granularity == "quarter":
            period = f"{r[1]:04d}-Q{int(r[2])}"
        else:
            period = f"{r[1]:04d}"
        row = out.get((r[0], period))
        if row is None:
            out[(r[0], period)] = {c: int(v or 0) for c, v in zip(COLUMNS, r[first:], strict=True)}
        else:
            for c, v in zip(COLUMNS, r[first:], strict=True):
                row[c] += int(v or 0)


def _grouped(
    session: Session, since: date, until: date, granularity: str, organ_id: str | None
) -> dict[tuple[str, str], dict[str, int]]:
    """Counter sums per (organization, period): whole months from stats_monthly, the days of a
    month cut by `since` or `until` from stats_daily."""
    sequencer.settle_for(session)  # counter deltas committed but not yet folded in
    out: dict[tuple[str, str], dict[str, int]] = {}
    daily, monthly = STATS_TABLE, MONTHLY_TABLE
    first_full = (
        since if since.day == 1 else (since.replace(day=1) + timedelta(days=32)).replace(day=1)
    )
    last_full = until if _month_end(until) else until.replace(day=1) - timedelta(days=1)
    if granularity == "day" or first_full > last_full:
        _query(
            session, daily, [daily.c.day >= since, daily.c.day <= until], granularity, organ_id, out
        )
        return out
    index = monthly.c.year * 12 + monthly.c.month
    whole = [
        index >= first_full.year * 12 + first_full.month,
        index <= last_full.year * 12 + last_full.month,
    ]
    _query(session, monthly, whole, granularity, organ_id, out)
    if since < first_full:
        head = [daily.c.day >= since, daily.c.day < first_full]
        _query(session, daily, head, granularity, organ_id, out)
    if until > last_full:
        tail = [daily.c.day > last_full, daily.c.day <= until]
        _query(session, daily, tail, granularity, organ_id, out)
    return out


def _name(orgs: Mapping[str, Org], organ_id: str) -> str:
    org = orgs.get(organ_id)
    return org.name if org else organ_id


def interchange(
    session: Session,
    *,
    since: date | None,
    until: date | None,
    granularity: str,
    organ_id: str | None,
) -> list[dict[str, Any]]:
    """One item per organization and period: every active organization (zeros included) and
    any other that has counters in the range."""
    if granularity not in GRANULARITIES:
        raise Unprocessable(f"granularity is one of {', '.join(GRANULARITIES)}")
    since, until = default_range(since, until)
    orgs = organizations(session)
    data = _grouped(session, since, until, granularity, organ_id)
    if organ_id:
        if organ_id not in orgs and not data:
            raise NotFound(f"no organization {organ_id}", code="organization.not_found")
        included = [organ_id]
    else:
        with_rows = {o for o, _ in data}
        included = sorted({o for o, org in orgs.items() if org.active} | with_rows)
    spans = periods(since, until, granularity)
    if len(spans) * len(included) > MAX_ITEMS:
        raise Unprocessable(
            f"{len(spans) * len(included)} items: narrow the range, pick one organ_id or a "
            "coarser granularity",
            code="stats.range_too_large",
        )
    empty = dict.fromkeys(COLUMNS, 0)
    return [
        {"period": p, "organ_id": o, "name": _name(orgs, o)}
        | public_counters(data.get((o, p), empty))
        for p in spans
        for o in included
    ]


def _idle(orgs: Mapping[str, Org], busy: set[str]) -> list[dict[str, Any]]:
    return [
        {"organ_id": o.organ_id, "name": o.name, "parent_id": o.parent_id, "level": o.level}
        for o in sorted(orgs.values(), key=lambda o: o.organ_id)
        if o.active and o.local and o.organ_id not in busy
    ]


def inactive(session: Session, *, since: date | None, until: date | None) -> list[dict[str, Any]]:
    """Active local organizations that neither sent nor received a document in the range."""
    since, until = default_range(since, until)
    data = _grouped(session, since, until, "year", None)
    busy = {organ for (organ, _), row in data.items() if row["sent"] or row["received"]}
    return _idle(organizations(session), busy)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def report(session: Session, year: int) -> dict[str, Any]:
    """The province's indicator set for one year, the months, and the per-organization table."""
    if not 2000 <= year <= 2200:
        raise Unprocessable("year is between 2000 and 2200", code="request.invalid")
    since, until = date(year, 1, 1), date(year, 12, 31)
    orgs = organizations(session)
    data = _grouped(session, since, until, "month", None)
    per_org: defaultdict[str, list[dict[str, int]]] = defaultdict(list)
    per_month: defaultdict[str, list[tuple[str, dict[str, int]]]] = defaultdict(list)
    for (organ, period), row in data.items():
        per_org[organ].append(row)
        per_month[period].append((organ, row))

    def is_local(organ: str) -> bool:
        org = orgs.get(organ)
        return org is not None and org.local

    year_rows = {o: totals(rows) for o, rows in per_org.items()}
    everything = totals(year_rows.values())
    local = totals(r for o, r in year_rows.items() if is_local(o))
    idle = _idle(orgs, {o for o, r in year_rows.items() if r["sent"] or r["received"]})
    connected = sum(1 for o in orgs.values() if o.active and o.local)
    indicators: dict[str, Any] = {
        "documents_exchanged": everything["sent"],
        "documents_sent_local": local["sent"],
        "documents_from_axis": everything["sent"] - local["sent"],
        "documents_signed": everything["sent_signed"],
        "share_signed": _share(everything["sent_signed"], everything["sent"]),
        "documents_self_signed": everything["sent_self_signed"],
        "share_self_signed": _share(everything["sent_self_signed"], everything["sent"]),
        "documents_pdf_signed": everything["sent_pdf_signed"],
        "share_pdf_signed": _share(everything["sent_pdf_signed"], everything["sent"]),
        "deliveries_received": local["received"],
        "deliveries_received_valid": local["received_valid"],
        "share_received_valid": _share(local["received_valid"], local["received"]),
        "documents_with_government_office": everything["central_sent"],
        "deliveries_failed": everything["failed"],
        "median_delivery_seconds": median_seconds(everything[c] for c in LATENCY_COLUMNS),
        "organizations_connected": connected,
        "organizations_active": connected - len(idle),
        "organizations_inactive": len(idle),
    }
    months = []
    for period in periods(since, until, "month"):
        rows = per_month.get(period, [])
        months.append(
            {
                "period": period,
                "sent": sum(r["sent"] for o, r in rows if is_local(o)),
                "received": sum(r["received"] for o, r in rows if is_local(o)),
                "central": sum(r["central_sent"] for _, r in rows),
                "signed": sum(r["sent_signed"] for _, r in rows),
                "self_signed": sum(r["sent_self_signed"] for _, r in rows),
                "pdf_signed": sum(r["sent_pdf_signed"] for _, r in rows),
                "exchanged": sum(r["sent"] for _, r in rows),
            }
        )
    listed = sorted(
        {o for o, org in orgs.items() if org.active or o in year_rows} | set(year_rows),
        key=lambda o: (not is_local(o), o),
    )
    empty = dict.fromkeys(COLUMNS, 0)
    table = []
    for o in listed:
        org = orgs.get(o)
        table.append(
            {
                "organ_id": o,
                "name": _name(orgs, o),
                "route": org.route if org else AXIS,
                "active": org.active if org else False,
                "parent_id": org.parent_id if org else None,
            }
            | public_counters(year_rows.get(o, empty))
        )
    return {
        "year": year,
        "indicators": indicators,
        "labels": INDICATORS,
        "months": months,
        "organizations": table,
        "inactive": idle,
    }


# -- CSV ----------------------------------------------------------------------------------------


#: What spreadsheet software reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe to put in a CSV cell: a text starting like a formula gets a leading `'`.

    Organization names come from the directory (and, for external ones, from the axis): a
    name such as `=HYPERLINK(...)` would otherwise run in the reporter's spreadsheet.
    Numbers are left alone, so a negative count still reads as a number.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _flat(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k != "statuses"}
    if "route" in out:
        out["route"] = ROUTE_WORDS.get(out["route"], out["route"])
    for code, n in (item.get("statuses") or {}).items():
        out[f"statuses_{code}"] = n
    return {k: csv_cell(v) for k, v in out.items()}


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header of COLUMN_LABELS, then one line per row in `columns` order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([COLUMN_LABELS.get(c, c) for c in columns])
    for row in rows:
        flat = _flat(row)
        writer.writerow([flat.get(c, "") for c in columns])
    return buf.getvalue()


def with_bom(text: str) -> bytes:
    """UTF-8 with a BOM, so that spreadsheet software shows Vietnamese names intact."""
    return ("\ufeff" + text).encode("utf-8")


def interchange_csv(items: Iterable[Mapping[str, Any]]) -> str:
    return to_csv(items, INTERCHANGE_COLUMNS)


def inactive_csv(items: Iterable[Mapping[str, Any]]) -> str:
    return to_csv(items, ("organ_id", "name", "parent_id", "level"))


def report_csv(data: Mapping[str, Any]) -> str:
    """Indicators (key, bilingual label, value), a blank line, then the organization table."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["Mã chỉ tiêu / Key", "Chỉ tiêu / Indicator", "Giá trị / Value"])
    writer.writerow(["year", "Năm / Year", data["year"]])
    for key, value in data["indicators"].items():
        writer.writerow([csv_cell(key), csv_cell(INDICATORS.get(key, key)), csv_cell(value)])
    writer.writerow([])
    columns = (
        "organ_id",
        "name",
        "route",
        "active",
        *DOCUMENT_COUNTERS,
        "median_delivery_seconds",
        *(f"statuses_{c}" for c in STATUS_CODES),
    )
    return buf.getvalue() + to_csv(data["organizations"], columns)
