"""The statistics endpoints and the `lienthong stats` commands (both databases)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import update

from app.cli import main
from app.core.db import unit_of_work
from app.core.timeutil import LOCAL_TZ
from app.delivery.models import Delivery
from tests.stats.conftest import Driver, mismatches

STATS = "/api/v1/stats"


def _seed(driver: Driver) -> dict[str, Any]:
    """OWN sends 2 (one to the axis), PROVINCE sends 1, the axis sends 1 to OWN2."""
    w = driver.world
    a = driver.submit(w.OWN, [w.OWN2, w.FOREIGN])
    b = driver.submit(w.OWN, [w.EXTERNAL])
    c = driver.submit(w.PROVINCE, [w.OWN])
    assert driver.from_axis(w.EXTERNAL, [w.OWN2]) == "delivered"
    axis_delivery = driver.deliveries(document=b["id"])[0]
    driver.set_delivery(axis_delivery.id, state="delivered")
    return {"a": a, "b": b, "c": c}


def test_interchange_items_and_csv(driver: Driver) -> None:
    w = driver.world
    _seed(driver)
    year = datetime.now(LOCAL_TZ).year
    r = driver.client.get(
        f"{STATS}/interchange",
        params={"since": f"{year}-01-01", "until": f"{year}-12-31", "granularity": "year"},
        headers=w.auth("reporter"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    items = {i["organ_id"]: i for i in body["items"]}
    # Every active organization has an item, zeros included (dense table).
    assert set(items) == {w.OWN, w.OWN2, w.FOREIGN, w.PROVINCE, w.EXTERNAL, w.OTHER_PROVINCE}
    own = items[w.OWN]
    assert own["period"] == str(year) and own["name"] == "Sở Nội vụ"
    assert (own["sent"], own["deliveries_sent"], own["central_sent"], own["sent_signed"]) == (
        2,
        3,
        1,
        2,
    )
    assert own["received"] == 1  # from PROVINCE
    assert items[w.OWN2]["received"] == 2 and items[w.OWN2]["central_received"] == 1
    assert items[w.EXTERNAL]["sent"] == 1 and items[w.EXTERNAL]["received"] == 1
    assert items[w.OTHER_PROVINCE]["sent"] == 0
    assert set(own["statuses"]) == {"01", "02", "03", "04", "05", "06", "13", "15", "16"}
    assert own["median_delivery_seconds"] is not None

    r = driver.client.get(
        f"{STATS}/interchange",
        params={"since": f"{year}-01-01", "until": f"{year}-12-31", "granularity": "year"},
        headers=w.auth("admin") | {"Accept": "text/csv"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    # Headers are words (Vietnamese / English), documented in docs/STATISTICS.md.
    assert list(rows[0])[:5] == [
        "Kỳ / Period",
        "Mã định danh / OrganId",
        "Tên cơ quan / Organization",
        "Văn bản đã gửi / Documents sent",
        "Lượt gửi / Deliveries sent",
    ]
    assert "Trạng thái 01 đã đến / arrived" in rows[0]
    assert "Thời gian chuyển trung vị (giây) / Median delivery time (s)" in rows[0]
    by = {row["Mã định danh / OrganId"]: row for row in rows}
    assert by[w.OWN]["Tên cơ quan / Organization"] == "Sở Nội vụ"
    assert by[w.OWN]["Văn bản đã gửi / Documents sent"] == "2"
    assert by[w.EXTERNAL]["Tên cơ quan / Organization"] == "Văn phòng Chính phủ"
    assert "Sở Tài chính".encode() in r.content


def test_inactive_report_and_refusals(driver: Driver) -> None:
    w = driver.world
    _seed(driver)
    year = datetime.now(LOCAL_TZ).year
    auth = w.auth("reporter")
    r = driver.client.get(
        f"{STATS}/inactive", params={"since": f"{year}-01-01"}, headers=auth
    ).json()
    assert r["items"] == []  # all four local organizations sent or received
    r = driver.client.get(
        f"{STATS}/inactive", params={"since": "2020-01-01", "until": "2020-12-31"}, headers=auth
    ).json()
    assert [i["organ_id"] for i in r["items"]] == sorted(
        [w.PROVINCE, w.OWN, w.OWN2, w.FOREIGN]
    )  # local only: the external ones are not the province's units
    csv_inactive = driver.client.get(
        f"{STATS}/inactive",
        params={"since": "2020-01-01", "until": "2020-12-31"},
        headers=auth | {"Accept": "text/csv"},
    )
    assert csv_inactive.content.decode("utf-8-sig").splitlines()[0] == (
        "Mã định danh / OrganId,Tên cơ quan / Organization,"
        "Cơ quan cấp trên / Parent OrganId,Cấp / Level"
    )
    assert "UBND tỉnh" in csv_inactive.content.decode("utf-8-sig")

    rep = driver.client.get(f"{STATS}/report", params={"year": year}, headers=auth).json()
    ind = rep["indicators"]
    assert ind["documents_exchanged"] == 4  # 3 local + 1 from the axis
    assert ind["documents_sent_local"] == 3 and ind["documents_from_axis"] == 1
    assert ind["share_signed"] == 1.0
    assert ind["documents_with_government_office"] == 2  # one out to the axis, one in
    assert ind["deliveries_received"] == 4 and ind["share_received_valid"] == 1.0
    assert ind["organizations_connected"] == 4 and ind["organizations_inactive"] == 0
    month = rep["months"][datetime.now(LOCAL_TZ).month - 1]
    assert (month["sent"], month["received"], month["central"]) == (3, 4, 2)
    assert [o["organ_id"] for o in rep["organizations"]][:4] == sorted(
        [w.PROVINCE, w.OWN, w.OWN2, w.FOREIGN]
    )
    csv_report = driver.client.get(
        f"{STATS}/report", params={"year": year}, headers=auth | {"Accept": "text/csv"}
    ).content.decode("utf-8-sig")
    assert csv_report.startswith("Mã chỉ tiêu / Key,Chỉ tiêu / Indicator,Giá trị / Value\r\n")
    assert "Văn bản điện tử đã trao đổi / Documents exchanged electronically,4" in csv_report
    assert (
        "\r\n\r\nMã định danh / OrganId,Tên cơ quan / Organization,Tuyến / Route,"
        "Đang hoạt động / Active,Văn bản đã gửi / Documents sent," in csv_report
    )
    table = list(csv.reader(io.StringIO(csv_report.split("\r\n\r\n", 1)[1])))
    assert {row[3] for row in table[1:]} == {"có / yes"}  # booleans in words, never True
    assert {row[2] for row in table[1:]} == {"trong tỉnh / local", "qua Trục / via the axis"}
    assert "True" not in csv_report and "False" not in csv_report

    bad = [
        (f"{STATS}/interchange", {"granularity": "week"}, 422),
        (f"{STATS}/interchange", {"since": "2026-02-01", "until": "2026-01-01"}, 422),
        (f"{STATS}/interchange", {"organ_id": "000.00.99.H39"}, 404),
        (
            f"{STATS}/interchange",
            {"since": "2000-01-01", "until": "2099-12-31", "granularity": "day"},
            422,
        ),
        (f"{STATS}/report", {"year": 1999}, 422),
    ]
    for path, params, status in bad:
        r2 = driver.client.get(path, params=params, headers=auth)
        assert r2.status_code == status, (params, r2.text)
        assert r2.headers["content-type"].startswith("application/problem+json")
    assert driver.client.get(f"{STATS}/report", headers=w.auth("system")).status_code == 403
    assert driver.client.get(f"{STATS}/report", headers=w.auth("auditor")).status_code == 403


def _cli(settings: Any, *args: str) -> Any:
    env = {
        "LIENTHONG_DATABASE_URL": settings.database_url,
        "LIENTHONG_DATA_DIR": str(settings.data_dir),
        "LIENTHONG_KEY_PASSPHRASE": "test-passphrase",
    }
    return CliRunner().invoke(main, ["stats", *args], env=env, catch_exceptions=False)


def test_cli_export_check_rebuild(driver: Driver, settings: Any, tmp_path: Path) -> None:
    w = driver.world
    seeded = _seed(driver)
    year = datetime.now(LOCAL_TZ).year
    out = _cli(settings, "export", "--year", str(year), "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["year"] == year and data["indicators"]["documents_exchanged"] == 4
    target = tmp_path / "report.csv"
    out = _cli(settings, "export", "--year", str(year), "--format", "csv", "-o", str(target))
    assert out.exit_code == 0
    raw = target.read_bytes()
    assert raw.startswith("\ufeffMã chỉ tiêu / Key,".encode()) and "Sở Nội vụ".encode() in raw

    assert _cli(settings, "check").exit_code == 0
    with unit_of_work(driver.sessions) as s:  # drift: a bulk UPDATE the listener cannot see
        s.execute(
            update(Delivery).where(Delivery.document == seeded["a"]["id"]).values(state="dead")
        )
    out = _cli(settings, "check")
    assert out.exit_code == 1
    assert f"{w.OWN} " in out.stdout and "failed: stored 0, recount 2" in out.stdout
    out = _cli(settings, "rebuild")
    assert out.exit_code == 0 and "rebuilt" in out.stdout
    assert _cli(settings, "check").exit_code == 0
    assert mismatches(driver.sessions) == []


def test_periods_from_months_and_cut_days_equal_the_days(driver: Driver) -> None:
    """Whole months are read from stats_monthly, cut months from stats_daily: same sums.

    Documents sit on the first and last days of months, where a range's cut falls."""
    from datetime import date

    from app.stats.reports import period_of
    from tests.stats.conftest import counters, local_time

    w = driver.world
    for when in (
        (2025, 12, 15),
        (2026, 1, 1),
        (2026, 1, 31),
        (2026, 2, 1),
        (2026, 2, 28),
        (2026, 3, 15),
        (2026, 3, 31),
    ):
        driver.place(driver.submit(w.OWN, [w.OWN2]), local_time(*when, 23, 30))
    days = counters(driver.sessions)
    ranges = [
        ("2025-12-01", "2026-03-31"),
        ("2025-12-16", "2026-03-30"),
        ("2026-01-31", "2026-02-01"),
        ("2025-12-15", "2026-03-15"),
        ("2026-02-02", "2026-03-14"),
    ]
    for since, until in ranges:
        for granularity in ("month", "quarter", "year"):
            items = driver.client.get(
                f"{STATS}/interchange",
                params={"since": since, "until": until, "granularity": granularity},
                headers=w.auth("reporter"),
            ).json()["items"]
            got = {(i["period"], i["organ_id"]): (i["sent"], i["received"]) for i in items}
            want: dict[tuple[str, str], tuple[int, int]] = {}
            for (organ, day), cols in days.items():
                if date.fromisoformat(since) <= day <= date.fromisoformat(until):
                    key = (period_of(day, granularity), organ)
                    sent, received = want.get(key, (0, 0))
                    want[key] = (sent + cols.get("sent", 0), received + cols.get("received", 0))
            assert {k: v for k, v in got.items() if v != (0, 0)} == want, (since, until)
