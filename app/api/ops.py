"""Operations endpoints: liveness, readiness, Prometheus metrics (no auth)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import SessionDep
from app.api.readiness import run_checks
from app.core.metrics import Metrics
from app.core.timeutil import utcnow
from app.documents.repository import operations_gauges

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
def metrics(request: Request, session: SessionDep) -> Response:
    m: Metrics = request.app.state.metrics
    gauges = operations_gauges(session)
    m.quarantined.set(gauges.quarantined)
    for route in ("local", "vpcp"):
        m.dead.labels(route).set(gauges.dead_by_route.get(route, 0))
    m.unacknowledged.set(gauges.unacknowledged)
    oldest = gauges.oldest_unacknowledged
    m.oldest_unacknowledged.set((utcnow() - oldest).total_seconds() if oldest else 0)
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
