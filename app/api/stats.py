"""Statistics routes (reporter, admin): JSON by default, CSV with `Accept: text/csv` (SPEC 9)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import OrganIdQuery, SessionDep, StatsPrincipal
from app.api.problems import responses
from app.stats import reports
from app.stats.schemas import InactiveOut, InterchangeOut, ReportOut

router = APIRouter(prefix="/stats", tags=["statistics"])

CSV = "text/csv"


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "JSON, or CSV (UTF-8 with BOM) when the request sends Accept: text/csv",
            "content": {CSV: {"schema": {"type": "string"}}},
        }
    }
    out.update(responses(*statuses))
    return out


def _wants_csv(request: Request) -> bool:
    return CSV in request.headers.get("accept", "").lower()


# Answers are built from plain str/int/float/None already: JSONResponse skips re-encoding them.


def _csv(text: str, filename: str) -> Response:
    return Response(
        content=reports.with_bom(text),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


Since = Query(default=None, description="first day, inclusive (local date); default 1 January")
Until = Query(default=None, description="last day, inclusive (local date); default today")


@router.get("/interchange", response_model=InterchangeOut, responses=_answers(401, 403, 404, 422))
def interchange(
    request: Request,
    session: SessionDep,
    _: StatsPrincipal,
    since: date | None = Since,
    until: date | None = Until,
    granularity: Literal["day", "month", "quarter", "year"] = "month",
    organ_id: OrganIdQuery = None,
) -> Any:
    """Every counter of SPEC 9 per organization and period (periods in Asia/Ho_Chi_Minh)."""
    start, end = reports.default_range(since, until)
    items = reports.interchange(
        session, since=start, until=end, granularity=granularity, organ_id=organ_id
    )
    if _wants_csv(request):
        return _csv(reports.interchange_csv(items), f"interchange-{start}-{end}-{granularity}.csv")
    return JSONResponse(
        {
            "since": start.isoformat(),
            "until": end.isoformat(),
            "granularity": granularity,
            "items": items,
            "next_cursor": None,
        }
    )


@router.get("/inactive", response_model=InactiveOut, responses=_answers(401, 403, 422))
def inactive(
    request: Request,
    session: SessionDep,
    _: StatsPrincipal,
    since: date | None = Since,
    until: date | None = Until,
) -> Any:
    """Active local organizations with no document sent or received in the range."""
    start, end = reports.default_range(since, until)
    items = reports.inactive(session, since=start, until=end)
    if _wants_csv(request):
        return _csv(reports.inactive_csv(items), f"inactive-{start}-{end}.csv")
    return JSONResponse(
        {"since": start.isoformat(), "until": end.isoformat(), "items": items, "next_cursor": None}
    )


@router.get("/report", response_model=ReportOut, responses=_answers(401, 403, 422))
def report(
    request: Request,
    session: SessionDep,
    _: StatsPrincipal,
    year: int | None = Query(default=None, ge=2000, le=2200, description="default: this year"),
) -> Any:
    """The annual report's indicator set for the province, and the per-organization table."""
    year = year or reports.today_local().year
    data = reports.report(session, year)
    if _wants_csv(request):
        return _csv(reports.report_csv(data), f"report-{year}.csv")
    return JSONResponse(data)
