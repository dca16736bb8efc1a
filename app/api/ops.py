"""Operations endpoints: liveness, readiness, Prometheus metrics (no auth)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.readiness import run_checks
from app.api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"description": "something is not ready", "model": Readiness}},
)
def readyz(request: Request) -> JSONResponse:
    results = run_checks(request.app)
    failing = [name for name, r in results.items() if not r["ok"]]
    body: dict[str, Any] = {"ready": not failing, "checks": results}
    if failing:
        body["failing"] = failing
        body["detail"] = "not ready: " + ", ".join(failing)
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
