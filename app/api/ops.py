"""Operations endpoints: liveness, readiness, Prometheus metrics (no auth)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from app.api.readiness import run_checks
from app.core.db import read_first
from app.documents.repository import held_count

log = logging.getLogger("app.api")

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "something is not ready"}})
def readyz(request: Request) -> JSONResponse:
    results = run_checks(request.app)
    failing = [name for name, r in results.items() if not r["ok"]]
    body: dict[str, Any] = {"ready": not failing, "checks": results}
    if failing:
        body["failing"] = failing
        body["detail"] = "not ready: " + ", ".join(failing)
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    _sample_held(request)
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


def _sample_held(request: Request) -> None:
    """The held-documents gauge, read at scrape time (one indexed COUNT). A database that does
    not answer leaves the last value: the other metrics are served all the same, and /readyz
    names the database."""
    try:
        with request.app.state.sessionmaker() as session:
            read_first(session)
            request.app.state.metrics.held_documents.set(held_count(session))
    except SQLAlchemyError as exc:
        log.warning("held documents not counted", extra={"error": type(exc).__name__})
