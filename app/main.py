"""The ASGI application: routers, error mapping, request ids, metrics, logs."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.routing import Match

from app.api import audit, clients, ops, organizations
from app.api.problems import install_handlers
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.logging import configure_logging, request_id_var
from app.core.metrics import Metrics

log = logging.getLogger("app.http")

API_PREFIX = "/api/v1"


def _route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return "unmatched"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Lienthong",
        version="0.1.0",
        description="Provincial document-interchange hub (edXML, QCVN 102:2016)",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.metrics = Metrics()
    install_handlers(app)

    app.include_router(ops.router)
    for router in (organizations.router, clients.router, audit.router):
        app.include_router(router, prefix=API_PREFIX)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        elapsed = time.perf_counter() - started
        route = _route_template(request)
        metrics: Metrics = request.app.state.metrics
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        response.headers["x-request-id"] = rid
        principal = getattr(request.state, "principal", None)
        token = request_id_var.set(rid)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.url.path,
                "route": route,
                "status": response.status_code,
                "ms": round(elapsed * 1000, 2),
                "client_id": getattr(principal, "client_id", None),
            },
        )
        request_id_var.reset(token)
        return response

    return app
