"""The statistics dashboard: a static page whose script calls the stats API with a Bearer key.

The shell itself carries no data and needs no authentication (the key is typed into it and
kept in sessionStorage). A strict Content-Security-Policy allows only this origin's script,
style and API, and no form submission, so the key can never end up in a URL.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Response

from app.core.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard-pdf.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=8)
def _asset(name: str) -> bytes:
    return resources.files("app.stats").joinpath("static", name).read_bytes()


@router.get("/dashboard")
def dashboard_page() -> Response:
    return Response(
        _asset("dashboard.html"), media_type="text/html; charset=utf-8", headers=HEADERS
    )


@router.get("/dashboard/{name}")
def dashboard_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("no such dashboard file")
    return Response(_asset(name), media_type=media_type, headers=HEADERS)
