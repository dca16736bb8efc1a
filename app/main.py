"""The ASGI application: routers, error mapping, request ids, metrics, logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import CapacityLimiter
from fastapi import FastAPI

from app.api import (
    audit,
    clients,
    dashboard,
    deliveries,
    docs,
    documents,
    edxml,
    inbox,
    openapi,
    ops,
    organizations,
    pki,
    stats,
)
from app.api.gate import Gate, RateLimiter
from app.api.observe import Observe
from app.api.problems import install_handlers
from app.clients.service import PrincipalCache
from app.core import sequencer
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.files import secure_storage
from app.core.logging import configure_logging
from app.hooks import install_session_hooks
from app.hub import Hub

log = logging.getLogger("app.http")

API_PREFIX = "/api/v1"


API_ROUTERS = (
    organizations.router,
    clients.router,
    documents.router,
    inbox.router,
    deliveries.router,
    edxml.router,
    audit.router,
    stats.router,
)
OTHER_ROUTERS = (ops.router, pki.router, dashboard.router, docs.router)
#: The order requests are matched in: FastAPI tries the routes of each included router in turn
#: (about 40 µs for `POST /api/v1/documents` behind all the others, 3 µs first), so the hot
#: routes come first. No two routers share a path; the OpenAPI document keeps the order above.
MATCH_ORDER = (
    documents.router,
    inbox.router,
    deliveries.router,
    *(r for r in API_ROUTERS if r not in (documents.router, inbox.router, deliveries.router)),
    *OTHER_ROUTERS,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    secure_storage(settings)  # before the engine: a new SQLite database is created 0600
    engine = make_engine(settings.database_url)
    sequencer.in_background(engine)  # requests do not wait for the audit chain's settle

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.worker_enabled:
            from app.worker import Worker, make_axis, start_in_thread

            hub = app.state.hub
            worker = Worker(hub, app.state.sessionmaker, axis=make_axis(hub))
            thread = start_in_thread(worker)
        yield
        if worker is not None:
            worker.stop()
            thread.join(timeout=30)
        sequencer.stop(engine)  # a final settle of what the last requests committed
        engine.dispose()

    app = FastAPI(
        title="Lienthong",
        version="0.1.0",
        description="Provincial document-interchange hub (edXML, QCVN 102:2016)",
        lifespan=lifespan,
        docs_url=None,  # app/api/docs.py serves /docs and /redoc with their assets (offline)
        redoc_url=None,
    )
    app.state.settings = settings
    # at most this many submissions of the process on worker threads at once (`commits_in_handler`)
    app.state.submission_slots = CapacityLimiter(settings.submission_threads)
    app.state.engine = engine
    app.state.sessionmaker = install_session_hooks(make_sessionmaker(engine))
    app.state.hub = Hub.from_settings(settings)
    app.state.metrics = app.state.hub.metrics
    app.state.principals = PrincipalCache(settings.auth_cache_seconds)
    install_handlers(app)
    openapi.install(app, secured_prefix=API_PREFIX, order=(*OTHER_ROUTERS, *API_ROUTERS))

    for router in MATCH_ORDER:
        app.include_router(router, prefix=API_PREFIX if router in API_ROUTERS else "")

    # Before `Observe` is added, so that Observe wraps it and logs its refusals too.
    app.add_middleware(
        Gate,
        prefix=API_PREFIX,
        sessions=lambda: app.state.sessionmaker,
        limiter=RateLimiter(settings.rate_limit_per_minute),
        principals=app.state.principals,
    )

    app.add_middleware(Observe, metrics=app.state.metrics, api_prefix=API_PREFIX)

    return app
